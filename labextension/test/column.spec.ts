import { buildFlow, READABLE_ZOOM } from '../src/model';
import { gridColumns, WRAP_WIDTH } from '../src/column';
import { initialViewport } from '../src/viewport';
import { IGraph, IStage } from '../src/tokens';
import { irisGraph } from './fixtures';

type Spec = [name: string, inputs: string[], outputs: string[], params?: string[], files?: [string[], string[]]];

/** A graph like the server's for stages given as [name, inputs, outputs, params, [file ins, file outs]]. */
export function graphOf(specs: Spec[]): IGraph {
  const stages: IStage[] = specs.map(([name, inputs, outputs, params = [], files = [[], []]], cell) => ({
    name,
    cell,
    inputs,
    outputs,
    params,
    file_inputs: files[0],
    file_outputs: files[1],
    status: 'never-run'
  }));
  const producer = new Map(stages.flatMap(s => s.outputs.map(o => [o, s.name] as const)));
  const edges = new Map<string, { source: string; target: string; names: string[] }>();
  for (const s of stages) {
    for (const i of s.inputs) {
      const source = producer.get(i)!;
      const key = `${source}->${s.name}`;
      const e = edges.get(key) ?? { source, target: s.name, names: [] };
      e.names.push(i);
      edges.set(key, e);
    }
  }
  return { ...irisGraph(), stages, edges: [...edges.values()], order: stages.map(s => s.name), diagnostics: [] };
}

export const IRIS = graphOf([
  ['load', [], ['X', 'y']],
  ['split', ['X', 'y'], ['X_train', 'X_test', 'y_train', 'y_test'], ['seed', 'test_size']],
  ['scale', ['X_train', 'X_test'], ['X_train_s', 'X_test_s']],
  ['train', ['X_train_s', 'y_train'], ['model'], ['C', 'seed']],
  ['evaluate', ['model', 'X_test_s', 'y_test'], ['accuracy']]
]);

export const SALES = graphOf([
  ['load', [], ['raw'], [], [['data/sales.csv'], []]],
  ['clean', ['raw'], ['sales'], ['min_units']],
  ['by_region', ['sales'], ['region_totals']],
  ['by_month', ['sales'], ['monthly']],
  ['report', ['region_totals', 'monthly'], ['summary'], ['currency'], [[], ['output/report.csv']]]
]);

describe('column layout (narrow panel)', () => {
  it.each([
    ['iris', IRIS],
    ['sales', SALES]
  ])('%s: fits a 300 px panel at a readable zoom with the stages centred', (_, graph) => {
    const { nodes, edges } = buildFlow(graph, 'TB');
    const width = 302; // the graph box's client width at the sidebar's 320 px default
    const view = initialViewport(nodes, width, 460, 8, edges);
    expect(view.zoom).toBeGreaterThanOrEqual(READABLE_ZOOM);
    const screen = (x: number): number => view.x + x * view.zoom;
    for (const n of nodes) {
      expect(screen(n.position.x)).toBeGreaterThanOrEqual(0);
      expect(screen(n.position.x + n.width)).toBeLessThanOrEqual(width);
    }
    const stages = nodes.filter(n => n.type === 'stage');
    const left = Math.min(...stages.map(n => screen(n.position.x)));
    const right = Math.max(...stages.map(n => screen(n.position.x + n.width)));
    expect(Math.abs((left + right) / 2 - width / 2)).toBeLessThanOrEqual(4);
  });
});

describe('column layout routes', () => {
  it.each([
    ['iris', IRIS],
    ['sales', SALES]
  ])('%s: no parameter or file edge runs through a stage', (_, graph) => {
    const { nodes, edges } = buildFlow(graph, 'TB');
    const stages = nodes.filter(n => n.type === 'stage');
    const inside = (p: { x: number; y: number }): boolean =>
      stages.some(
        s => s.position.x < p.x && p.x < s.position.x + s.width && s.position.y < p.y && p.y < s.position.y + s.height
      );
    const aux = edges.filter(e => e.className === 'jp-nbpipe-edge-aux');
    expect(aux.length).toBeGreaterThan(0);
    for (const e of aux) {
      const points = e.data!.points;
      expect(points.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < points.length; i++) {
        for (let f = 0; f <= 1; f += 0.05) {
          const p = {
            x: points[i - 1].x + (points[i].x - points[i - 1].x) * f,
            y: points[i - 1].y + (points[i].y - points[i - 1].y) * f
          };
          expect(inside(p)).toBe(false);
        }
      }
    }
  });

  it('stacks the stages of a chain in one column, in notebook order', () => {
    const { nodes } = buildFlow(IRIS, 'TB');
    const stages = nodes.filter(n => n.type === 'stage');
    expect(new Set(stages.map(n => n.position.x)).size).toBe(1);
    const ys = IRIS.order.map(name => stages.find(n => n.id === `stage:${name}`)!.position.y);
    expect([...ys].sort((a, b) => a - b)).toEqual(ys);
    const chips = nodes.filter(n => n.type !== 'stage');
    expect(chips.every(c => c.position.x + c.width <= stages[0].position.x)).toBe(true); // chips beside, on the left
  });
});

describe('column layout wraps wide layers', () => {
  /** A fan-out/fan-in of `n` stages: source → n − 2 parallel parts → combine. */
  const fanGraph = (n: number) =>
    graphOf([
      ['source', [], ['base']],
      ...Array.from({ length: n - 2 }, (_, i): Spec => [`part${i}`, ['base'], [`p${i}`]]),
      ['combine', Array.from({ length: n - 2 }, (_, i) => `p${i}`), ['total']]
    ]);

  it.each([100, 500])('fan of %i: a grid within the wrap width, no overlaps, notebook order kept', n => {
    const { nodes, edges } = buildFlow(fanGraph(n), 'TB');
    const stages = nodes.filter(s => s.type === 'stage');
    expect(stages).toHaveLength(n);
    const parts = stages.filter(s => s.id.includes('part'));
    const left = Math.min(...parts.map(s => s.position.x));
    const right = Math.max(...parts.map(s => s.position.x + s.width));
    expect(right - left).toBeLessThanOrEqual(WRAP_WIDTH);
    const overlapping = stages.flatMap(a =>
      stages
        .filter(
          b =>
            a !== b &&
            a.position.x < b.position.x + b.width &&
            b.position.x < a.position.x + a.width &&
            a.position.y < b.position.y + b.height &&
            b.position.y < a.position.y + a.height
        )
        .map(b => `${a.id} × ${b.id}`)
    );
    expect(overlapping).toEqual([]);
    // Reading order: row by row, left to right, as in the notebook.
    const order = [...parts].sort((a, b) => a.position.y - b.position.y || a.position.x - b.position.x);
    expect(order.map(s => s.id)).toEqual(parts.map(s => s.id));
    // Between the source and combine, and every edge is routed along the grid's lines.
    const top = stages.find(s => s.id.endsWith('source'))!;
    const bottom = stages.find(s => s.id.endsWith('combine'))!;
    for (const p of parts) {
      expect(p.position.y).toBeGreaterThan(top.position.y + top.height);
      expect(p.position.y + p.height).toBeLessThan(bottom.position.y);
    }
    expect(edges.every(e => (e.data?.points.length ?? 0) >= 4)).toBe(true);
    // One label per bundle: 'base' once on the fan-out trunk.
    expect(edges.filter(e => e.data?.labelX !== null && e.label === 'base')).toHaveLength(1);
  });

  it('a layer that fits stays one row', () => {
    const { nodes } = buildFlow(SALES, 'TB');
    const ys = nodes.filter(n => n.id.includes('by_')).map(n => n.position.y);
    expect(new Set(ys).size).toBe(1);
  });

  it('as many columns as fit', () => {
    const stage = { type: 'stage', width: 112 } as Parameters<typeof gridColumns>[0][0];
    expect(gridColumns([stage, stage])).toBe(2); // fits as one row
    expect(gridColumns(Array(10).fill(stage))).toBe(3); // compact cells, three to the sidebar
    expect(gridColumns(Array(20).fill(stage), 1000)).toBe(10);
  });
});
