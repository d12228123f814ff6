/**
 * The first view of the graph: the zoom and pan that show it readably in the panel.
 */
import { IFlowEdge, IFlowNode, labelBox, MAX_FIT_ZOOM, READABLE_ZOOM } from './model';

/** A viewport of React Flow: pan (x, y) and zoom. */
export interface IViewport {
  x: number;
  y: number;
  zoom: number;
}

/** A box in graph pixels. */
type Box = { x: number; y: number; width: number; height: number };

/** The boxes a graph draws: its nodes and its edge labels. */
function drawnBoxes(nodes: IFlowNode[], edges: IFlowEdge[]): Box[] {
  const boxes: Box[] = nodes.map(n => ({ ...n.position, width: n.width, height: n.height }));
  for (const e of edges) {
    for (const p of e.data?.points ?? []) {
      boxes.push({ ...p, width: 0, height: 0 });
    }
    if (e.label && e.data && e.data.labelX !== null && e.data.labelY !== null) {
      const { width, height } = labelBox(e.label);
      boxes.push({ x: e.data.labelX - width / 2, y: e.data.labelY - height / 2, width, height });
    }
  }
  return boxes;
}

/** The extent of some boxes on one axis: start and size, in graph pixels. */
function extent(boxes: Box[], axis: 'x' | 'y'): { start: number; size: number } {
  const dim = axis === 'x' ? 'width' : 'height';
  const start = Math.min(...boxes.map(b => b[axis]));
  return { start, size: Math.max(...boxes.map(b => b[axis] + b[dim])) - start };
}

/**
 * The first view of a graph in a `width` × `height` box: the whole graph (nodes, edge
 * routes and labels) when it fits at a readable zoom, placed so that the stages are
 * centred as far as the graph allows. Else, at {@link READABLE_ZOOM} so that labels
 * stay legible (the user pans to the rest), on each axis: the stages centred when they
 * fit, else the graph's start (top or left) at the box's edge.
 */
export function initialViewport(
  nodes: IFlowNode[],
  width: number,
  height: number,
  padding = 8,
  edges: IFlowEdge[] = []
): IViewport {
  if (!nodes.length || width <= 0 || height <= 0) {
    return { x: 0, y: 0, zoom: 1 };
  }
  const stages = nodes.filter(n => n.type === 'stage');
  const focus = drawnBoxes(stages.length ? stages : nodes, []);
  const all = drawnBoxes(nodes, edges);
  const graph = { x: extent(all, 'x'), y: extent(all, 'y') };
  const tall = (height - 2 * padding) / graph.y.size;
  const fit = Math.min((width - 2 * padding) / graph.x.size, tall);
  // The zoom at which the stages can sit in the middle with the whole graph in view.
  const mid = extent(focus, 'x');
  const centre = mid.start + mid.size / 2;
  const half = Math.max(centre - graph.x.start, graph.x.start + graph.x.size - centre);
  const centredFit = Math.min((width - 2 * padding) / (2 * half), tall);
  // Else the readable zoom, as close to centred as the graph allows (rather than filling the box off-centre).
  const best = centredFit >= READABLE_ZOOM ? centredFit : Math.min(fit, READABLE_ZOOM);
  const zoom = Math.min(MAX_FIT_ZOOM, Math.max(READABLE_ZOOM, best));
  const place = (axis: 'x' | 'y', box: number): number => {
    const room = box - 2 * padding;
    const whole = graph[axis];
    const main = extent(focus, axis);
    const centred = (box - main.size * zoom) / 2 - main.start * zoom;
    if (whole.size * zoom <= room) {
      const low = padding - whole.start * zoom;
      const high = box - padding - (whole.start + whole.size) * zoom;
      return Math.min(high, Math.max(low, centred));
    }
    if (main.size * zoom <= room) {
      return centred;
    }
    return padding - whole.start * zoom;
  };
  return { x: place('x', width), y: place('y', height), zoom };
}
