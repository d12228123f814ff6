/**
 * The sidebar's actions: pick a stage and run to it, export, check.
 */
import React, { useState } from 'react';

import { EXPORT_TARGETS, ExportTarget } from '../tokens';

/** Props of {@link Toolbar}. */
export interface IToolbarProps {
  stages: string[];
  selected: string | null;
  busy: boolean;
  onSelect: (stage: string) => void;
  onRun: (stage: string) => void;
  onExport: (to: ExportTarget) => void;
  onCheck: () => void;
}

/** Buttons and pickers above the graph. */
export function Toolbar(props: IToolbarProps): JSX.Element {
  const [target, setTarget] = useState<ExportTarget>('script');
  const stage = props.selected && props.stages.includes(props.selected) ? props.selected : '';
  return (
    <div className="jp-nbpipe-toolbar" role="toolbar" aria-label="Pipeline actions">
      <div className="jp-nbpipe-toolbar-row">
        <select
          className="jp-nbpipe-stage-select"
          aria-label="Stage"
          value={stage}
          onChange={e => props.onSelect(e.target.value)}
        >
          <option value="" disabled>
            stage…
          </option>
          {props.stages.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button
          className="jp-nbpipe-run jp-mod-styled jp-mod-accept"
          disabled={!stage || props.busy}
          onClick={() => props.onRun(stage)}
          title="Run this stage and its upstream stages in the notebook's kernel (%nbpipe run)"
        >
          Run to here
        </button>
      </div>
      <div className="jp-nbpipe-toolbar-row">
        <select
          className="jp-nbpipe-export-target"
          aria-label="Export target"
          value={target}
          onChange={e => setTarget(e.target.value as ExportTarget)}
        >
          {EXPORT_TARGETS.map(t => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <button className="jp-nbpipe-export jp-mod-styled" disabled={props.busy} onClick={() => props.onExport(target)}>
          Export
        </button>
        <button className="jp-nbpipe-check jp-mod-styled" disabled={props.busy} onClick={props.onCheck}>
          Check
        </button>
      </div>
    </div>
  );
}
