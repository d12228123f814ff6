/**
 * The narrow-panel layout: stages in one centred column (a row per layer), edges that
 * skip layers routed in lanes down the right-hand side, and parameters and files as
 * small chips beside the first stage that touches them (left-hand side by default).
 * Edges from a chip to later readers run down the chip's side, never across the column.
 * A layer wider than the sidebar (a fan-out of many parallel stages) wraps into a grid of
 * compact cells, its edges bundled along the lines between the grid's columns.
 */
import type { IEdgeRoute, IFlowEdge, IFlowNode } from './model';
import { labelBox } from './model';

/** Vertical room between two rows of stages: two edge labels fit one above the other. */
const ROW_GAP = 44;
/** Horizontal room between two stages of one row. */
const COL_GAP = 12;
/** Distance between parallel lanes (and from the column to the first lane). */
const LANE_GAP = 10;
/** Room between a chip and its neighbour, and between stacked chips. */
const CHIP_GAP = 6;
const STACK_GAP = 4;

type Box = { x: number; y: number; w: number; h: number };
type Point = { x: number; y: number };
type Side = 'left' | 'right';

const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** Layer of each stage: the longest dependency path that leads to it (notebook order breaks ties). */
function ranks(stages: IFlowNode[], edges: IFlowEdge[]): Map<string, number> {
  const rank = new Map(stages.map(s => [s.id, 0]));
  for (let pass = 0; pass < stages.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const next = (rank.get(e.source) ?? 0) + 1;
      if (next > (rank.get(e.target) ?? 0) && next < stages.length) {
        rank.set(e.target, next);
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
  }
  return rank;
}

/** Widest a layer may be, in graph pixels: the graph box of the 320 px sidebar at zoom 1. */
export const WRAP_WIDTH = 286;
/** Between two stages of a wrapped layer: room for two edge lines (one into each stage's side). */
const GRID_GAP = 14;
/** Left of a wrapped layer's first column and right of its last: room for one edge line. */
const GRID_MARGIN = 6;
/** A stage in a wrapped layer is a compact cell: its name and status (the reason is its tooltip). */
export const CELL_SIZE = { width: 82, height: 38 };
/** The radius of an edge's turns along the grid's lines. */
const TURN = 6;
/** Vertical room between the rows of a wrapped layer (no edge labels there). */
const GRID_ROW_GAP = 10;

/** The number of columns of a layer's grid: as many stages as fit in {@link WRAP_WIDTH}. */
export function gridColumns(row: IFlowNode[], wrapWidth = WRAP_WIDTH): number {
  const single = row.reduce((sum, n) => sum + n.width, 0) + COL_GAP * (row.length - 1);
  if (single <= wrapWidth) {
    return row.length;
  }
  const widest = Math.max(...row.map(n => compact(n).width));
  return Math.max(1, Math.floor((wrapWidth - 2 * GRID_MARGIN + GRID_GAP) / (widest + GRID_GAP)));
}

/** A stage as a cell of a wrapped layer (an upstream notebook group keeps its size). */
function compact(n: IFlowNode): IFlowNode {
  return n.type === 'stage' ? { ...n, ...CELL_SIZE, data: { ...n.data, compact: true } } : n;
}

/** A route with its right-angle turns eased: a point just before and just after each bend. */
function eased(points: Point[]): Point[] {
  const toward = (a: Point, b: Point): Point => {
    const d = Math.hypot(b.x - a.x, b.y - a.y);
    const f = d > 0 ? Math.min(TURN, d / 2) / d : 0;
    return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f };
  };
  return points.flatMap((p, i) =>
    i === 0 || i === points.length - 1 ? [p] : [toward(p, points[i - 1]), p, toward(p, points[i + 1])]
  );
}

/** Where a stage of a wrapped layer sits: its grid column's left and right edge lines. */
type Cell = { left: number; right: number };

/** Mutable state of one layout run: placed nodes, taken space and routes. */
class Placer {
  constructor(stages: IFlowNode[], stageEdges: IFlowEdge[]) {
    this.rank = ranks(stages, stageEdges);
    const rows = new Map<number, IFlowNode[]>();
    for (const s of stages) {
      const r = this.rank.get(s.id)!;
      rows.set(r, [...(rows.get(r) ?? []), s]);
    }
    let y = 0;
    for (const r of [...rows.keys()].sort((a, b) => a - b)) {
      const bottom = this.placeLayer(rows.get(r)!, y);
      this.layers.set(r, { top: y, bottom });
      y = bottom + ROW_GAP;
    }
  }

  /** Place one layer from `top` (a row, or a grid when it is too wide); returns its bottom. */
  private placeLayer(layer: IFlowNode[], top: number): number {
    const k = gridColumns(layer);
    const row = k >= layer.length ? layer : layer.map(compact);
    const height = Math.max(...row.map(n => n.height));
    if (k >= row.length) {
      const width = row.reduce((sum, n) => sum + n.width, 0) + COL_GAP * (row.length - 1);
      let x = -width / 2;
      for (const n of row) {
        this.put(n, { x, y: top });
        x += n.width + COL_GAP;
      }
      return top + height;
    }
    const cellW = Math.max(...row.map(n => n.width));
    const left = -(k * cellW + (k - 1) * GRID_GAP) / 2;
    row.forEach((n, i) => {
      const col = i % k;
      const x = left + col * (cellW + GRID_GAP);
      this.put(n, { x: x + (cellW - n.width) / 2, y: top + Math.floor(i / k) * (height + GRID_ROW_GAP) });
      this.cells.set(n.id, { left: x - GRID_GAP / 2 + 3, right: x + cellW + GRID_GAP / 2 - 3 });
    });
    const rowsOf = Math.ceil(row.length / k);
    return top + rowsOf * height + (rowsOf - 1) * GRID_ROW_GAP;
  }

  /** The top and bottom of each layer. */
  readonly layers = new Map<number, { top: number; bottom: number }>();
  /** Stages of wrapped layers: their grid column's edge lines. */
  readonly cells = new Map<string, Cell>();
  readonly rank: Map<string, number>;
  readonly pos = new Map<string, Point>();
  readonly nodes = new Map<string, IFlowNode>();
  readonly taken: Box[] = [];
  private column: Box[] = [];
  /** Rows crossed by a chip's line on each side (chips placed there would sit on it). */
  readonly busy: Record<Side, Set<number>> = { left: new Set(), right: new Set() };
  /** Rows where a chip's line enters a stage's side at mid-height (chips go below it). */
  readonly entered: Record<Side, Set<number>> = { left: new Set(), right: new Set() };
  private lanes: { from: number; to: number; level: number }[] = [];

  put(n: IFlowNode, p: Point): void {
    this.pos.set(n.id, p);
    this.nodes.set(n.id, n);
    this.taken.push(this.box(n.id));
    if (n.type === 'stage' || n.type === 'notebook') {
      this.column.push(this.box(n.id));
    }
  }

  /** The right edge of the stage column within the band [y, y + h). */
  columnEdge(y: number, h: number): number {
    return Math.max(0, ...this.column.filter(b => b.y < y + h && y < b.y + b.h).map(b => b.x + b.w));
  }

  box(id: string): Box {
    const p = this.pos.get(id)!;
    const n = this.nodes.get(id)!;
    return { x: p.x, y: p.y, w: n.width, h: n.height };
  }

  /** The x of the outermost thing taken on `side` within the band [y, y + h). */
  edgeOf(side: Side, y: number, h: number): number {
    const band = this.taken.filter(b => b.y < y + h && y < b.y + b.h);
    return side === 'left' ? Math.min(0, ...band.map(b => b.x)) : Math.max(0, ...band.map(b => b.x + b.w));
  }

  /** The first free place for a label of size w × h among centres `at`; else pushed outwards. */
  label(text: string, at: Point[], outwards = 1): Point {
    const { width: w, height: h } = labelBox(text);
    const boxAt = (p: Point): Box => ({ x: p.x - w / 2, y: p.y - h / 2, w, h });
    let found = at.find(p => !this.taken.some(b => overlaps(b, boxAt(p))));
    if (!found) {
      found = { ...at[0] };
      for (let i = 0; i < 40 && this.taken.some(b => overlaps(b, boxAt(found!))); i++) {
        found.x += outwards * LANE_GAP;
      }
    }
    this.taken.push(boxAt(found));
    return found;
  }

  /** The x of a new lane on the right over rows [from, to], beside everything already there. */
  lane(from: number, to: number, top: number, bottom: number): number {
    let level = 0;
    while (this.lanes.some(l => l.level === level && l.from < to && from < l.to)) {
      level++;
    }
    this.lanes.push({ from, to, level });
    const x = this.columnEdge(top, bottom - top) + LANE_GAP * (level + 1);
    this.taken.push({ x: x - 1, y: top, w: 2, h: bottom - top });
    return x;
  }
}

/** Route a stage-to-stage edge: straight to the next row, or down a lane when it skips rows. */
function routeStageEdge(e: IFlowEdge, pl: Placer, labelled: Set<string>): IFlowEdge {
  const s = pl.box(e.source);
  const t = pl.box(e.target);
  const span = pl.rank.get(e.target)! - pl.rank.get(e.source)!;
  const text = e.label ?? '';
  if (span === 1 && (pl.cells.has(e.source) || pl.cells.has(e.target))) {
    return routeGridEdge(e, pl, labelled.has(e.id) ? text : '');
  }
  if (span === 1) {
    const a = { x: s.x + s.w / 2, y: s.y + s.h };
    const b = { x: t.x + t.w / 2, y: t.y };
    const along = (f: number): Point => ({ x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f });
    const at = text ? pl.label(text, [0.5, 0.25, 0.75].map(along)) : null;
    return routed(e, [a, b], at);
  }
  const a = { x: s.x + s.w, y: s.y + s.h / 2 };
  const b = { x: t.x + t.w, y: t.y + t.h / 2 };
  const lo = Math.min(a.y, b.y);
  const hi = Math.max(a.y, b.y);
  const x = pl.lane(pl.rank.get(e.source)!, pl.rank.get(e.target)!, lo, hi);
  let at: Point | null = null;
  if (text) {
    const w = labelBox(text).width;
    const ys = [0.5, 0.3, 0.7, 0.15, 0.85].map(f => lo + (hi - lo) * f);
    at = pl.label(
      text,
      ys.map(y => ({ x: Math.max(x, pl.columnEdge(y - 8, 16) + 4 + w / 2), y }))
    );
  }
  return {
    ...routed(e, [a, { x, y: a.y }, { x, y: b.y }, b], at),
    sourceHandle: 'right-out',
    targetHandle: 'right-in'
  };
}

/**
 * Route an edge into or out of a wrapped layer along its grid's lines: out of a stage's
 * right side and down the line beside its column, across a bus between the layers, and
 * down the line left of the target's column into its left side. Edges of one bundle
 * share the lines, so a fan of 98 edges reads as a few trunks.
 */
function routeGridEdge(e: IFlowEdge, pl: Placer, text: string): IFlowEdge {
  const s = pl.box(e.source);
  const t = pl.box(e.target);
  const from = pl.cells.get(e.source);
  const to = pl.cells.get(e.target);
  const bus = from
    ? pl.layers.get(pl.rank.get(e.source)!)!.bottom + 12
    : pl.layers.get(pl.rank.get(e.target)!)!.top - 12;
  const sMid = s.y + s.h / 2;
  const tMid = t.y + t.h / 2;
  const start = from
    ? [
        { x: s.x + s.w, y: sMid },
        { x: from.right, y: sMid },
        { x: from.right, y: bus }
      ]
    : [
        { x: s.x + s.w / 2, y: s.y + s.h },
        { x: s.x + s.w / 2, y: bus }
      ];
  const end = to
    ? [
        { x: to.left, y: bus },
        { x: to.left, y: tMid },
        { x: t.x, y: tMid }
      ]
    : [
        { x: t.x + t.w / 2, y: bus },
        { x: t.x + t.w / 2, y: t.y }
      ];
  let at: Point | null = null;
  if (text && !(from && to)) {
    const trunk = from ? end : start; // the one line the whole bundle shares
    const y0 = from ? bus : trunk[0].y;
    const y1 = from ? t.y : bus;
    at = pl.label(
      text,
      [0.5, 0.3, 0.7].map(f => ({ x: trunk[0].x, y: y0 + (y1 - y0) * f }))
    );
  }
  return {
    ...routed(e, eased([...start, ...end]), at),
    ...(from ? { sourceHandle: 'right-out' } : {}),
    ...(to ? { targetHandle: 'left-in' } : {})
  };
}

/**
 * The edges into or out of wrapped layers that show their label: one per bundle (the
 * edges from one stage into a wrapped layer, or from a wrapped layer into one stage),
 * when the whole bundle carries the same variables; the others keep theirs as tooltip.
 */
function bundleLabels(edges: IFlowEdge[], pl: Placer): Set<string> {
  const bundles = new Map<string, IFlowEdge[]>();
  for (const e of edges) {
    const from = pl.cells.has(e.source);
    const to = pl.cells.has(e.target);
    if (from !== to) {
      const key = from ? `in:${e.target}:${pl.rank.get(e.source)}` : `out:${e.source}:${pl.rank.get(e.target)}`;
      bundles.set(key, [...(bundles.get(key) ?? []), e]);
    }
  }
  const shown = new Set<string>();
  for (const bundle of bundles.values()) {
    if (bundle.every(e => e.label === bundle[0].label)) {
      shown.add(bundle[0].id);
    }
  }
  return shown;
}

function routed(e: IFlowEdge, points: Point[], at: Point | null): IFlowEdge {
  const data: IEdgeRoute = { points, labelX: at?.x ?? null, labelY: at?.y ?? null };
  return { ...e, type: 'layered', data };
}

/** Stack the chips first touched by `stage` beside it, and route their edges. */
function placeChips(stage: IFlowNode, chips: IFlowNode[], aux: IFlowEdge[], pl: Placer): IFlowEdge[] {
  const s = pl.box(stage.id);
  const row = pl.rank.get(stage.id)!;
  const side: Side = pl.busy.left.has(row) && !pl.busy.right.has(row) ? 'right' : 'left';
  const height = chips.reduce((sum, c) => sum + c.height, 0) + STACK_GAP * (chips.length - 1);
  let y = pl.entered[side].has(row) ? s.y + s.h / 2 + STACK_GAP : s.y + s.h / 2 - height / 2;
  const inner = pl.edgeOf(side, y, height);
  const out: IFlowEdge[] = [];
  for (const c of chips) {
    const x = side === 'left' ? inner - CHIP_GAP - c.width : inner + CHIP_GAP;
    pl.put(c, { x, y });
    y += c.height + STACK_GAP;
  }
  const near = side === 'left' ? 'right' : 'left';
  for (const c of chips) {
    const cb = pl.box(c.id);
    const chipSide = { x: side === 'left' ? cb.x + cb.w : cb.x, y: cb.y + cb.h / 2 };
    for (const e of aux.filter(a => a.source === c.id || a.target === c.id)) {
      const other = pl.box(e.source === c.id ? e.target : e.source);
      const otherSide = { x: side === 'left' ? other.x : other.x + other.w, y: other.y + other.h / 2 };
      if (e.source === stage.id || e.target === stage.id) {
        const fromChip = e.source === c.id;
        out.push({
          ...routed(e, fromChip ? [chipSide, otherSide] : [otherSide, chipSide], null),
          sourceHandle: fromChip ? `${near}-out` : `${side}-out`,
          targetHandle: fromChip ? `${side}-in` : `${near}-in`
        });
        continue;
      }
      // A later reader (or writer): down the chip's own line, into the stage's side.
      const otherId = e.source === c.id ? e.target : e.source;
      const last = pl.rank.get(otherId) ?? row;
      for (let r = row + 1; r < last; r++) {
        pl.busy[side].add(r);
      }
      pl.entered[side].add(last);
      const down = { x: cb.x + cb.w / 2, y: cb.y + cb.h };
      const line = [down, { x: down.x, y: otherSide.y }, otherSide];
      out.push(
        e.source === c.id
          ? { ...routed(e, line, null), targetHandle: `${side}-in` }
          : { ...routed(e, line.reverse(), null), sourceHandle: `${side}-out` }
      );
    }
  }
  return out;
}

/**
 * Lay out nodes and edges for a narrow panel (see the module comment). `order` is the
 * stages' notebook order (node ids); the result is in graph pixels around x = 0.
 */
export function columnLayout(
  nodes: IFlowNode[],
  edges: IFlowEdge[],
  order: string[]
): { nodes: IFlowNode[]; edges: IFlowEdge[] } {
  const rankOf = new Map(order.map((id, i) => [id, i]));
  const stages = nodes
    .filter(n => n.type === 'stage' || n.type === 'notebook') // an upstream notebook group stands in the column
    .sort((a, b) => (rankOf.get(a.id) ?? 1e9) - (rankOf.get(b.id) ?? 1e9));
  const isStage = new Set(stages.map(s => s.id));
  const stageEdges = edges.filter(e => isStage.has(e.source) && isStage.has(e.target));
  const aux = edges.filter(e => !(isStage.has(e.source) && isStage.has(e.target)));
  const pl = new Placer(stages, stageEdges);
  const done = new Map<string, IFlowEdge>();
  const byRow = [...stageEdges].sort((a, b) => pl.rank.get(a.source)! - pl.rank.get(b.source)!);
  const adjacent = byRow.filter(e => pl.rank.get(e.target)! - pl.rank.get(e.source)! === 1);
  const labelled = bundleLabels(adjacent, pl);
  for (const e of adjacent) {
    done.set(e.id, routeStageEdge(e, pl, labelled));
  }
  for (const e of byRow.filter(e => !done.has(e.id))) {
    done.set(e.id, routeStageEdge(e, pl, labelled));
  }
  const byId = new Map(nodes.map(n => [n.id, n]));
  for (const stage of stages) {
    const touching = aux.filter(e => e.source === stage.id || e.target === stage.id);
    const uses = (c: IFlowNode): number => aux.filter(e => e.source === c.id || e.target === c.id).length;
    const chips = touching
      .map(e => byId.get(e.source === stage.id ? e.target : e.source)!)
      .filter((c, i, all) => !pl.pos.has(c.id) && all.indexOf(c) === i)
      .sort((a, b) => uses(a) - uses(b)); // chips with lines to later stages at the bottom of the stack
    if (chips.length) {
      const ids = new Set(chips.map(c => c.id));
      for (const e of placeChips(
        stage,
        chips,
        aux.filter(a => ids.has(a.source) || ids.has(a.target)),
        pl
      )) {
        done.set(e.id, e);
      }
    }
  }
  const placed = nodes.map(n => {
    const laid = pl.nodes.get(n.id) ?? n; // a wrapped layer's stages are compact cells
    return { ...laid, position: pl.pos.get(n.id) ?? { x: 0, y: 0 }, data: { ...laid.data, vertical: true } };
  });
  return { nodes: placed, edges: edges.map(e => done.get(e.id) ?? routed(e, [], null)) };
}
