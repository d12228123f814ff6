import {
  EDGE_LABEL_CHARS,
  GRAPH_FONT_PX,
  MAX_FIT_ZOOM,
  MIN_LABEL_PX,
  READABLE_ZOOM,
  shortLabel,
  buildFlow,
  chipText,
  directionFor,
  diagnosticsByStage,
  graphElements,
  nodeId,
  PipelineModel,
  stageAtCell,
  stageStatus,
  summary
} from '../src/model';
import { initialViewport } from '../src/viewport';
import { IGraph, StageStatus } from '../src/tokens';
import { irisGraph } from './fixtures';

describe('graphElements', () => {
  it('makes one node per stage, parameter and file, and one edge per dependency', () => {
    const { nodes, edges } = graphElements(irisGraph());
    const ids = nodes.map(n => n.id).sort();
    expect(ids).toEqual(
      [
        'file:data/iris.csv',
        'file:model.pkl',
        'param:C',
        'param:test_size',
        'stage:load',
        'stage:split',
        'stage:train'
      ].sort()
    );
    const stageEdges = edges.filter(e => e.className === 'jp-nbpipe-edge');
    expect(stageEdges.map(e => [e.source, e.target, e.label])).toEqual([
      ['stage:load', 'stage:split', 'raw'],
      ['stage:split', 'stage:train', 'X, y']
    ]);
    expect(edges.find(e => e.source === nodeId.stage('train'))?.target).toBe('file:model.pkl');
  });

  it('carries status, cell and diagnostic counts on stage nodes', () => {
    const train = graphElements(irisGraph()).nodes.find(n => n.id === 'stage:train')!;
    expect(train.data).toMatchObject({ kind: 'stage', cell: 5, status: 'never-run', errors: 1, warnings: 0 });
  });

  it('carries the reason of the status (graph JSON 1.1), empty when the server gives none', () => {
    const graph = irisGraph();
    graph.stages[2] = { ...graph.stages[2], status: 'stale', reason: "parameter 'C' 1.0 → 0.5" };
    const byId = new Map(graphElements(graph).nodes.map(n => [n.id, n]));
    expect(byId.get('stage:train')!.data.reason).toBe("parameter 'C' 1.0 → 0.5");
    expect(byId.get('stage:load')!.data.reason).toBe('');
  });

  it('shares a file node between its writer and its readers', () => {
    const graph = irisGraph();
    graph.stages[1].file_inputs = ['data/iris.csv'];
    const { nodes } = graphElements(graph);
    expect(nodes.filter(n => n.id === 'file:data/iris.csv')).toHaveLength(1);
  });
});

describe('layout', () => {
  it('places stages left to right in dependency order without overlap', () => {
    const { nodes } = buildFlow(irisGraph());
    const x = (id: string): number => nodes.find(n => n.id === id)!.position.x;
    expect(x('stage:load')).toBeLessThan(x('stage:split'));
    expect(x('stage:split')).toBeLessThan(x('stage:train'));
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) {
          continue;
        }
        const apart =
          a.position.x + a.width <= b.position.x ||
          b.position.x + b.width <= a.position.x ||
          a.position.y + a.height <= b.position.y ||
          b.position.y + b.height <= a.position.y;
        expect(apart).toBe(true);
      }
    }
  });

  it('goes top to bottom in a narrow panel, with handles to match', () => {
    expect(directionFor(300)).toBe('TB');
    expect(directionFor(900)).toBe('LR');
    const { nodes } = buildFlow(irisGraph(), 'TB');
    const y = (id: string): number => nodes.find(n => n.id === id)!.position.y;
    expect(y('stage:load')).toBeLessThan(y('stage:split'));
    expect(y('stage:split')).toBeLessThan(y('stage:train'));
    expect(nodes.every(n => n.data.vertical)).toBe(true);
  });

  it('reserves room for edge labels: no label overlaps a node or another label', () => {
    for (const direction of ['LR', 'TB'] as const) {
      const { nodes, edges } = buildFlow(irisGraph(), direction);
      type Box = { x: number; y: number; w: number; h: number };
      const boxes: Box[] = nodes.map(n => ({ x: n.position.x, y: n.position.y, w: n.width, h: n.height }));
      const labels: Box[] = edges
        .filter(e => e.label)
        .map(e => {
          expect(e.type).toBe('layered');
          const w = shortLabel(e.label!).length * 6; // the 11 px UI font is at most ~6.6 px a character
          return { x: e.data!.labelX! - w / 2, y: e.data!.labelY! - 6, w, h: 12 };
        });
      expect(labels.length).toBeGreaterThan(0);
      const overlap = (a: Box, b: Box): boolean =>
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      labels.forEach((label, i) => {
        expect(boxes.some(b => overlap(label, b))).toBe(false);
        expect(labels.some((other, j) => j !== i && overlap(label, other))).toBe(false);
      });
    }
  });

  it('shortens long edge labels', () => {
    expect(shortLabel('a, b')).toBe('a, b');
    const long = shortLabel('alpha, beta, gamma, delta, epsilon');
    expect(long.length).toBe(EDGE_LABEL_CHARS);
    expect(long.endsWith('…')).toBe(true);
  });

  it('starts at a readable zoom: whole small graphs, the start of tall ones', () => {
    const { nodes } = buildFlow(irisGraph(), 'TB');
    const roomy = initialViewport(nodes, 2000, 2000);
    expect(roomy.zoom).toBe(MAX_FIT_ZOOM);
    const narrow = initialViewport(nodes, 300, 200);
    expect(narrow.zoom).toBe(READABLE_ZOOM);
    expect(narrow.zoom * GRAPH_FONT_PX).toBeGreaterThanOrEqual(MIN_LABEL_PX);
    const top = Math.min(...nodes.map(n => n.position.y));
    expect(narrow.y + top * narrow.zoom).toBe(8); // the first layer is at the top edge, not cut off
    const tall = chain(40);
    const view = initialViewport(buildFlow(tall, 'TB').nodes, 300, 400);
    expect(view.zoom).toBe(READABLE_ZOOM);
    expect(initialViewport([], 300, 400)).toEqual({ x: 0, y: 0, zoom: 1 });
  });

  it('lays out 100 stages quickly', () => {
    const graph = chain(100);
    const started = performance.now();
    const { nodes } = buildFlow(graph);
    expect(nodes).toHaveLength(100);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('status and text helpers', () => {
  it('maps unknown statuses to unknown', () => {
    expect(stageStatus({ status: 'fresh' })).toBe('fresh');
    expect(stageStatus({ status: 'bogus' as StageStatus })).toBe('unknown');
  });

  it('counts diagnostics per stage, ignoring notebook-level ones', () => {
    const counts = diagnosticsByStage(irisGraph().diagnostics);
    expect(counts.get('train')).toEqual({ errors: 1, warnings: 0 });
    expect(counts.get('split')).toEqual({ errors: 0, warnings: 1 });
    expect(counts.size).toBe(2);
  });

  it('summarises diagnostics', () => {
    expect(summary(irisGraph())).toBe('1 error, 2 warnings');
    expect(summary({ ...irisGraph(), diagnostics: [] })).toBe('3 stages, no problems');
  });

  it('formats the status chip', () => {
    expect(chipText({ stage: 'train', status: 'cached', seconds: 1.234, key: 'abcdef0123456789' })).toBe(
      'train · cached · 1.23 s · abcdef01'
    );
    expect(chipText({ stage: 'load', status: 'ran', key: '' })).toBe('load · ran');
  });

  it('finds the stage of a cell', () => {
    expect(stageAtCell(irisGraph(), 3)).toBe('split');
    expect(stageAtCell(irisGraph(), 4)).toBeNull();
    expect(stageAtCell(null, 3)).toBeNull();
  });
});

describe('PipelineModel', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('debounces edits into one request carrying the unsaved content', async () => {
    const calls: unknown[][] = [];
    const model = new PipelineModel({
      analyze: async (path, content) => {
        calls.push([path, content]);
        return irisGraph();
      },
      delay: 300
    });
    let content = { v: 0 };
    await model.setSource({ path: 'nb.ipynb', content: () => content });
    expect(calls).toHaveLength(1);
    for (let i = 1; i <= 5; i++) {
      content = { v: i };
      model.schedule();
      jest.advanceTimersByTime(100);
    }
    expect(calls).toHaveLength(1);
    jest.advanceTimersByTime(300);
    await Promise.resolve();
    expect(calls).toEqual([
      ['nb.ipynb', { v: 0 }],
      ['nb.ipynb', { v: 5 }]
    ]);
  });

  it('drops a reply that arrives after a newer request', async () => {
    const pending: Array<(g: IGraph) => void> = [];
    const model = new PipelineModel({ analyze: () => new Promise(resolve => pending.push(resolve)) });
    const first = model.setSource({ path: 'a.ipynb', content: () => null });
    const second = model.refresh();
    const newer = irisGraph();
    pending[1](newer);
    await second;
    pending[0]({ ...irisGraph(), stages: [] });
    await first;
    expect(model.state.graph).toBe(newer);
    expect(model.state.loading).toBe(false);
  });

  it('keeps the server message and hint on failure', async () => {
    const model = new PipelineModel({
      analyze: () => Promise.reject(Object.assign(new Error('not a notebook'), { hint: 'pass an .ipynb' }))
    });
    const seen: boolean[] = [];
    model.changed.connect(() => seen.push(model.state.loading));
    await model.setSource({ path: 'x.ipynb', content: () => null });
    expect(model.state.error).toEqual({ message: 'not a notebook', hint: 'pass an .ipynb' });
    expect(seen[seen.length - 1]).toBe(false);
  });

  it('clears the state when no notebook is active', async () => {
    const model = new PipelineModel({ analyze: async () => irisGraph() });
    await model.setSource({ path: 'a.ipynb', content: () => null });
    await model.setSource(null);
    expect(model.state).toEqual({ path: null, graph: null, error: null, loading: false });
  });
});

function chain(n: number): IGraph {
  const names = Array.from({ length: n }, (_, i) => `s${i}`);
  return {
    ...irisGraph(),
    stages: names.map((name, i) => ({
      name,
      cell: i,
      inputs: i ? [`v${i - 1}`] : [],
      outputs: [`v${i}`],
      file_inputs: [],
      file_outputs: [],
      params: [],
      status: 'fresh'
    })),
    edges: names.slice(1).map((name, i) => ({ source: names[i], target: name, names: [`v${i}`] })),
    order: names,
    diagnostics: []
  };
}
