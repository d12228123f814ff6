/**
 * Upstream notebooks (graph JSON 1.2 `upstream`): one collapsed node per notebook read
 * through `--in NAME@NOTEBOOK`, with edges labelled with the variables to the reading stages.
 */
import { buildFlow, graphElements, nodeId, worstStatus } from '../src/model';
import { notebookTitle } from '../src/components/nodes';
import { IGraph, IUpstream } from '../src/tokens';

function stage(name: string, cell: number, inputs: string[], outputs: string[]): IGraph['stages'][number] {
  return { name, cell, inputs, outputs, file_inputs: [], file_outputs: [], params: [], status: 'never-run' };
}

/** train.ipynb of the forecast example, as the server describes it. */
function trainGraph(upstream?: IUpstream[]): IGraph {
  return {
    version: 1,
    minor: 2,
    notebook: 'forecast/train.ipynb',
    parameters: {},
    stages: [stage('train', 4, ['table'], ['weights']), stage('report', 5, ['weights', 'table'], ['metrics'])],
    edges: [{ source: 'train', target: 'report', names: ['weights'] }],
    order: ['train', 'report'],
    diagnostics: [],
    upstream
  };
}

const FEATURES: IUpstream = {
  notebook: 'features.py',
  path: 'forecast/features.py',
  stages: [
    { name: 'daily', status: 'fresh', reason: 'up to date (in the cache)', outputs: ['daily'] },
    { name: 'features', status: 'stale', reason: 'code changed (line 2)', outputs: ['table'] }
  ],
  edges: [
    { source: 'features', target: 'train', names: ['table'] },
    { source: 'features', target: 'report', names: ['table'] }
  ]
};

describe('upstream notebook groups', () => {
  it('draws each upstream notebook as one node with its stage count and worst status', () => {
    const { nodes } = graphElements(trainGraph([FEATURES]));
    const group = nodes.filter(n => n.type === 'notebook');
    expect(group).toHaveLength(1);
    expect(group[0].id).toBe(nodeId.notebook('features.py'));
    expect(group[0].data).toMatchObject({
      kind: 'notebook',
      label: 'features.py',
      count: 2,
      status: 'stale',
      reason: 'code changed (line 2)',
      path: 'forecast/features.py',
      cell: null
    });
    expect(notebookTitle(group[0].data)).toBe(
      'features.py: 2 stages read by this notebook, worst stale (code changed (line 2)) — click to open it'
    );
  });

  it('links the group to each reading stage, labelled with the variables it carries', () => {
    const { edges } = graphElements(trainGraph([FEATURES]));
    const fromGroup = edges.filter(e => e.source === nodeId.notebook('features.py'));
    expect(fromGroup.map(e => [e.target, e.label])).toEqual([
      [nodeId.stage('train'), 'table'],
      [nodeId.stage('report'), 'table']
    ]);
  });

  it('merges the edges of several upstream stages into one edge per reading stage', () => {
    const two: IUpstream = {
      ...FEATURES,
      edges: [
        { source: 'daily', target: 'train', names: ['daily'] },
        { source: 'features', target: 'train', names: ['table'] },
        { source: 'features', target: 'gone', names: ['table'] }
      ]
    };
    const { edges } = graphElements(trainGraph([two]));
    expect(edges.filter(e => e.source === nodeId.notebook('features.py')).map(e => [e.target, e.label])).toEqual([
      [nodeId.stage('train'), 'daily, table']
    ]);
  });

  it('keeps a notebook outside the root without a path, and a graph without upstream unchanged', () => {
    const { nodes } = graphElements(trainGraph([{ ...FEATURES, path: null }]));
    const group = nodes.find(n => n.type === 'notebook')!;
    expect(group.data.path).toBeNull();
    expect(notebookTitle(group.data)).toContain('outside the Jupyter root or hidden');
    expect(graphElements(trainGraph()).nodes.map(n => n.id)).toEqual([nodeId.stage('train'), nodeId.stage('report')]);
  });

  it('places the group before the stages it feeds in both layouts', () => {
    for (const direction of ['LR', 'TB'] as const) {
      const { nodes } = buildFlow(trainGraph([FEATURES]), direction);
      const at = new Map(nodes.map(n => [n.id, n]));
      const group = at.get(nodeId.notebook('features.py'))!;
      const train = at.get(nodeId.stage('train'))!;
      const overlap =
        group.position.x < train.position.x + train.width &&
        train.position.x < group.position.x + group.width &&
        group.position.y < train.position.y + train.height &&
        train.position.y < group.position.y + group.height;
      expect(overlap).toBe(false);
      if (direction === 'LR') {
        expect(group.position.x + group.width).toBeLessThanOrEqual(train.position.x);
      } else {
        // the narrow panel: the group stands in the column, a row above its readers
        expect(group.position.y + group.height).toBeLessThanOrEqual(train.position.y);
      }
    }
  });

  it('gives the edges out of the group a place for their label in both layouts', () => {
    for (const direction of ['LR', 'TB'] as const) {
      const { edges } = buildFlow(trainGraph([FEATURES]), direction);
      const out = edges.filter(e => e.source === nodeId.notebook('features.py'));
      expect(out).toHaveLength(2);
      for (const e of out) {
        expect(e.label).toBe('table');
        expect(typeof e.data?.labelX).toBe('number');
      }
    }
  });

  it('takes the worst status of a group', () => {
    expect(worstStatus([{ status: 'fresh' }, { status: 'failed' }, { status: 'stale' }])).toBe('failed');
    expect(worstStatus([{ status: 'fresh' }])).toBe('fresh');
    expect(worstStatus([])).toBe('unknown');
  });
});
