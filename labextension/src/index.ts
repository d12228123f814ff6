/**
 * JupyterLab plugins of nbpipe: the "Pipeline" sidebar and its commands.
 * The stage status chip is a MIME extension (see `mime.ts`).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IThemeManager } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { PipelineSidebar } from './components/Sidebar';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><circle cx="5" cy="6" r="3"/><circle cx="5" cy="18" r="3"/>' +
  '<circle cx="19" cy="12" r="3"/><path d="M7.5 7.2 16.6 11l-.6 1.3-9.1-3.9zm0 9.6-.6-1.3 9.1-3.9.6 1.3z"/></g></svg>';

/** The sidebar icon. */
export const pipelineIcon = new LabIcon({ name: 'jupyter-nbpipe:pipeline', svgstr: ICON_SVG });

/**
 * Adds the "Pipeline" sidebar on the left, restored with the layout, and its commands;
 * their key bindings (Accel Shift Y: show it, Accel Alt C: check) are in `schema/sidebar.json`.
 */
const sidebar: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-nbpipe:sidebar',
  description: 'The nbpipe stage graph of the active notebook',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, IThemeManager, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    themes: IThemeManager | null,
    palette: ICommandPalette | null
  ) => {
    const widget = new PipelineSidebar(app, tracker, themes);
    widget.title.icon = pipelineIcon;
    app.shell.add(widget, 'left', { rank: 600 });
    restorer?.add(widget, widget.id);
    app.commands.addCommand('nbpipe:show-pipeline', {
      label: 'Show Pipeline Sidebar',
      execute: () => app.shell.activateById(widget.id)
    });
    app.commands.addCommand('nbpipe:check', {
      label: 'Check Pipeline (nbpipe)',
      execute: () => {
        app.shell.activateById(widget.id);
        return widget.check();
      }
    });
    palette?.addItem({ command: 'nbpipe:show-pipeline', category: 'nbpipe' });
    palette?.addItem({ command: 'nbpipe:check', category: 'nbpipe' });
  }
};

export default [sidebar];
