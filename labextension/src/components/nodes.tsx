/**
 * Custom React Flow nodes: stages (name, status colour, diagnostic badges),
 * parameters and files.
 */
import { Handle, NodeProps, Position } from '@xyflow/react';
import React from 'react';

import { fileName, INodeData, STATUS_INFO } from '../model';

type Props = NodeProps & { data: INodeData };

/**
 * Target and source handles on the sides that match the layout direction (the first
 * of each type is the default), plus side handles for the narrow layout's lanes and chips.
 */
function Handles({ vertical, children }: { vertical: boolean; children: React.ReactNode }): JSX.Element {
  return (
    <>
      <Handle type="target" position={vertical ? Position.Top : Position.Left} isConnectable={false} />
      {children}
      <Handle type="source" position={vertical ? Position.Bottom : Position.Right} isConnectable={false} />
      {vertical &&
        SIDES.map(([id, type, position]) => (
          <Handle key={id} id={id} type={type} position={position} isConnectable={false} />
        ))}
    </>
  );
}

const SIDES: [string, 'source' | 'target', Position][] = [
  ['left-in', 'target', Position.Left],
  ['right-in', 'target', Position.Right],
  ['left-out', 'source', Position.Left],
  ['right-out', 'source', Position.Right]
];

/** A stage: its name, status and a badge per kind of diagnostic. */
export function StageNode({ data, selected }: Props): JSX.Element {
  const status = data.status ?? 'unknown';
  const info = STATUS_INFO[status];
  const reason = data.reason || info.description;
  const where = data.cell === null ? '' : ` (cell ${data.cell + 1})`; // numbered as JupyterLab numbers cells
  const classes = ['jp-nbpipe-node', 'jp-nbpipe-stage', `jp-nbpipe-status-${status}`];
  if (data.errors) {
    classes.push('jp-nbpipe-has-error');
  } else if (data.warnings) {
    classes.push('jp-nbpipe-has-warning');
  }
  if (selected) {
    classes.push('jp-nbpipe-selected');
  }
  if (data.compact) {
    classes.push('jp-nbpipe-compact');
  }
  return (
    <div className={classes.join(' ')} title={`${data.label}${where}: ${info.label} (${reason})`}>
      <Handles vertical={data.vertical}>
        <div className="jp-nbpipe-stage-name">{data.label}</div>
        <div className="jp-nbpipe-stage-meta">
          <span className="jp-nbpipe-status-dot" aria-hidden="true" />
          <span className="jp-nbpipe-status-label">{info.label}</span>
          {data.errors > 0 && <span className="jp-nbpipe-badge jp-nbpipe-badge-error">{data.errors}</span>}
          {data.warnings > 0 && <span className="jp-nbpipe-badge jp-nbpipe-badge-warning">{data.warnings}</span>}
        </div>
        {!data.compact && <div className="jp-nbpipe-stage-reason">{reason}</div>}
      </Handles>
    </div>
  );
}

/** A parameter (papermill `parameters` cell) read by stages. */
export function ParamNode({ data }: Props): JSX.Element {
  return (
    <div className="jp-nbpipe-node jp-nbpipe-param" title={`parameter ${data.label}`}>
      <Handles vertical={data.vertical}>{data.label}</Handles>
    </div>
  );
}

/** A file declared with `--file-in` / `--file-out`. */
export function FileNode({ data }: Props): JSX.Element {
  return (
    <div className="jp-nbpipe-node jp-nbpipe-file" title={`file ${data.label}`}>
      <Handles vertical={data.vertical}>{fileName(data.label)}</Handles>
    </div>
  );
}

/** The tooltip of an upstream notebook group: what it holds, its worst status, and what a click does. */
export function notebookTitle(data: INodeData): string {
  const status = data.status ?? 'unknown';
  const count = data.count ?? 0;
  const what = `${data.label}: ${count} stage${count === 1 ? '' : 's'} read by this notebook, worst ${STATUS_INFO[status].label}`;
  const why = data.reason ? ` (${data.reason})` : '';
  const open = data.path ? ' — click to open it' : ' — outside the Jupyter root or hidden: open it from its folder';
  return `${what}${why}${open}`;
}

/** Another notebook whose stages this one reads, collapsed: its name, number of stages and worst status. */
export function NotebookNode({ data }: Props): JSX.Element {
  const status = data.status ?? 'unknown';
  const count = data.count ?? 0;
  const classes = ['jp-nbpipe-node', 'jp-nbpipe-notebook-group', `jp-nbpipe-status-${status}`];
  if (data.path) {
    classes.push('jp-nbpipe-notebook-link');
  }
  return (
    <div className={classes.join(' ')} title={notebookTitle(data)}>
      <Handles vertical={data.vertical}>
        <div className="jp-nbpipe-stage-name">{data.label}</div>
        <div className="jp-nbpipe-stage-meta">
          <span className="jp-nbpipe-status-dot" aria-hidden="true" />
          <span className="jp-nbpipe-status-label">
            {count} stage{count === 1 ? '' : 's'} · {STATUS_INFO[status].label}
          </span>
        </div>
      </Handles>
    </div>
  );
}

/** The node types passed to React Flow. */
export const NODE_TYPES = { stage: StageNode, param: ParamNode, file: FileNode, notebook: NotebookNode };
