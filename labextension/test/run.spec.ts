import { finishRun, runSummary, splitHint, startRun, upstreamOrder, withBundle } from '../src/run';
import { IGraph } from '../src/tokens';

const graph: IGraph = {
  version: 1,
  minor: 1,
  notebook: 'nb.ipynb',
  parameters: {},
  stages: ['load', 'clean', 'big', 'report', 'other'].map((name, i) => ({
    name,
    cell: 2 * i + 1,
    inputs: [],
    outputs: [],
    file_inputs: [],
    file_outputs: [],
    params: [],
    status: 'never-run'
  })),
  edges: [
    { source: 'load', target: 'clean', names: ['raw'] },
    { source: 'clean', target: 'big', names: ['sales'] },
    { source: 'big', target: 'report', names: ['big'] },
    { source: 'load', target: 'other', names: ['raw'] }
  ],
  order: ['load', 'clean', 'other', 'big', 'report'],
  diagnostics: []
};

describe('run to here', () => {
  it('covers the target and its upstream, in the graph order', () => {
    expect(upstreamOrder(graph, 'report')).toEqual(['load', 'clean', 'big', 'report']);
  });

  it('names the stage that failed, not the target', () => {
    let report = startRun(graph, 'report');
    report = withBundle(report, { stage: 'load', key: 'k', status: 'ran', seconds: 0.5 });
    report = withBundle(report, { stage: 'clean', key: '', status: 'failed' });
    const done = finishRun(report, graph, 1.5, null, 'UsageError: NBP201: bad\n  hint: work on a copy\n');
    expect(done.failure).toMatchObject({ stage: 'clean', cell: 3, error: 'NBP201: bad', hint: 'work on a copy' });
    expect(runSummary(done)).toBe('clean failed: 2 stages (1 ran, 1 failed) in 1.50 s');
  });

  it('blames the first unfinished stage for a Python error, with its plain traceback', () => {
    let report = startRun(graph, 'report');
    report = withBundle(report, { stage: 'load', key: 'k', status: 'cached', seconds: 0 });
    const error = {
      ename: 'NameError',
      evalue: "name 'x' is not defined",
      traceback: ['\u001b[31mNameError\u001b[0m']
    };
    const done = finishRun(report, graph, 2, error);
    expect(done.failure).toMatchObject({ stage: 'clean', error: "NameError: name 'x' is not defined" });
    expect(done.failure?.traceback).toBe('NameError');
  });

  it('sums up a successful run', () => {
    let report = startRun(graph, 'clean');
    report = withBundle(report, { stage: 'load', key: 'k', status: 'cached', seconds: 0 });
    report = withBundle(report, { stage: 'clean', key: 'k', status: 'ran', seconds: 1 });
    expect(runSummary(finishRun(report, graph, 1.25, null))).toBe('clean done: 2 stages (1 cached, 1 ran) in 1.25 s');
  });

  it('splits nbpipe hints from messages', () => {
    expect(splitHint('bad thing\n  hint: fix it')).toEqual({ message: 'bad thing', hint: 'fix it' });
    expect(splitHint('plain')).toEqual({ message: 'plain', hint: '' });
  });
});
