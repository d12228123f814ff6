/**
 * Words for the details panel and the edges' tooltips: what a recorded variable is
 * (type, shape, size), sizes, durations and times, from the run records' summaries.
 */
import { IOutputSummary, IRecordedVariable, IStageRun } from './tokens';

/** `1234567` → `1.2 MB` (decimal units, as `nbpipe cache ls` prints them). */
export function humanSize(bytes: number): string {
  let size = bytes;
  for (const unit of ['B', 'kB', 'MB', 'GB']) {
    if (size < 1000 || unit === 'GB') {
      return unit === 'B' ? `${size.toFixed(0)} B` : `${size.toFixed(1)} ${unit}`;
    }
    size /= 1000;
  }
  return `${bytes} B`;
}

/** `0.0123` → `0.01 s`, `83.2` → `1 min 23 s`. */
export function duration(seconds: number): string {
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** An ISO time as the reader's local date and time, without seconds' fractions. */
export function when(iso: string | null | undefined): string {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) {
    return '';
  }
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** The shape of a value: `4 × 3` (arrays), `150 rows × 5 columns` (tables), `3 items`. */
export function shapeText(summary: IOutputSummary): string {
  if (summary.shape) {
    return summary.shape.length ? summary.shape.join(' × ') : 'scalar';
  }
  if (typeof summary.rows === 'number') {
    const columns = summary.columns?.length;
    return `${summary.rows} rows${columns === undefined ? '' : ` × ${columns} columns`}`;
  }
  if (typeof summary.length === 'number') {
    return `${summary.length} item${summary.length === 1 ? '' : 's'}`;
  }
  return '';
}

/** One line for a variable: `numpy.ndarray float32 4 × 3 · 176 B`, `int = 18`. */
export function variableText(variable: IRecordedVariable | undefined): string {
  if (!variable) {
    return 'not recorded yet (run it with nbpipe run)';
  }
  const summary = variable.summary;
  const parts: string[] = [];
  if (summary) {
    parts.push([summary.type, summary.dtype, shapeText(summary)].filter(Boolean).join(' '));
    if (summary.value !== undefined) {
      const value = summary.value;
      const shown = typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value;
      parts[0] += ` = ${JSON.stringify(shown)}`;
    }
  }
  if (typeof variable.bytes === 'number') {
    parts.push(humanSize(variable.bytes));
  }
  return parts.join(' · ') || 'recorded without a summary';
}

/** The tooltip of an edge: each variable it carries with its type and shape when recorded. */
export function edgeTooltip(names: string[], variables: Record<string, IRecordedVariable>): string {
  return names.map(name => (variables[name] ? `${name}: ${variableText(variables[name])}` : name)).join('\n');
}

/** One line for a run: `ran 0.12 s · 3 Nov 2026, 12:03:04 · via run`. */
export function runText(run: IStageRun): string {
  const parts = [run.status];
  if (typeof run.seconds === 'number' && run.status !== 'skipped') {
    parts[0] += ` ${duration(run.seconds)}`;
  }
  const at = when(run.finished ?? run.started);
  if (at) {
    parts.push(at);
  }
  if (run.target) {
    parts.push(`via ${run.target}`);
  }
  return parts.join(' · ');
}
