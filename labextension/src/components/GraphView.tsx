/**
 * The stage graph: React Flow with a layered layout (left to right, or a centred
 * column of stages with parameter and file chips beside it in a narrow panel), zoom,
 * pan and fit. The first view keeps labels readable: when
 * the whole graph does not fit at a readable zoom, it shows the graph's start and
 * the user pans (or fits everything with the fit button).
 */
import {
  Background,
  ControlButton,
  Controls,
  Edge,
  MarkerType,
  MiniMap,
  Node,
  Panel,
  ReactFlow,
  ReactFlowInstance
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import React, { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';

import {
  buildFlow,
  Direction,
  IFlowEdge,
  IFlowNode,
  INodeData,
  MAX_FIT_ZOOM,
  nodeId,
  READABLE_ZOOM,
  STATUS_INFO
} from '../model';
import { initialViewport } from '../viewport';
import { edgeTooltip } from '../details';
import { highlight, matches } from '../highlight';
import { IGraph, IRecordedVariable } from '../tokens';
import { EDGE_TYPES } from './edges';
import { NODE_TYPES, notebookTitle } from './nodes';

/** Height of the control bar along the top: the first view starts below it. */
const CONTROLS_PX = 34;

/** How many frames a first view waits for its box to have a size before the resize observer takes over. */
const RETRY_FRAMES = 30;

/** Keys that move the graph's one tab stop along the pipeline's order (Home and End: to its ends). */
const ARROWS: Record<string, number> = {
  ArrowDown: 1,
  ArrowRight: 1,
  ArrowUp: -1,
  ArrowLeft: -1,
  Home: -Infinity,
  End: Infinity
};

/** From how many stages on the graph shows an overview (React Flow's MiniMap). */
export const OVERVIEW_FROM = 30;

/** How far out the user may zoom (an overview; labels get small). */
const MIN_ZOOM = 0.25;

/**
 * Pan (at the current zoom, at least readable) so that `node` is in the middle of the
 * box, unless it is already wholly in view below the control bar. Immediate: no animation.
 */
export function revealNode(flow: ReactFlowInstance, node: IFlowNode, width: number, height: number): void {
  const { x, y, zoom } = flow.getViewport();
  const left = node.position.x * zoom + x;
  const top = node.position.y * zoom + y;
  const inView =
    left >= 0 && top >= CONTROLS_PX && left + node.width * zoom <= width && top + node.height * zoom <= height;
  if (inView) {
    return;
  }
  const z = Math.max(zoom, READABLE_ZOOM);
  const cx = node.position.x + node.width / 2;
  const cy = node.position.y + node.height / 2;
  void flow.setViewport({ x: width / 2 - cx * z, y: (height + CONTROLS_PX) / 2 - cy * z, zoom: z });
}

/** Props of {@link GraphView}. */
export interface IGraphViewProps {
  graph: IGraph;
  dark: boolean;
  direction: Direction;
  selected: string | null;
  /** Recorded variables (type, shape, size) for the edges' tooltips. */
  variables?: Record<string, IRecordedVariable>;
  /** A stage was picked in the search box (Enter): select it. */
  onSelect?: (stage: string) => void;
  /** A stage node was activated (click, or Enter on the focused node). */
  onActivate: (stage: string, cell: number) => void;
  /** An upstream notebook group was activated (click, or Enter): open the notebook at this server path. */
  onOpenNotebook?: (path: string) => void;
}

/** The laid-out graph of one notebook. */
export function GraphView(props: IGraphViewProps): JSX.Element {
  const { nodes, edges } = useMemo(() => buildFlow(props.graph, props.direction), [props.graph, props.direction]);
  // One tab stop for the whole graph (roving): the stage last moved to with the arrow keys,
  // else the selected stage, else the first; the arrow keys move along the pipeline's order.
  const [roving, setRoving] = useState<string | null>(null);
  const moved = useRef(false);
  const order = useMemo(() => {
    const drawn = new Set(nodes.map(n => n.id));
    return props.graph.order.map(nodeId.stage).filter(id => drawn.has(id));
  }, [nodes, props.graph.order]);
  const selectedId = props.selected === null ? null : nodeId.stage(props.selected);
  const [query, setQuery] = useState('');
  const marks = useMemo(() => highlight(props.graph, props.selected, query), [props.graph, props.selected, query]);
  const tabStop =
    roving && order.includes(roving) ? roving : selectedId && order.includes(selectedId) ? selectedId : order[0];
  const flowNodes: Node[] = useMemo(
    () =>
      nodes.map(n => ({
        ...n,
        selected: n.type === 'stage' && n.data.label === props.selected,
        className: marks.nodes.get(n.id),
        focusable: n.id === tabStop,
        // Roving: the other stages leave the tab order but stay focusable by click and script.
        domAttributes:
          n.type === 'stage'
            ? { tabIndex: n.id === tabStop ? 0 : -1 }
            : n.type === 'notebook'
              ? { tabIndex: 0, role: n.data.path ? 'link' : undefined }
              : undefined,
        ariaLabel:
          n.type === 'stage'
            ? `stage ${n.data.label}: ${STATUS_INFO[n.data.status ?? 'unknown'].label}${n.data.reason ? ` (${n.data.reason})` : ''}`
            : n.type === 'notebook'
              ? `notebook ${notebookTitle(n.data)}`
              : undefined
      })),
    [nodes, props.selected, tabStop, marks]
  );
  const flowEdges: Edge[] = useMemo(
    () =>
      edges.map(e => ({
        ...e,
        className: [e.className, marks.edges.get(e.id)].filter(Boolean).join(' '),
        data: e.label ? { ...e.data, title: edgeTooltip(e.label.split(', '), props.variables ?? {}) } : e.data,
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 }
      })),
    [edges, props.variables, marks]
  );
  const box = useRef<HTMLDivElement>(null);
  const flow = useRef<ReactFlowInstance | null>(null);
  const retry = useRef({ frame: 0, left: RETRY_FRAMES });
  const startView = useCallback(() => {
    const el = box.current;
    if (!flow.current || !el) {
      return;
    }
    cancelAnimationFrame(retry.current.frame);
    if (el.clientWidth <= 0 || el.clientHeight <= CONTROLS_PX) {
      // No box to fit (JupyterLab hides its whole shell for a frame while it swaps themes): a
      // view for 0 × 0 would pan the graph off-screen. Keep the view and try again on the next
      // frames; a longer hide is reported by the resize observer when the box comes back.
      if (retry.current.left-- > 0) {
        retry.current.frame = requestAnimationFrame(startView);
      }
      return;
    }
    retry.current.left = RETRY_FRAMES;
    const height = el.clientHeight - CONTROLS_PX;
    const view = initialViewport(nodes as IFlowNode[], el.clientWidth, height, 8, edges as IFlowEdge[]);
    void flow.current.setViewport({ ...view, y: view.y + CONTROLS_PX });
  }, [nodes, edges]);
  // The panel was resized (320 → 700 → 320 px): show the graph anew for the new box.
  useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    let frame = 0;
    let last = { width: 0, height: 0 }; // the first report (on observe) re-checks the view too
    const observer = new ResizeObserver(() => {
      const now = { width: el.clientWidth, height: el.clientHeight };
      if (now.width === last.width && now.height === last.height) {
        return;
      }
      last = now;
      cancelAnimationFrame(frame);
      retry.current.left = RETRY_FRAMES;
      frame = requestAnimationFrame(startView);
    });
    observer.observe(el);
    const retries = retry.current;
    return () => {
      cancelAnimationFrame(frame);
      cancelAnimationFrame(retries.frame);
      observer.disconnect();
    };
  }, [startView]);
  // A stage selected elsewhere (the dropdown, the active cell, search) is brought into view
  // before the browser paints the selection (a layout effect: the pan lands in the same frame).
  useLayoutEffect(() => {
    const el = box.current;
    const target = nodes.find(n => n.type === 'stage' && n.data.label === props.selected);
    if (flow.current && el && target) {
      revealNode(flow.current, target, el.clientWidth, el.clientHeight);
    }
  }, [props.selected, nodes]);
  const activate = (node: Node | undefined): void => {
    const data = node?.data as INodeData | undefined;
    if (data?.kind === 'stage' && data.cell !== null) {
      props.onActivate(data.label, data.cell);
    } else if (data?.kind === 'notebook' && data.path) {
      props.onOpenNotebook?.(data.path);
    }
  };
  // After an arrow key, focus the new tab stop once it is rendered focusable.
  useEffect(() => {
    if (!moved.current || !tabStop) {
      return;
    }
    moved.current = false;
    const el = box.current?.querySelector<HTMLElement>(`.react-flow__node[data-id="${CSS.escape(tabStop)}"]`);
    if (el) {
      el.tabIndex = 0; // React Flow applies the new `focusable` a render later (from its store)
      el.focus();
    }
    const target = nodes.find(n => n.id === tabStop);
    if (flow.current && box.current && target) {
      revealNode(flow.current, target, box.current.clientWidth, box.current.clientHeight);
    }
  }, [tabStop, nodes]);
  const onKeyDown = (event: React.KeyboardEvent): void => {
    const step = ARROWS[event.key];
    if (step !== undefined) {
      const id = (event.target as HTMLElement).closest('.react-flow__node')?.getAttribute('data-id');
      const at = id ? order.indexOf(id) : -1;
      if (at >= 0) {
        event.preventDefault();
        event.stopPropagation();
        const next = step === -Infinity ? 0 : step === Infinity ? order.length - 1 : at + step;
        moved.current = true;
        setRoving(order[Math.max(0, Math.min(order.length - 1, next))]);
      }
      return;
    }
    if (event.key !== 'Enter' && event.key !== ' ') {
      return;
    }
    // The jump moves the focus to the notebook: the key must not act there too (no newline typed).
    event.preventDefault();
    event.stopPropagation();
    const id = (event.target as HTMLElement).closest('.react-flow__node')?.getAttribute('data-id');
    activate(flowNodes.find(n => n.id === id));
  };
  return (
    <div
      ref={box}
      className={`jp-nbpipe-graph jp-nbpipe-graph-${props.direction}`}
      onKeyDown={onKeyDown}
      onFocus={event => {
        const id = (event.target as HTMLElement).closest('.react-flow__node-stage')?.getAttribute('data-id');
        if (id && id !== tabStop) {
          setRoving(id); // a stage focused by a click becomes the tab stop
        }
      }}
      data-stages={props.graph.stages.length}
      data-direction={props.direction}
    >
      <ReactFlow
        nodes={flowNodes}
        edges={flowEdges}
        nodeTypes={NODE_TYPES}
        edgeTypes={EDGE_TYPES}
        colorMode={props.dark ? 'dark' : 'light'}
        onNodeClick={(_, node) => activate(node)}
        nodesDraggable={false}
        edgesFocusable={false}
        nodesConnectable={false}
        elementsSelectable={true}
        onInit={instance => {
          flow.current = instance;
          startView();
        }}
        key={props.direction}
        minZoom={MIN_ZOOM}
        maxZoom={2}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={16} size={1} />
        <Panel position="top-right" className="jp-nbpipe-search">
          <input
            type="search"
            placeholder="Find stage"
            aria-label="Find stage"
            value={query}
            onChange={e => setQuery(e.target.value)}
            onKeyDown={e => {
              const found = matches(props.graph, query);
              if (e.key === 'Enter' && found.length) {
                e.preventDefault();
                props.onSelect?.(found[0]);
              } else if (e.key === 'Escape') {
                setQuery('');
              }
              e.stopPropagation(); // typing here is not graph navigation
            }}
          />
        </Panel>
        {props.graph.stages.length >= OVERVIEW_FROM && (
          <MiniMap
            className="jp-nbpipe-overview"
            position="bottom-right"
            style={{ width: 72, height: 120 }}
            pannable
            zoomable
            ariaLabel="Overview of the pipeline"
            nodeClassName={n => `jp-nbpipe-overview-node jp-nbpipe-status-${(n.data as INodeData).status ?? 'none'}`}
          />
        )}
        <Controls
          position="top-left"
          orientation="horizontal"
          showInteractive={false}
          fitViewOptions={{ padding: 0.05, maxZoom: MAX_FIT_ZOOM }}
        >
          <ControlButton
            className="jp-nbpipe-start-view"
            onClick={startView}
            title="Readable view of the pipeline's start"
            aria-label="Readable view of the pipeline's start"
          >
            1:1
          </ControlButton>
        </Controls>
      </ReactFlow>
    </div>
  );
}
