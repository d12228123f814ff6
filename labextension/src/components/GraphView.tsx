/**
 * The stage graph: React Flow with a layered left-to-right layout, zoom, pan and fit.
 */
import { Background, Controls, Edge, Node, ReactFlow } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import React, { useMemo } from 'react';

import { buildFlow, Direction, INodeData } from '../model';
import { IGraph } from '../tokens';
import { NODE_TYPES } from './nodes';

/** Props of {@link GraphView}. */
export interface IGraphViewProps {
  graph: IGraph;
  dark: boolean;
  direction: Direction;
  selected: string | null;
  /** A stage node was activated (click, or Enter on the focused node). */
  onActivate: (stage: string, cell: number) => void;
}

/** The laid-out graph of one notebook. */
export function GraphView(props: IGraphViewProps): JSX.Element {
  const { nodes, edges } = useMemo(() => buildFlow(props.graph, props.direction), [props.graph, props.direction]);
  const flowNodes: Node[] = useMemo(
    () => nodes.map(n => ({ ...n, selected: n.type === 'stage' && n.data.label === props.selected })),
    [nodes, props.selected]
  );
  const flowEdges: Edge[] = edges;
  const activate = (node: Node | undefined): void => {
    const data = node?.data as INodeData | undefined;
    if (data?.kind === 'stage' && data.cell !== null) {
      props.onActivate(data.label, data.cell);
    }
  };
  const onKeyDown = (event: React.KeyboardEvent): void => {
    if (event.key !== 'Enter') {
      return;
    }
    const id = (event.target as HTMLElement).closest('.react-flow__node')?.getAttribute('data-id');
    activate(flowNodes.find(n => n.id === id));
  };
  return (
    <div
      className={`jp-nbpipe-graph jp-nbpipe-graph-${props.direction}`}
      onKeyDown={onKeyDown}
      data-stages={props.graph.stages.length}
      data-direction={props.direction}
    >
      <ReactFlow
        nodes={flowNodes}
        edges={flowEdges}
        nodeTypes={NODE_TYPES}
        colorMode={props.dark ? 'dark' : 'light'}
        onNodeClick={(_, node) => activate(node)}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={true}
        fitView
        fitViewOptions={{ padding: 0.1, maxZoom: 1.2 }}
        key={props.direction}
        minZoom={0.1}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={16} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
