import type { ApiClient } from '../api-client.js';

/** What every view gets: the API client and where to report a failure. */
export interface ViewContext {
  readonly api: ApiClient;
}

/** A mounted view; dispose stops its timers and charts when another view replaces it. */
export interface View {
  readonly element: HTMLElement;
  dispose(): void;
}

/** The instance ids, or [] with the error shown by the caller. */
export async function listInstances(api: ApiClient): Promise<string[]> {
  return api.get<string[]>('/instances');
}
