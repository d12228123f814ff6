/**
 * What an analyze request carries of an unsaved notebook: its sources and metadata, not its
 * outputs. Figures and tables made a request 2.56 MB instead of 103 KB on every pause in
 * typing; the analysis reads no output except the stage display bundle (the status of a
 * stage run in the kernel), which is kept, alone.
 */
import { STAGE_MIME } from './tokens';

type Json = Record<string, unknown>;

/** A cell output reduced to its stage bundle, or null when it has none. */
function stageOutput(output: unknown): Json | null {
  const data = (output as { data?: unknown } | null)?.data;
  if (typeof data !== 'object' || data === null || !(STAGE_MIME in data)) {
    return null;
  }
  return { output_type: 'display_data', data: { [STAGE_MIME]: (data as Json)[STAGE_MIME] }, metadata: {} };
}

/** One cell without outputs (but its stage bundle) and without attachments. */
function analysisCell(cell: Json): Json {
  const rest = { ...cell };
  delete rest.attachments;
  delete rest.outputs;
  const outputs = cell.outputs;
  if (!Array.isArray(outputs)) {
    return rest;
  }
  return { ...rest, outputs: outputs.map(stageOutput).filter((o): o is Json => o !== null) };
}

/** The notebook JSON an analyze request sends: every cell's source and metadata, no outputs. */
export function analysisContent(notebook: unknown): unknown {
  if (typeof notebook !== 'object' || notebook === null) {
    return notebook;
  }
  const nb = notebook as Json;
  if (!Array.isArray(nb.cells)) {
    return nb;
  }
  return { ...nb, cells: nb.cells.map(c => (typeof c === 'object' && c !== null ? analysisCell(c as Json) : c)) };
}
