/**
 * What "Run to here" did: a row per stage (ran / cached / failed / waiting, seconds),
 * and on failure the failing stage with its error, nbpipe's hint, the traceback and a
 * link to its cell (numbered 1-based, as JupyterLab numbers cells).
 */
import React from 'react';

import { IRunReport, runSummary } from '../run';

/** Props of {@link RunReport}. */
export interface IRunReportProps {
  report: IRunReport;
  onGoToCell: (cell: number, stage: string | null) => void;
}

/** The live report of the last run. */
export function RunReport({ report, onGoToCell }: IRunReportProps): JSX.Element {
  const running = report.state === 'running';
  const failure = report.failure;
  return (
    <div className={`jp-nbpipe-run-report jp-nbpipe-run-${report.state}`} role="status" aria-live="polite">
      <div className="jp-nbpipe-run-head">
        {running
          ? `Running ${report.target}: ${Object.keys(report.done).length} of ${report.order.length} stages…`
          : runSummary(report)}
      </div>
      <ul className="jp-nbpipe-run-stages">
        {report.order.map(name => {
          const done = report.done[name];
          const status = done?.status ?? (running ? 'waiting' : 'not run');
          return (
            <li key={name} className={`jp-nbpipe-run-stage jp-nbpipe-run-stage-${status.replace(' ', '-')}`}>
              <span className="jp-nbpipe-run-name">{name}</span>
              <span className="jp-nbpipe-run-status">{status}</span>
              <span className="jp-nbpipe-run-seconds">
                {done && done.seconds !== null ? `${done.seconds.toFixed(2)} s` : ''}
              </span>
            </li>
          );
        })}
      </ul>
      {failure && (
        <div className="jp-nbpipe-run-failure" role="alert">
          <div className="jp-nbpipe-run-error">
            {failure.stage ? `Stage '${failure.stage}' failed: ` : 'The run failed: '}
            {failure.error}
          </div>
          {failure.hint && <div className="jp-nbpipe-hint">hint: {failure.hint}</div>}
          {failure.cell !== null && (
            <button
              className="jp-nbpipe-link jp-nbpipe-run-goto"
              onClick={() => onGoToCell(failure.cell as number, failure.stage)}
            >
              Go to cell {failure.cell + 1}
            </button>
          )}
          {failure.traceback && (
            <details className="jp-nbpipe-traceback" open>
              <summary>Traceback</summary>
              <pre>{failure.traceback}</pre>
            </details>
          )}
        </div>
      )}
    </div>
  );
}
