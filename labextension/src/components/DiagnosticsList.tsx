/**
 * The diagnostics under the graph: code, severity, message and hint; each one is
 * a button that jumps to its cell.
 */
import React, { useRef, useState } from 'react';

import { IDiagnostic } from '../tokens';

/** Props of {@link DiagnosticsList}. */
export interface IDiagnosticsListProps {
  diagnostics: IDiagnostic[];
  onSelect: (diagnostic: IDiagnostic) => void;
}

/** Keys that move the list's one tab stop (Home and End: to its ends). */
const STEPS: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };

/**
 * The list of diagnostics, errors first. One tab stop for the whole list (roving): Tab
 * reaches the list once, the arrow keys move between diagnostics, Enter jumps.
 */
export function DiagnosticsList({ diagnostics, onSelect }: IDiagnosticsListProps): JSX.Element {
  const [current, setCurrent] = useState(0);
  const list = useRef<HTMLUListElement>(null);
  if (!diagnostics.length) {
    return <p className="jp-nbpipe-clean">No problems found.</p>;
  }
  const sorted = [...diagnostics].sort(
    (a, b) => Number(b.severity === 'error') - Number(a.severity === 'error') || (a.cell ?? 0) - (b.cell ?? 0)
  );
  const stop = Math.min(current, sorted.length - 1);
  const onKeyDown = (event: React.KeyboardEvent): void => {
    const step = STEPS[event.key];
    if (step === undefined) {
      return;
    }
    event.preventDefault();
    const next = step === -Infinity ? 0 : step === Infinity ? sorted.length - 1 : stop + step;
    const index = Math.max(0, Math.min(sorted.length - 1, next));
    setCurrent(index);
    list.current?.querySelectorAll<HTMLElement>('.jp-nbpipe-diagnostic')[index]?.focus();
  };
  return (
    <ul className="jp-nbpipe-diagnostics" aria-label="Pipeline diagnostics" ref={list} onKeyDown={onKeyDown}>
      {sorted.map((d, i) => (
        <li key={`${d.code}-${d.cell}-${d.line}-${i}`}>
          <button
            className={`jp-nbpipe-diagnostic jp-nbpipe-${d.severity}`}
            data-code={d.code}
            data-cell={d.cell ?? ''}
            tabIndex={i === stop ? 0 : -1}
            aria-disabled={d.cell === null}
            onClick={() => d.cell !== null && onSelect(d)}
            onFocus={() => setCurrent(i)}
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
