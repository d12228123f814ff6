/**
 * Jumping to a cell without typing into it: the notebook ends in command mode (so `b`
 * inserts a cell below and Enter starts editing), with the cell in view and, for a
 * diagnostic, the editor's selection on the name it is about — the source is untouched.
 */
import { Notebook } from '@jupyterlab/notebook';

/** Where in a cell to place the selection: 1-based line, 0-based column, and the length to select. */
export interface ICellSpot {
  line: number | null;
  col: number | null;
  length: number;
}

/**
 * Make cell `index` the active cell in command mode, scroll it to the centre, put the
 * editor's selection at `spot` (without focusing the editor) and focus the notebook.
 */
export async function jumpToCell(notebook: Notebook, index: number, spot: ICellSpot | null): Promise<void> {
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  notebook.mode = 'command';
  try {
    // Not notebook.scrollToCell: it activates the cell widget, which focuses the editor (edit mode).
    await notebook.scrollToItem(index, 'center');
  } catch {
    // Scrolling is best effort (a cell still being rendered); the cell is active anyway.
  }
  if (notebook.activeCellIndex !== index) {
    return; // the person moved on while we scrolled
  }
  const cell = notebook.widgets[index];
  if (spot && spot.line !== null && cell) {
    await cell.ready;
    placeSelection(cell.editor, spot);
  }
  notebook.mode = 'command';
  notebook.node.focus({ preventScroll: true });
}

type Editor = Notebook['widgets'][number]['editor'];

/** Select `spot` in the editor (clamped to the text); never focuses it, never edits. */
export function placeSelection(editor: Editor, spot: ICellSpot): void {
  if (!editor || spot.line === null) {
    return;
  }
  const lines = editor.model.sharedModel.getSource().split('\n');
  const line = Math.min(Math.max(spot.line - 1, 0), lines.length - 1);
  const column = Math.min(Math.max(spot.col ?? 0, 0), lines[line].length);
  const end = Math.min(column + Math.max(spot.length, 0), lines[line].length);
  editor.setSelection({ start: { line, column }, end: { line, column: end } });
}
