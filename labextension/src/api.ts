/**
 * The only module that talks HTTP: the nbpipe server extension's REST API.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ExportTarget, IDetails, IGraph } from './tokens';

/** An error reply of the nbpipe API, with the server's message and hint. */
export class NbpipeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string = ''
  ) {
    super(message);
    this.name = 'NbpipeApiError';
  }
}

/** POST `body` to `/nbpipe/api/<route>` and return the decoded JSON reply. */
export async function requestAPI<T>(
  route: string,
  body: unknown,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'nbpipe', 'api', route);
  const init: RequestInit = { method: 'POST', body: JSON.stringify(body) };
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new NbpipeApiError(0, `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let data: unknown = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    const reply = (data ?? {}) as { message?: unknown; hint?: unknown };
    const message = typeof reply.message === 'string' && reply.message ? reply.message : '';
    const hint = typeof reply.hint === 'string' ? reply.hint : '';
    throw new NbpipeApiError(response.status, message || `nbpipe ${route} failed with HTTP ${response.status}`, hint);
  }
  return data as T;
}

/** Analyse the notebook at `path`, or its unsaved `content` when given. */
export function analyze(path: string, content?: unknown): Promise<IGraph> {
  return requestAPI<IGraph>('analyze', content === undefined ? { path } : { path, content });
}

/**
 * Export the saved notebook at `path` to `to`; resolves to the written path. The server
 * refuses (409) to replace a file nbpipe did not write unless `overwrite`.
 */
export async function exportNotebook(path: string, to: ExportTarget, overwrite = false): Promise<string> {
  const reply = await requestAPI<{ path: string }>('export', overwrite ? { path, to, overwrite } : { path, to });
  return reply.path;
}

/** Write an annotated copy of the saved plain notebook at `path` (a new file, never a replaced one). */
export function annotate(path: string): Promise<{ path: string; stages: string[]; notes: string[] }> {
  return requestAPI('annotate', { path });
}

/** The recorded variables of the saved notebook at `path` and, when named, one stage's runs and cache entry. */
export function details(path: string, stage: string | null = null): Promise<IDetails> {
  return requestAPI<IDetails>('details', stage === null ? { path } : { path, stage });
}
