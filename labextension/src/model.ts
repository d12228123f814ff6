/**
 * The sidebar's model: graph JSON v1 → laid-out React Flow nodes and edges, status
 * and diagnostic mapping, and a debounced, race-free refresh of the analysis.
 * Free of JupyterLab widgets so that it can be unit tested on its own.
 */
import dagre from '@dagrejs/dagre';
import { ISignal, Signal } from '@lumino/signaling';

import { columnLayout } from './column';

import { IDiagnostic, IGraph, IStage, IStageBundle, IUpstream, StageStatus } from './tokens';

/** Kinds of graph node drawn by the sidebar (`notebook`: a collapsed group of another notebook's stages). */
export type NodeKind = 'stage' | 'param' | 'file' | 'notebook';

/** Data carried by each drawn node. */
export interface INodeData extends Record<string, unknown> {
  kind: NodeKind;
  label: string;
  /** Cell to jump to on click (stages only). */
  cell: number | null;
  status: StageStatus | null;
  /** Why the stage has its status (stages only; empty when the server does not say). */
  reason: string;
  errors: number;
  warnings: number;
  /** Edges run top to bottom (narrow panel) instead of left to right. */
  vertical: boolean;
  /** A cell of a wrapped layer in the narrow layout: name and status only (see column.ts). */
  compact?: boolean;
  /** Upstream notebook groups: the server-relative path to open (null: not openable). */
  path?: string | null;
  /** Upstream notebook groups: how many of its stages this notebook reads (directly or not). */
  count?: number;
}

/** Layout direction: left to right, or top to bottom when the panel is narrow. */
export type Direction = 'LR' | 'TB';

/** Below this panel width (px) the graph is laid out top to bottom, to stay legible. */
export const VERTICAL_BELOW = 560;

/** A positioned node (the subset of React Flow's `Node` the sidebar fills in). */
export interface IFlowNode {
  id: string;
  type: NodeKind;
  position: { x: number; y: number };
  data: INodeData;
  width: number;
  height: number;
}

/** Where the layered layout routes an edge: its bend points and its label's centre. */
export interface IEdgeRoute extends Record<string, unknown> {
  points: { x: number; y: number }[];
  labelX: number | null;
  labelY: number | null;
}

/** A drawn edge (the subset of React Flow's `Edge` the sidebar fills in). */
export interface IFlowEdge {
  id: string;
  source: string;
  target: string;
  label?: string;
  className: string;
  /** `layered`: drawn along the layout's route (set by {@link layout}). */
  type?: 'layered';
  /** Handle ids when the edge leaves or enters a node by a side (narrow layout). */
  sourceHandle?: string;
  targetHandle?: string;
  data?: IEdgeRoute;
}

/** Smallest font size used inside the graph (node labels, edge labels), in CSS pixels. */
export const GRAPH_FONT_PX = 11;

/** Labels must never be drawn smaller than this on screen, in pixels. */
export const MIN_LABEL_PX = 11;

/** The zoom below which the smallest graph label would be drawn under {@link MIN_LABEL_PX}. */
export const READABLE_ZOOM = MIN_LABEL_PX / GRAPH_FONT_PX;

/** Largest zoom of the first view (small graphs are not blown up beyond this). */
export const MAX_FIT_ZOOM = 1.25;

/** Edge labels longer than this are shortened with an ellipsis (the full text is the tooltip). */
export const EDGE_LABEL_CHARS = 24;

/** Approximate width of one character of an edge label, in pixels (11 px UI font). */
const LABEL_CHAR_PX = 6.6;

/** Widest a stage node gets for a long name, in pixels. */
export const STAGE_MAX_WIDTH = 184;

/** Node sizes fed to the layered layout, in pixels. */
export const NODE_SIZE: Record<NodeKind, { width: number; height: number }> = {
  stage: { width: 112, height: 54 },
  param: { width: 96, height: 22 },
  file: { width: 96, height: 22 },
  notebook: { width: 160, height: 54 } // room for "12 stages · never run"
};

/**
 * The size of a node: stages have one size; parameters and files are as wide as
 * their label (within the {@link NODE_SIZE} width), so the layers stay narrow.
 */
export function nodeSize(kind: NodeKind, label: string): { width: number; height: number } {
  const size = NODE_SIZE[kind];
  if (kind === 'stage' || kind === 'notebook') {
    // As wide as the name (bold 12 px) up to a limit; the full name is the tooltip beyond it.
    return {
      width: Math.min(Math.max(STAGE_MAX_WIDTH, size.width), Math.max(size.width, Math.ceil(label.length * 7.4) + 26)),
      height: size.height
    };
  }
  const text = kind === 'file' ? fileName(label) : label;
  return {
    width: Math.min(size.width, Math.max(32, Math.ceil(text.length * LABEL_CHAR_PX) + 16)),
    height: size.height
  };
}

/** The name a file chip shows: the last part of its path (the full path is its tooltip). */
export function fileName(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? path;
}

/** Human label and CSS modifier of each stage status. */
export const STATUS_INFO: Record<StageStatus, { label: string; description: string }> = {
  fresh: { label: 'fresh', description: 'cached result matches the current code and inputs' },
  stale: { label: 'stale', description: 'code or inputs changed since the last run' },
  'never-run': { label: 'never run', description: 'no recorded run of this stage' },
  failed: { label: 'failed', description: 'the last run failed' },
  unknown: { label: 'unknown', description: 'status not known' }
};

/** The status of a stage, with anything unexpected mapped to "unknown". */
export function stageStatus(stage: Pick<IStage, 'status'>): StageStatus {
  return stage.status in STATUS_INFO ? stage.status : 'unknown';
}

/** Error and warning counts per stage name. */
export function diagnosticsByStage(diagnostics: IDiagnostic[]): Map<string, { errors: number; warnings: number }> {
  const counts = new Map<string, { errors: number; warnings: number }>();
  for (const d of diagnostics) {
    if (!d.stage) {
      continue;
    }
    const entry = counts.get(d.stage) ?? { errors: 0, warnings: 0 };
    if (d.severity === 'error') {
      entry.errors += 1;
    } else {
      entry.warnings += 1;
    }
    counts.set(d.stage, entry);
  }
  return counts;
}

/** Node id helpers, so stage, parameter and file names never collide. */
export const nodeId = {
  stage: (name: string): string => `stage:${name}`,
  param: (name: string): string => `param:${name}`,
  file: (path: string): string => `file:${path}`,
  notebook: (written: string): string => `notebook:${written}`
};

/** Stage statuses from worst to best: a group of stages shows the first one any of them has. */
const WORST_FIRST: StageStatus[] = ['failed', 'stale', 'never-run', 'unknown', 'fresh'];

/** The worst status of some stages ("unknown" when there are none). */
export function worstStatus(stages: Pick<IStage, 'status'>[]): StageStatus {
  const found = new Set(stages.map(stageStatus));
  return WORST_FIRST.find(s => found.has(s)) ?? 'unknown';
}

/** One collapsed node per upstream notebook, and one edge per reading stage labelled with the variables. */
export function upstreamElements(
  groups: IUpstream[],
  drawn: Set<string>
): { nodes: { id: string; data: Partial<INodeData> & { label: string } }[]; edges: IFlowEdge[] } {
  const nodes: { id: string; data: Partial<INodeData> & { label: string } }[] = [];
  const edges: IFlowEdge[] = [];
  for (const group of groups) {
    const id = nodeId.notebook(group.notebook);
    const status = worstStatus(group.stages);
    const worst = group.stages.find(s => stageStatus(s) === status);
    nodes.push({
      id,
      data: { label: group.notebook, status, reason: worst?.reason ?? '', path: group.path, count: group.stages.length }
    });
    const names = new Map<string, string[]>(); // reading stage -> variables, in order
    for (const e of group.edges) {
      const target = nodeId.stage(e.target);
      if (drawn.has(target)) {
        names.set(target, [...(names.get(target) ?? []), ...e.names.filter(n => !names.get(target)?.includes(n))]);
      }
    }
    for (const [target, carried] of names) {
      edges.push({
        id: `${id}->${target}`,
        source: id,
        target,
        label: carried.join(', '),
        className: 'jp-nbpipe-edge'
      });
    }
  }
  return { nodes, edges };
}

/** Graph JSON v1 → unpositioned nodes and edges (stages, parameters, files). */
export function graphElements(graph: IGraph): { nodes: IFlowNode[]; edges: IFlowEdge[] } {
  const counts = diagnosticsByStage(graph.diagnostics);
  const nodes = new Map<string, IFlowNode>();
  const edges: IFlowEdge[] = [];
  const add = (kind: NodeKind, id: string, data: Partial<INodeData> & { label: string }): void => {
    if (!nodes.has(id)) {
      const base = { kind, cell: null, status: null, reason: '', errors: 0, warnings: 0, vertical: false };
      nodes.set(id, {
        id,
        type: kind,
        position: { x: 0, y: 0 },
        data: { ...base, ...data },
        ...nodeSize(kind, data.label)
      });
    }
  };
  for (const stage of graph.stages) {
    const c = counts.get(stage.name) ?? { errors: 0, warnings: 0 };
    add('stage', nodeId.stage(stage.name), {
      label: stage.name,
      cell: stage.cell,
      status: stageStatus(stage),
      reason: stage.reason ?? '',
      ...c
    });
  }
  const upstream = upstreamElements(graph.upstream ?? [], new Set(nodes.keys()));
  for (const n of upstream.nodes) {
    add('notebook', n.id, n.data);
  }
  edges.push(...upstream.edges);
  for (const e of graph.edges) {
    edges.push({
      id: `edge:${e.source}->${e.target}`,
      source: nodeId.stage(e.source),
      target: nodeId.stage(e.target),
      label: e.names.join(', '),
      className: 'jp-nbpipe-edge'
    });
  }
  for (const stage of graph.stages) {
    const target = nodeId.stage(stage.name);
    for (const p of stage.params) {
      add('param', nodeId.param(p), { label: p });
      edges.push({ id: `param:${p}->${stage.name}`, source: nodeId.param(p), target, className: 'jp-nbpipe-edge-aux' });
    }
    for (const f of stage.file_inputs) {
      add('file', nodeId.file(f), { label: f });
      edges.push({ id: `file:${f}->${stage.name}`, source: nodeId.file(f), target, className: 'jp-nbpipe-edge-aux' });
    }
    for (const f of stage.file_outputs) {
      add('file', nodeId.file(f), { label: f });
      edges.push({
        id: `${stage.name}->file:${f}`,
        source: target,
        target: nodeId.file(f),
        className: 'jp-nbpipe-edge-aux'
      });
    }
  }
  return { nodes: [...nodes.values()], edges };
}

/** The text drawn for an edge label: at most {@link EDGE_LABEL_CHARS} characters. */
export function shortLabel(label: string): string {
  return label.length <= EDGE_LABEL_CHARS ? label : `${label.slice(0, EDGE_LABEL_CHARS - 1)}…`;
}

/** The space an edge label takes in the layout, in pixels. */
export function labelBox(label: string): { width: number; height: number } {
  return { width: Math.ceil(shortLabel(label).length * LABEL_CHAR_PX) + 8, height: 16 };
}

/**
 * Lay the nodes out in layers (dagre), left to right by default or top to bottom.
 *
 * Edge labels get their own place in the layout, so they overlap neither nodes nor
 * each other; each edge is returned with its route (bend points and label centre).
 */
export function layout(
  nodes: IFlowNode[],
  edges: IFlowEdge[],
  direction: Direction = 'LR'
): { nodes: IFlowNode[]; edges: IFlowEdge[] } {
  const vertical = direction === 'TB';
  const g = new dagre.graphlib.Graph();
  g.setGraph({
    rankdir: direction,
    nodesep: vertical ? 12 : 16,
    edgesep: 8,
    ranksep: vertical ? 20 : 40,
    marginx: 8,
    marginy: 8
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) {
    g.setNode(n.id, { width: n.width, height: n.height });
  }
  for (const e of edges) {
    g.setEdge(e.source, e.target, e.label ? { ...labelBox(e.label), labelpos: 'c' } : {});
  }
  dagre.layout(g);
  const placed = nodes.map(n => {
    const p = g.node(n.id);
    const data = { ...n.data, vertical };
    return { ...n, data, position: { x: p.x - n.width / 2, y: p.y - n.height / 2 } };
  });
  const routed = edges.map(e => {
    const route = g.edge(e.source, e.target) as { points?: { x: number; y: number }[]; x?: number; y?: number };
    const data: IEdgeRoute = {
      points: (route.points ?? []).map(({ x, y }) => ({ x, y })),
      labelX: e.label && typeof route.x === 'number' ? route.x : null,
      labelY: e.label && typeof route.y === 'number' ? route.y : null
    };
    return { ...e, type: 'layered' as const, data };
  });
  return { nodes: placed, edges: routed };
}

/**
 * Graph JSON v1 → positioned nodes and edges, ready for React Flow: layered left to
 * right (dagre), or in a centred column with chips beside it for a narrow panel.
 */
export function buildFlow(graph: IGraph, direction: Direction = 'LR'): { nodes: IFlowNode[]; edges: IFlowEdge[] } {
  const { nodes, edges } = graphElements(graph);
  if (direction === 'TB') {
    // Upstream notebook groups stand in the column, above the stages that read them.
    const groups = (graph.upstream ?? []).map(u => nodeId.notebook(u.notebook));
    const order = [...groups, ...[...graph.order, ...graph.stages.map(s => s.name)].map(nodeId.stage)];
    return columnLayout(nodes, edges, order);
  }
  return layout(nodes, edges, direction);
}

/** Width in graph pixels of each graph's left-to-right layout (laid out once per graph). */
const LR_WIDTHS = new WeakMap<IGraph, number>();

/** The width of `graph` laid out left to right, in graph pixels. */
export function leftToRightWidth(graph: IGraph): number {
  let width = LR_WIDTHS.get(graph);
  if (width === undefined) {
    const { nodes } = buildFlow(graph, 'LR');
    const left = Math.min(0, ...nodes.map(n => n.position.x));
    width = Math.max(0, ...nodes.map(n => n.position.x + n.width)) - left + 16;
    LR_WIDTHS.set(graph, width);
  }
  return width;
}

/**
 * The layout direction for a panel `width` pixels wide: top to bottom when the panel is
 * narrow, or when `graph` laid out left to right would not fit the width at a readable
 * zoom (a wide pipeline in a 700 px panel reads better as a column than cut off).
 */
export function directionFor(width: number, graph: IGraph | null = null): Direction {
  if (width > 0 && width < VERTICAL_BELOW) {
    return 'TB';
  }
  if (graph && width > 0 && leftToRightWidth(graph) * READABLE_ZOOM > width - 16) {
    return 'TB';
  }
  return 'LR';
}

/** One-line summary of the diagnostics ("2 errors, 1 warning" or "no problems"). */
export function summary(graph: IGraph): string {
  const errors = graph.diagnostics.filter(d => d.severity === 'error').length;
  const warnings = graph.diagnostics.length - errors;
  if (!errors && !warnings) {
    return `${graph.stages.length} stage${graph.stages.length === 1 ? '' : 's'}, no problems`;
  }
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [errors && plural(errors, 'error'), warnings && plural(warnings, 'warning')].filter(Boolean).join(', ');
}

/** Text of the status chip for a stage display bundle. */
export function chipText(bundle: IStageBundle): string {
  const parts = [bundle.stage, bundle.status];
  if (typeof bundle.seconds === 'number') {
    parts.push(`${bundle.seconds.toFixed(bundle.seconds < 10 ? 2 : 1)} s`);
  }
  if (bundle.key) {
    parts.push(bundle.key.slice(0, 8));
  }
  return parts.join(' · ');
}

/** The message and hint of anything thrown (an `NbpipeApiError` carries a hint). */
export function describeError(error: unknown): { message: string; hint: string } {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { message?: unknown; hint?: unknown };
  return {
    message: String(fields.message ?? error),
    hint: typeof fields.hint === 'string' ? fields.hint : ''
  };
}

/** The name of the stage whose cell is `cell`, if any. */
export function stageAtCell(graph: IGraph | null, cell: number): string | null {
  return graph?.stages.find(s => s.cell === cell)?.name ?? null;
}

/** What the sidebar shows. */
export interface IPipelineState {
  /** Path of the notebook being shown, or null when no notebook is active. */
  path: string | null;
  graph: IGraph | null;
  error: { message: string; hint: string } | null;
  loading: boolean;
}

/** A function that analyses a notebook (api.analyze, or a fake in tests). */
export type AnalyzeFn = (path: string, content?: unknown) => Promise<IGraph>;

/** Where the model reads the notebook from: its path and its unsaved content. */
export interface INotebookSource {
  path: string;
  content(): unknown;
}

/**
 * Holds the analysis of the active notebook and refreshes it.
 *
 * Responsibilities: debounce bursts of edits into one request; send the unsaved
 * content; drop replies that arrive after a newer request was made (or after the
 * notebook changed); signal `changed` whenever the state changes.
 */
export class PipelineModel {
  constructor(options: { analyze: AnalyzeFn; delay?: number }) {
    this._analyze = options.analyze;
    this.delay = options.delay ?? 400;
  }

  /** Debounce delay of `schedule`, in milliseconds. */
  readonly delay: number;

  /** Emitted after every state change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The current state. */
  get state(): IPipelineState {
    return this._state;
  }

  /** Show `source` (or nothing when null) and analyse it at once. */
  setSource(source: INotebookSource | null): Promise<void> {
    this._source = source;
    this._cancelTimer();
    this._set({ path: source?.path ?? null, graph: null, error: null, loading: !!source });
    return this.refresh();
  }

  /** Analyse again after `delay` ms of quiet (call it on every edit). */
  schedule(): void {
    this._cancelTimer();
    this._timer = setTimeout(() => {
      this._timer = null;
      void this.refresh();
    }, this.delay);
  }

  /** Analyse now; resolves when the state reflects this request (or a newer one). */
  async refresh(): Promise<void> {
    const source = this._source;
    if (!source) {
      return;
    }
    const ticket = ++this._ticket;
    this._set({ ...this._state, loading: true });
    let update: Partial<IPipelineState>;
    try {
      const graph = await this._analyze(source.path, source.content());
      update = { graph, error: null };
    } catch (error) {
      update = { error: describeError(error) };
    }
    if (ticket === this._ticket && source === this._source) {
      this._set({ ...this._state, ...update, loading: false });
    }
  }

  /** Stop pending refreshes. */
  dispose(): void {
    this._cancelTimer();
    this._source = null;
    Signal.clearData(this);
  }

  private _set(state: IPipelineState): void {
    this._state = state;
    this._changed.emit();
  }

  private _cancelTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _analyze: AnalyzeFn;
  private _source: INotebookSource | null = null;
  private _state: IPipelineState = { path: null, graph: null, error: null, loading: false };
  private _ticket = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _changed = new Signal<this, void>(this);
}
