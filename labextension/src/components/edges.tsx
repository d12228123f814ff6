/**
 * The layered edge: drawn along the route the layout computed, with its label at the
 * place the layout reserved for it (so labels overlap neither nodes nor each other).
 */
import { BaseEdge, EdgeProps } from '@xyflow/react';
import React from 'react';

import { IEdgeRoute, shortLabel } from '../model';

type Point = { x: number; y: number };

/**
 * An SVG path from `start` through the layout's bend points to `end`, smoothed with
 * quadratic curves through the midpoints between bends.
 */
export function routePath(start: Point, bends: Point[], end: Point): string {
  const points = [start, ...bends, end];
  let d = `M ${start.x},${start.y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i];
    const next = points[i + 1];
    const mid = i === points.length - 2 ? next : { x: (p.x + next.x) / 2, y: (p.y + next.y) / 2 };
    d += ` Q ${p.x},${p.y} ${mid.x},${mid.y}`;
  }
  if (points.length === 2) {
    d += ` L ${end.x},${end.y}`;
  }
  return d;
}

/** An edge routed by the layered layout. */
export function LayeredEdge(props: EdgeProps): JSX.Element {
  const route = props.data as IEdgeRoute | undefined;
  // The layout's first and last points sit on the node borders; the handles are the real ends.
  const bends = route ? route.points.slice(1, -1) : [];
  const path = routePath({ x: props.sourceX, y: props.sourceY }, bends, { x: props.targetX, y: props.targetY });
  const text = typeof props.label === 'string' ? props.label : '';
  const hasLabel = !!text && route?.labelX !== null && route?.labelX !== undefined && route.labelY !== null;
  return (
    <g className="jp-nbpipe-edge-group">
      {/* The tooltip: every variable the edge carries (the drawn label may be shortened). */}
      {text && <title>{typeof route?.title === 'string' ? route.title : text}</title>}
      <BaseEdge
        id={props.id}
        path={path}
        markerEnd={props.markerEnd}
        style={props.style}
        label={hasLabel ? shortLabel(text) : undefined}
        labelX={route?.labelX ?? undefined}
        labelY={route?.labelY ?? undefined}
        labelShowBg={true}
        labelBgPadding={[3, 1]}
        labelBgBorderRadius={3}
      />
    </g>
  );
}

/** The edge types passed to React Flow. */
export const EDGE_TYPES = { layered: LayeredEdge };
