import { highlight, lineage, matches } from '../src/highlight';
import { IGraph } from '../src/tokens';

const stage = (name: string) => ({
  name,
  cell: 0,
  inputs: [],
  outputs: [],
  file_inputs: [],
  file_outputs: [],
  params: [],
  status: 'fresh' as const
});

// load -> clean -> train -> report, load -> report (a skip edge), other alone
const graph: IGraph = {
  version: 1,
  notebook: 'nb.ipynb',
  parameters: {},
  stages: ['load', 'clean', 'train', 'report', 'other'].map(stage),
  edges: [
    { source: 'load', target: 'clean', names: ['raw'] },
    { source: 'clean', target: 'train', names: ['xs'] },
    { source: 'train', target: 'report', names: ['model'] },
    { source: 'load', target: 'report', names: ['raw'] }
  ],
  order: ['load', 'clean', 'train', 'report', 'other'],
  diagnostics: []
};

describe('highlight', () => {
  it('finds upstream and downstream stages transitively', () => {
    const { up, down } = lineage(graph, 'clean');
    expect([...up]).toEqual(['load']);
    expect([...down].sort()).toEqual(['report', 'train']);
  });

  it('matches names ignoring case; a blank query matches nothing', () => {
    expect(matches(graph, 'R')).toEqual(['train', 'report', 'other']);
    expect(matches(graph, '  ')).toEqual([]);
  });

  it('marks the lineage of the selected stage and dims the rest', () => {
    const h = highlight(graph, 'clean', '');
    expect(h.nodes.get('stage:load')).toBe('jp-nbpipe-upstream');
    expect(h.nodes.get('stage:train')).toBe('jp-nbpipe-downstream');
    expect(h.nodes.get('stage:clean')).toBeUndefined();
    expect(h.nodes.get('stage:other')).toBe('jp-nbpipe-dimmed');
    expect(h.edges.get('edge:load->clean')).toBe('jp-nbpipe-lineage');
    expect(h.edges.get('edge:train->report')).toBe('jp-nbpipe-lineage');
    expect(h.edges.get('edge:load->report')).toBe('jp-nbpipe-dimmed'); // bypasses the selected stage
  });

  it('marks search matches and dims the other stages', () => {
    const h = highlight(graph, null, 'rep');
    expect(h.nodes.get('stage:report')).toBe('jp-nbpipe-match');
    expect(h.nodes.get('stage:load')).toBe('jp-nbpipe-dimmed');
  });

  it('adds nothing with no selection and no search', () => {
    expect(highlight(graph, null, '').nodes.size).toBe(0);
  });
});
