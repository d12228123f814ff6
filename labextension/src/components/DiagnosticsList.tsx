/**
 * The diagnostics under the graph: code, severity, message and hint; each one is
 * a button that jumps to its cell.
 */
import React from 'react';

import { IDiagnostic } from '../tokens';

/** Props of {@link DiagnosticsList}. */
export interface IDiagnosticsListProps {
  diagnostics: IDiagnostic[];
  onSelect: (diagnostic: IDiagnostic) => void;
}

/** The list of diagnostics, errors first. */
export function DiagnosticsList({ diagnostics, onSelect }: IDiagnosticsListProps): JSX.Element {
  if (!diagnostics.length) {
    return <p className="jp-nbpipe-clean">No problems found.</p>;
  }
  const sorted = [...diagnostics].sort(
    (a, b) => Number(b.severity === 'error') - Number(a.severity === 'error') || (a.cell ?? 0) - (b.cell ?? 0)
  );
  return (
    <ul className="jp-nbpipe-diagnostics" aria-label="Pipeline diagnostics">
      {sorted.map((d, i) => (
        <li key={`${d.code}-${d.cell}-${d.line}-${i}`}>
          <button
            className={`jp-nbpipe-diagnostic jp-nbpipe-${d.severity}`}
            data-code={d.code}
            data-cell={d.cell ?? ''}
            disabled={d.cell === null}
            onClick={() => onSelect(d)}
            title={d.cell === null ? undefined : `go to cell ${d.cell + 1}${d.line ? `, line ${d.line}` : ''}`}
          >
            <span className="jp-nbpipe-diagnostic-head">
              <span className="jp-nbpipe-code">{d.code}</span>
              <span className="jp-nbpipe-severity">{d.severity}</span>
              {d.stage && <span className="jp-nbpipe-diagnostic-stage">{d.stage}</span>}
            </span>
            <span className="jp-nbpipe-message">{d.message}</span>
            {d.hint && <span className="jp-nbpipe-hint">{d.hint}</span>}
          </button>
        </li>
      ))}
    </ul>
  );
}
