/**
 * The whole sidebar content: actions, graph, diagnostics, messages and empty states.
 */
import React, { useLayoutEffect } from 'react';

import type { ICellSpot } from '../jump';
import { Direction, IPipelineState, summary } from '../model';
import { ExportTarget, IDetails, IDiagnostic } from '../tokens';
import { DetailsPanel } from './DetailsPanel';
import { IRunReport } from '../run';
import { DiagnosticsList } from './DiagnosticsList';
import { RunReport } from './RunReport';
import { GraphView } from './GraphView';
import { Toolbar } from './Toolbar';

/** A line of feedback from the last action. */
export interface IMessage {
  kind: 'info' | 'error';
  text: string;
  /** A path shown after the text as a link that opens it. */
  link?: string;
}

/** Props of {@link PipelineView}. */
export interface IPipelineViewProps {
  state: IPipelineState;
  /** Draw the graph (false while the panel is hidden: React Flow cannot measure it). */
  showGraph: boolean;
  dark: boolean;
  direction: Direction;
  selected: string | null;
  /** What the run records say (variables, the selected stage's runs), or null before the server answered. */
  details?: IDetails | null;
  detailsError?: string | null;
  busy: boolean;
  message: IMessage | null;
  /** The last "Run to here" (live while it runs). */
  report?: IRunReport | null;
  onSelect: (stage: string) => void;
  /** Jump to a cell (command mode; `spot` places the editor's selection without editing). */
  onGoToCell: (cell: number, stage: string | null, spot?: ICellSpot | null) => void;
  onRun: (stage: string) => void;
  onExport: (to: ExportTarget) => void;
  onCheck: () => void;
  /** Write an annotated copy of a notebook without stages and open it. */
  onAnnotate?: () => void;
  /** Open a file of the server (the link of a message). */
  onOpenPath?: (path: string) => void;
  /** Called after each commit to the DOM (used to time re-renders). */
  onCommitted?: () => void;
}

/** Explains how to add the first stage, and offers to propose them (`nbpipe annotate`). */
export function EmptyState(props: { onAnnotate?: () => void; busy?: boolean }): JSX.Element {
  return (
    <div className="jp-nbpipe-empty">
      <p>This notebook has no stages yet.</p>
      {props.onAnnotate && (
        <p>
          <button
            className="jp-mod-styled jp-mod-accept jp-nbpipe-annotate"
            disabled={props.busy}
            onClick={props.onAnnotate}
            title="Write a copy of this notebook with %%stage headers proposed for its cells, and open it"
          >
            Annotate a copy
          </button>{' '}
          proposes stages for its cells in a new notebook beside it; this one is not changed.
        </p>
      )}
      <p>Or write them by hand:</p>
      <p>
        Start a code cell with <code>%%stage NAME --out VAR</code>, for example:
      </p>
      <pre>{'%load_ext nbpipe\n\n%%stage load --out df\ndf = read_data()'}</pre>
      <p>
        Declare what a stage reads with <code>--in</code>; the graph appears here as you type.
      </p>
    </div>
  );
}

/** The sidebar's content for the active notebook. */
export function PipelineView(props: IPipelineViewProps): JSX.Element {
  const { state } = props;
  useLayoutEffect(() => props.onCommitted?.());
  if (!state.path) {
    return <div className="jp-nbpipe-empty">Open a notebook to see its pipeline.</div>;
  }
  const graph = state.graph;
  const selectedStage = graph?.stages.find(s => s.name === props.selected) ?? null;
  const goTo = (d: IDiagnostic): void => {
    if (d.cell !== null) {
      props.onGoToCell(d.cell, d.stage, { line: d.line, col: d.col, length: d.names[0]?.length ?? 0 });
    }
  };
  return (
    <div className="jp-nbpipe-view" data-loading={state.loading}>
      <div className="jp-nbpipe-title">
        <span className="jp-nbpipe-path" title={state.path}>
          {state.path}
        </span>
        <span className="jp-nbpipe-summary">{state.loading ? 'analysing…' : graph ? summary(graph) : ''}</span>
      </div>
      <Toolbar
        stages={graph?.stages.map(s => s.name) ?? []}
        selected={props.selected}
        busy={props.busy}
        onSelect={props.onSelect}
        onRun={props.onRun}
        onExport={props.onExport}
        onCheck={props.onCheck}
      />
      {props.message && (
        <div className={`jp-nbpipe-message-line jp-nbpipe-message-${props.message.kind}`} role="status">
          {props.message.text}
          {props.message.link && (
            <button
              className="jp-nbpipe-link jp-nbpipe-written"
              onClick={() => props.onOpenPath?.(props.message?.link ?? '')}
            >
              {props.message.link}
            </button>
          )}
        </div>
      )}
      {props.report && <RunReport report={props.report} onGoToCell={(cell, stage) => props.onGoToCell(cell, stage)} />}
      {state.error && (
        <div className="jp-nbpipe-error" role="alert">
          <div>{state.error.message}</div>
          {state.error.hint && <div className="jp-nbpipe-hint">{state.error.hint}</div>}
        </div>
      )}
      {graph && graph.stages.length === 0 && graph.diagnostics.length > 0 && (
        <div className="jp-nbpipe-hazards">
          <div className="jp-nbpipe-details-head">Hazards in this notebook</div>
          <DiagnosticsList diagnostics={graph.diagnostics} onSelect={goTo} />
        </div>
      )}
      {graph && graph.stages.length === 0 && <EmptyState onAnnotate={props.onAnnotate} busy={props.busy} />}
      {graph && graph.stages.length > 0 && props.showGraph && (
        <GraphView
          graph={graph}
          dark={props.dark}
          direction={props.direction}
          selected={props.selected}
          variables={props.details?.variables}
          onSelect={props.onSelect}
          onActivate={(stage, cell) => props.onGoToCell(cell, stage)}
          onOpenNotebook={props.onOpenPath}
        />
      )}
      {selectedStage && (
        <DetailsPanel stage={selectedStage} details={props.details ?? null} error={props.detailsError} />
      )}
      {graph && graph.stages.length > 0 && <DiagnosticsList diagnostics={graph.diagnostics} onSelect={goTo} />}
    </div>
  );
}
