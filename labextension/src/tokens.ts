/**
 * Shared types: graph JSON v1 (DESIGN §5, contract) and the stage display bundle
 * (DESIGN §4.6). They mirror `nbpipe/model.py`; change both together.
 */

/** Stage status values of graph JSON v1. */
export type StageStatus = 'fresh' | 'stale' | 'never-run' | 'failed' | 'unknown';

/** Diagnostic severity. */
export type Severity = 'error' | 'warning';

/** One stage of the graph. */
export interface IStage {
  name: string;
  /** 0-based index into the notebook's cells (markdown included). */
  cell: number;
  inputs: string[];
  outputs: string[];
  file_inputs: string[];
  file_outputs: string[];
  /** Parameters the stage body reads. */
  params: string[];
  status: StageStatus;
  /** Why the status (graph JSON 1.1): "code changed (line 3)", "parameter 'C' 1.0 → 0.5", "upstream 'x' is stale". */
  reason?: string;
}

/** A dependency: `target` reads `names` that `source` outputs. */
export interface IEdge {
  source: string;
  target: string;
  names: string[];
}

/** One analyzer finding with a stable code (NBP001–NBP211). */
export interface IDiagnostic {
  code: string;
  severity: Severity;
  stage: string | null;
  cell: number | null;
  /** 1-based line within the cell source. */
  line: number | null;
  col: number | null;
  names: string[];
  message: string;
  hint: string;
}

/** A stage of another notebook that this one reads (graph JSON 1.2 `upstream`). */
export interface IUpstreamStage {
  name: string;
  status: StageStatus;
  reason: string;
  outputs: string[];
}

/**
 * A notebook read through `--in NAME@NOTEBOOK` (graph JSON 1.2): the stages read from it
 * (and their upstream there), and edges from them (`source`) to this notebook's stages.
 */
export interface IUpstream {
  /** The notebook as written after '@'. */
  notebook: string;
  /** Its server-relative path, or null when it cannot be opened (outside the root, hidden). */
  path: string | null;
  stages: IUpstreamStage[];
  edges: IEdge[];
}

/** Graph JSON v1 (minor version 1 adds each stage's `reason`, 2 the analyze reply's `upstream`). */
export interface IGraph {
  version: 1;
  minor?: number;
  notebook: string;
  parameters: Record<string, unknown>;
  stages: IStage[];
  edges: IEdge[];
  order: string[];
  diagnostics: IDiagnostic[];
  /** Other notebooks' stages this one reads (minor 2; absent from older servers). */
  upstream?: IUpstream[];
}

/** MIME type of the display bundle a stage publishes when it runs. */
export const STAGE_MIME = 'application/vnd.nbpipe.stage+json';

/** The stage display bundle (`application/vnd.nbpipe.stage+json`). */
export interface IStageBundle {
  stage: string;
  key: string;
  source_hash?: string;
  /** How the stage finished in the kernel: "ran", "cached" or "failed". */
  status: string;
  seconds?: number;
}

/** Export targets offered by the sidebar (DESIGN §7). */
export const EXPORT_TARGETS = ['script', 'papermill', 'airflow'] as const;

/** An export target name. */
export type ExportTarget = (typeof EXPORT_TARGETS)[number];

/** One column of a table output's summary (run records minor 1). */
export interface IColumnSummary {
  name: string;
  dtype: string;
  nulls?: number;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
  std?: number | null;
}

/** What a run record says of an output's value: its type and, by kind, shape, rows, length or value. */
export interface IOutputSummary {
  type: string;
  shape?: number[];
  dtype?: string;
  rows?: number;
  columns?: IColumnSummary[];
  value?: unknown;
  length?: number;
}

/** An output as the newest run record that holds it says (`POST /nbpipe/api/details`). */
export interface IRecordedVariable {
  stage: string;
  run_id: string;
  bytes?: number;
  summary?: IOutputSummary;
}

/** One run of a stage, from a run record. */
export interface IStageRun {
  run_id: string;
  target: string | null;
  /** ran | cached | failed | skipped */
  status: string;
  reason: string | null;
  started: string | null;
  finished: string | null;
  seconds: number | null;
  cpu_seconds: number | null;
  peak_memory: number | null;
  error: string | null;
}

/** A stage's recent runs (newest first) and its latest cache entry. */
export interface IStageDetails {
  name: string;
  runs: IStageRun[];
  entry: { key: string; bytes: number; seconds: number; created: string } | null;
}

/** The reply of `POST /nbpipe/api/details`. */
export interface IDetails {
  notebook: string;
  variables: Record<string, IRecordedVariable>;
  stage: IStageDetails | null;
}
