/**
 * The "Pipeline" sidebar widget: follows the active notebook, keeps the model
 * fresh, and performs the actions (go to cell, run to here, export, check).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, IThemeManager, ReactWidget, showDialog } from '@jupyterlab/apputils';
import { ICodeCellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import React from 'react';

import { analyze, annotate, details, exportNotebook, NbpipeApiError } from '../api';
import { analysisContent } from '../content';
import { ICellSpot, jumpToCell } from '../jump';
import { finishRun, IKernelError, IRunReport, startRun, withBundle } from '../run';
import { IMessage, PipelineView } from './PipelineView';
import { describeError, Direction, directionFor, PipelineModel, stageAtCell, summary } from '../model';
import { ExportTarget, IDetails, IStageBundle, STAGE_MIME } from '../tokens';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The file named in the server's "'PATH' exists and was not written by nbpipe" refusal (its last part). */
export function existingFile(message: string): string {
  const match = /'([^']+)' exists/.exec(message);
  return match ? `'${match[1].split(/[\\/]/).pop()}'` : 'The output file';
}

/** A short export error for the sidebar: the message without absolute paths or command-line advice. */
export function shortExportError(error: unknown): string {
  const { message } = describeError(error);
  const short = message.replace(/'\/[^']*\/([^'/]+)'/g, "'$1'");
  return `Export failed: ${short.length > 200 ? `${short.slice(0, 199)}…` : short}`;
}

/** The sidebar. */
export class PipelineSidebar extends ReactWidget {
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _tracker: INotebookTracker,
    private readonly _themes: IThemeManager | null
  ) {
    super();
    this.id = 'nbpipe-pipeline';
    this.addClass('jp-nbpipe-sidebar');
    this.title.caption = 'Pipeline';
    this.model.changed.connect(() => this.update());
    this._tracker.currentChanged.connect(() => this._follow(this._tracker.currentWidget));
    this._tracker.activeCellChanged.connect(this._onActiveCell, this);
    NotebookActions.executed.connect(this._onExecuted, this);
    this._themes?.themeChanged.connect(() => this.update());
    this._follow(this._tracker.currentWidget);
  }

  /** The analysis of the active notebook. */
  readonly model = new PipelineModel({ analyze });

  /** Milliseconds taken by the last render, from `render()` to the DOM commit. */
  lastRenderMs = 0;

  dispose(): void {
    NotebookActions.executed.disconnect(this._onExecuted, this);
    this.model.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update(); // React Flow must mount while visible to measure its box.
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    if (directionFor(this.node.clientWidth, this.model.state.graph) !== this._direction) {
      this.update();
    }
  }

  protected render(): JSX.Element {
    this._direction = directionFor(this.node.clientWidth, this.model.state.graph);
    const started = performance.now();
    return (
      <PipelineView
        state={this.model.state}
        showGraph={this.isVisible}
        dark={this._isDark()}
        direction={this._direction}
        selected={this._selected}
        details={this._details}
        detailsError={this._detailsError}
        busy={this._busy}
        message={this._message}
        report={this._report}
        onSelect={stage => this._setSelected(stage)}
        onGoToCell={(cell, stage, spot) => this._goToCell(cell, stage, spot)}
        onRun={stage => void this._run(stage)}
        onExport={to => void this._export(to)}
        onCheck={() => void this.check()}
        onAnnotate={() => void this._annotate()}
        onOpenPath={path => void this._app.commands.execute('docmanager:open', { path })}
        onCommitted={() => {
          this.lastRenderMs = performance.now() - started;
          this.node.dataset.renderMs = this.lastRenderMs.toFixed(2);
        }}
      />
    );
  }

  private _follow(panel: NotebookPanel | null): void {
    if (panel === this._panel) {
      return;
    }
    if (this._panel && !this._panel.isDisposed) {
      this._panel.model?.contentChanged.disconnect(this._onEdited, this);
      this._panel.context.fileChanged.disconnect(this._onSaved, this);
    }
    this._panel = panel;
    this._selected = null;
    this._details = null;
    this._detailsError = null;
    this._message = null;
    this._report = null;
    if (!panel) {
      void this.model.setSource(null);
      return;
    }
    void panel.context.ready.then(() => {
      if (panel !== this._panel) {
        return;
      }
      panel.model?.contentChanged.connect(this._onEdited, this);
      panel.context.fileChanged.connect(this._onSaved, this);
      void this.model.setSource({ path: panel.context.path, content: () => analysisContent(panel.model?.toJSON()) });
      void this._loadDetails();
    });
    panel.disposed.connect(() => this._panel === panel && this._follow(this._tracker.currentWidget));
  }

  private _onEdited(): void {
    this.model.schedule();
  }

  private _onSaved(): void {
    void this.model.refresh();
    void this._loadDetails();
  }

  /**
   * Ask the server what the notebook's run records say (variables' types and sizes, the
   * selected stage's runs and cache entry): on opening, selecting, saving, after a run.
   */
  private async _loadDetails(): Promise<void> {
    const panel = this._panel;
    if (!panel) {
      return;
    }
    const ticket = ++this._detailsTicket;
    const stage = this._selected;
    let reply: IDetails | null = null;
    let error: string | null = null;
    try {
      reply = await details(panel.context.path, stage);
    } catch (reason) {
      error = `Run details are not available: ${describeError(reason).message}`;
    }
    if (ticket === this._detailsTicket && panel === this._panel) {
      this._details = reply;
      this._detailsError = error;
      this.update();
    }
  }

  private _onExecuted(_: unknown, args: { notebook: unknown }): void {
    if (this._panel && args.notebook === this._panel.content) {
      this.model.schedule();
    }
  }

  private _onActiveCell(): void {
    const index = this._panel?.content.activeCellIndex ?? -1;
    const stage = stageAtCell(this.model.state.graph, index);
    if (stage && stage !== this._selected) {
      this._setSelected(stage);
    }
  }

  private _setSelected(stage: string | null): void {
    const changed = stage !== this._selected;
    this._selected = stage;
    this.update();
    if (changed && stage) {
      void this._loadDetails();
    }
  }

  private _goToCell(index: number, stage: string | null, spot: ICellSpot | null = null): void {
    const panel = this._panel;
    if (!panel || index < 0 || index >= panel.content.widgets.length) {
      return;
    }
    this._app.shell.activateById(panel.id);
    void jumpToCell(panel.content, index, spot);
    if (stage) {
      this._setSelected(stage);
    }
  }

  private async _run(stage: string): Promise<void> {
    const kernel = this._panel?.sessionContext.session?.kernel;
    if (!IDENTIFIER.test(stage)) {
      return this._say('error', `'${stage}' is not a stage name`);
    }
    if (!kernel) {
      this._report = null;
      return this._say(
        'error',
        `The notebook has no kernel: start one (Kernel › Restart Kernel), then press Run to here for '${stage}' again.`
      );
    }
    const graph = this.model.state.graph;
    this._busy = true;
    this._message = null;
    this._report = startRun(graph, stage);
    this.update();
    const started = performance.now();
    const code = `%load_ext nbpipe\n%nbpipe run ${stage}`;
    const future = kernel.requestExecute({ code, store_history: false, silent: false });
    let error: IKernelError | null = null;
    let stderr = '';
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
      if (KernelMessage.isStreamMsg(msg) && msg.content.name === 'stderr') {
        stderr += msg.content.text;
      } else if (KernelMessage.isErrorMsg(msg)) {
        error = { ename: msg.content.ename, evalue: msg.content.evalue, traceback: msg.content.traceback };
      } else if (KernelMessage.isDisplayDataMsg(msg) && msg.content.data[STAGE_MIME]) {
        this._recordStage(msg.content.data);
        const bundle = msg.content.data[STAGE_MIME] as unknown as IStageBundle;
        if (this._report) {
          this._report = withBundle(this._report, bundle);
          this.update();
        }
      }
    };
    try {
      await future.done;
    } catch (reason) {
      error = error ?? { ename: 'Error', evalue: String(reason), traceback: [] };
    }
    this._busy = false;
    if (this._report) {
      this._report = finishRun(this._report, graph, (performance.now() - started) / 1000, error, stderr);
    }
    this.update();
    await this.model.refresh();
    await this._loadDetails();
  }

  /**
   * Put a stage's display bundle from a run into its cell's outputs, as if the cell
   * had run: the status chip shows there, and the analysis sees the stage fresh.
   */
  private _recordStage(data: KernelMessage.IDisplayDataMsg['content']['data']): void {
    const bundle = data[STAGE_MIME] as unknown as IStageBundle;
    const stage = this.model.state.graph?.stages.find(s => s.name === bundle.stage);
    const cell = stage && stage.cell !== null ? this._panel?.model?.cells.get(stage.cell) : undefined;
    if (!cell || cell.type !== 'code') {
      return;
    }
    const outputs = (cell as ICodeCellModel).outputs;
    const output = { output_type: 'display_data', data, metadata: {} };
    for (let i = 0; i < outputs.length; i++) {
      if (outputs.get(i).data[STAGE_MIME]) {
        outputs.set(i, output);
        return;
      }
    }
    outputs.add(output);
  }

  private async _export(to: ExportTarget): Promise<void> {
    const panel = this._panel;
    if (!panel) {
      return;
    }
    if (this.model.state.graph?.stages.length === 0) {
      return this._say('error', 'This notebook has no stage to export: add a %%stage cell (or annotate it) first.');
    }
    this._busy = true;
    const dirty = panel.context.model.dirty;
    this._say('info', dirty ? `Saving the notebook, then exporting to ${to}…` : `Exporting to ${to}…`);
    try {
      if (dirty) {
        await panel.context.save();
      }
      const written = await this._exportOrAsk(panel.context.path, to);
      this._busy = false;
      if (written === null) {
        return this._say('info', 'Export cancelled: the existing file was left as it is.');
      }
      void this._app.commands.execute('filebrowser:refresh').catch(() => undefined);
      this._message = { kind: 'info', text: 'Exported to ', link: written };
      this.update();
    } catch (error) {
      this._busy = false;
      this._say('error', shortExportError(error));
    }
  }

  /** Export; when a file nbpipe did not write is in the way, ask before replacing it (null: declined). */
  private async _exportOrAsk(path: string, to: ExportTarget): Promise<string | null> {
    try {
      return await exportNotebook(path, to);
    } catch (error) {
      if (!(error instanceof NbpipeApiError) || error.status !== 409) {
        throw error;
      }
      const name = existingFile(error.message);
      const answer = await showDialog({
        title: 'Replace a file nbpipe did not write?',
        body: `${name} already exists and was not written by nbpipe. Replace it with the ${to} export?`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Replace' })]
      });
      return answer.button.accept ? exportNotebook(path, to, true) : null;
    }
  }

  /** Write an annotated copy of the (saved) notebook beside it and open it; the notebook is not changed. */
  private async _annotate(): Promise<void> {
    const panel = this._panel;
    if (!panel) {
      return;
    }
    this._busy = true;
    const dirty = panel.context.model.dirty;
    this._say('info', dirty ? 'Saving the notebook, then annotating a copy…' : 'Annotating a copy…');
    try {
      if (dirty) {
        await panel.context.save();
      }
      const reply = await annotate(panel.context.path);
      this._busy = false;
      void this._app.commands.execute('filebrowser:refresh').catch(() => undefined);
      const count = `${reply.stages.length} stage${reply.stages.length === 1 ? '' : 's'}`;
      this._message = { kind: 'info', text: `Proposed ${count} in `, link: reply.path };
      this.update();
      await this._app.commands.execute('docmanager:open', { path: reply.path });
    } catch (error) {
      this._busy = false;
      this._say('error', `Annotate failed: ${describeError(error).message}`);
    }
  }

  /** Analyse the notebook again now and say what was found ("Check: 5 stages, no problems"). */
  async check(): Promise<void> {
    await this.model.refresh();
    const { graph, error } = this.model.state;
    this._say(error || !graph ? 'error' : 'info', error ? error.message : graph ? `Check: ${summary(graph)}` : '');
  }

  private _say(kind: IMessage['kind'], text: string): void {
    this._message = { kind, text };
    this.update();
  }

  private _isDark(): boolean {
    if (this._themes?.theme) {
      return !this._themes.isLight(this._themes.theme);
    }
    return document.body.dataset.jpThemeLight === 'false';
  }

  private _direction: Direction = 'LR';
  private _panel: NotebookPanel | null = null;
  private _selected: string | null = null;
  private _details: IDetails | null = null;
  private _detailsError: string | null = null;
  private _detailsTicket = 0;
  private _busy = false;
  private _message: IMessage | null = null;
  private _report: IRunReport | null = null;
}
