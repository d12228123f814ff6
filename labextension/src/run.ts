/**
 * "Run to here": what the sidebar knows of a `%nbpipe run STAGE` in the kernel, built
 * from the kernel's messages — per-stage progress (ran / cached / failed, seconds) from
 * the stage display bundles, and the failure (which stage, the error, its traceback and
 * nbpipe's hint). Pure functions, unit tested without a kernel.
 */
import { IGraph, IStageBundle } from './tokens';

/** How one stage of the run finished. */
export interface IStageProgress {
  status: string;
  seconds: number | null;
}

/** The failure of a run: the stage that failed and what it raised. */
export interface IRunFailure {
  /** The stage that failed (null when the run failed before any stage, e.g. in a setup cell). */
  stage: string | null;
  /** 0-based cell index of that stage (for the link), or null. */
  cell: number | null;
  error: string;
  hint: string;
  traceback: string;
}

/** An error the kernel reported (an `error` message). */
export interface IKernelError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** A run to `target`, while it runs and after. */
export interface IRunReport {
  target: string;
  /** The stages the run covers, in the order it runs them. */
  order: string[];
  done: Record<string, IStageProgress>;
  state: 'running' | 'ok' | 'failed';
  failure: IRunFailure | null;
  seconds: number;
}

/** The stages a run to `target` covers (target and its upstream), in the graph's order. */
export function upstreamOrder(graph: IGraph, target: string): string[] {
  const parents = new Map<string, string[]>();
  for (const e of graph.edges) {
    parents.set(e.target, [...(parents.get(e.target) ?? []), e.source]);
  }
  const wanted = new Set<string>();
  const stack = [target];
  while (stack.length) {
    const name = stack.pop() as string;
    if (!wanted.has(name)) {
      wanted.add(name);
      stack.push(...(parents.get(name) ?? []));
    }
  }
  const order = graph.order.length ? graph.order : graph.stages.map(s => s.name);
  return order.filter(name => wanted.has(name));
}

/** A new report for a run to `target`. */
export function startRun(graph: IGraph | null, target: string): IRunReport {
  const order = graph ? upstreamOrder(graph, target) : [target];
  return { target, order, done: {}, state: 'running', failure: null, seconds: 0 };
}

/** The report after a stage display bundle arrived. */
export function withBundle(report: IRunReport, bundle: IStageBundle): IRunReport {
  const seconds = typeof bundle.seconds === 'number' ? bundle.seconds : null;
  return { ...report, done: { ...report.done, [bundle.stage]: { status: bundle.status, seconds } } };
}

const ANSI = new RegExp(String.fromCharCode(27) + '\\[[0-9;]*[A-Za-z]', 'g');

/** A traceback as plain text (the kernel colours it with ANSI escapes). */
export function plainTraceback(lines: string[]): string {
  return lines.join('\n').replace(ANSI, '');
}

/** nbpipe's hint in an error value (`message\n  hint: how to fix`), split from the message. */
export function splitHint(evalue: string): { message: string; hint: string } {
  const at = evalue.search(/\n\s*hint: /);
  if (at < 0) {
    return { message: evalue, hint: '' };
  }
  return {
    message: evalue.slice(0, at),
    hint: evalue
      .slice(at)
      .replace(/^\s*hint: /, '')
      .trim()
  };
}

/**
 * The report after the run ended. `error` is the kernel's error (null on success); the
 * failing stage is the one whose bundle says failed, else the first stage that did not
 * finish — never the target just because it was asked for.
 */
export function finishRun(
  report: IRunReport,
  graph: IGraph | null,
  seconds: number,
  error: IKernelError | null,
  stderr = ''
): IRunReport {
  const failedBundle = report.order.find(s => report.done[s]?.status === 'failed');
  if (!error && failedBundle) {
    // nbpipe's errors reach the kernel as a UsageError: printed on stderr, no error message.
    error = { ename: '', evalue: stderr.replace(/^UsageError: /, '').trim() || 'the stage failed', traceback: [] };
  }
  if (!error) {
    return { ...report, state: 'ok', seconds };
  }
  const failed = failedBundle ?? report.order.find(s => !report.done[s]) ?? null;
  const { message, hint } = splitHint(error.evalue);
  const traceback = plainTraceback(error.traceback);
  const found = failed ? graph?.stages.find(s => s.name === failed) : undefined;
  const failure: IRunFailure = {
    stage: failed,
    cell: found ? found.cell : null,
    error: error.ename ? `${error.ename}: ${message}` : message,
    hint: hint || hintIn(traceback),
    traceback: traceback || plainTraceback([stderr]).trim()
  };
  return { ...report, state: 'failed', failure, seconds };
}

/** A `hint:` line nbpipe printed in the traceback, if any. */
function hintIn(traceback: string): string {
  const match = /^\s*hint: (.+)$/m.exec(traceback);
  return match ? match[1].trim() : '';
}

/** One line summing up a finished run: "evaluate done: 5 stages (3 ran, 2 cached) in 1.20 s". */
export function runSummary(report: IRunReport): string {
  const counts = new Map<string, number>();
  for (const s of Object.values(report.done)) {
    counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  }
  const parts = [...counts.entries()].map(([status, n]) => `${n} ${status}`).join(', ');
  const n = Object.keys(report.done).length;
  const head = report.state === 'failed' ? `${report.failure?.stage ?? report.target} failed` : `${report.target} done`;
  return `${head}: ${n} stage${n === 1 ? '' : 's'}${parts ? ` (${parts})` : ''} in ${report.seconds.toFixed(2)} s`;
}
