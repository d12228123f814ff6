/**
 * MIME renderer for `application/vnd.nbpipe.stage+json`: a compact status chip in
 * the cell output (stage, ran or cached, seconds, key prefix).
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { chipText } from './model';
import { IStageBundle, STAGE_MIME } from './tokens';

/** Renders one stage bundle as a chip. */
export class StageChip extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('jp-nbpipe-chip');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const bundle = model.data[STAGE_MIME] as unknown as IStageBundle;
    this.node.textContent = chipText(bundle);
    this.node.dataset.status = bundle.status;
    this.node.title = `nbpipe stage '${bundle.stage}' ${bundle.status}; cache key ${bundle.key}`;
    return Promise.resolve();
  }
}

/** The renderer factory. */
export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [STAGE_MIME],
  defaultRank: 50,
  createRenderer: () => new StageChip()
};

const extension: IRenderMime.IExtension = {
  id: 'jupyter-nbpipe:stage-chip',
  description: 'Status chip for nbpipe stage outputs',
  rendererFactory,
  rank: 50,
  dataType: 'json'
};

export default extension;
