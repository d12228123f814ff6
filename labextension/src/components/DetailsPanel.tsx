/**
 * The details of the selected stage: its status and why, its inputs and outputs (type,
 * shape and size from the latest run records), its last run, its cache entry and its
 * recent runs. The status is the graph's (the one status function); the rest comes from
 * the server's `details` reply, read from the notebook's store.
 */
import React from 'react';

import { duration, humanSize, runText, variableText, when } from '../details';
import { STATUS_INFO } from '../model';
import { IDetails, IStage } from '../tokens';

/** Props of {@link DetailsPanel}. */
export interface IDetailsPanelProps {
  stage: IStage;
  /** The server's reply for this stage, or null while it loads (or when it failed). */
  details: IDetails | null;
  error?: string | null;
}

function Variables(props: { title: string; names: string[]; details: IDetails | null }): JSX.Element | null {
  if (!props.names.length) {
    return null;
  }
  return (
    <div className="jp-nbpipe-details-vars">
      <div className="jp-nbpipe-details-head">{props.title}</div>
      <ul>
        {props.names.map(name => (
          <li key={name} data-name={name}>
            <code>{name}</code>{' '}
            <span className="jp-nbpipe-details-type">
              {props.details ? variableText(props.details.variables[name]) : '…'}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The panel under the graph. */
export function DetailsPanel({ stage, details, error }: IDetailsPanelProps): JSX.Element {
  const status = STATUS_INFO[stage.status] ?? STATUS_INFO.unknown;
  const own = details?.stage?.name === stage.name ? details.stage : null;
  const last = own?.runs[0];
  return (
    <section className="jp-nbpipe-details" aria-label={`Details of stage ${stage.name}`} data-stage={stage.name}>
      <div className="jp-nbpipe-details-title">
        <span className={`jp-nbpipe-status-dot jp-nbpipe-status-${stage.status}`} aria-hidden="true" />
        <strong>{stage.name}</strong> <span>{status.label}</span>
      </div>
      {stage.reason && <div className="jp-nbpipe-details-reason">{stage.reason}</div>}
      <Variables title="Inputs" names={stage.inputs} details={details} />
      <Variables title="Outputs" names={stage.outputs} details={details} />
      {error && <div className="jp-nbpipe-error">{error}</div>}
      {own && (
        <div className="jp-nbpipe-details-run">
          <div className="jp-nbpipe-details-last">
            {last
              ? `Last run: ${last.status}${typeof last.seconds === 'number' ? ` in ${duration(last.seconds)}` : ''}, ${when(last.finished ?? last.started)}`
              : 'No recorded run yet (nbpipe run records its runs).'}
          </div>
          {own.entry && (
            <div className="jp-nbpipe-details-entry" title={own.entry.key}>
              Cache entry: {humanSize(own.entry.bytes)}, computed in {duration(own.entry.seconds)}, saved{' '}
              {when(own.entry.created)}
            </div>
          )}
          {own.runs.length > 0 && (
            <>
              <div className="jp-nbpipe-details-head">Recent runs</div>
              <ol className="jp-nbpipe-details-runs">
                {own.runs.map(run => (
                  <li key={run.run_id} data-status={run.status} title={run.error ?? run.reason ?? undefined}>
                    {runText(run)}
                  </li>
                ))}
              </ol>
            </>
          )}
        </div>
      )}
    </section>
  );
}
