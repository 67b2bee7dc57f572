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

/**
 * The ids of the instances the service can serve (a stored record it cannot load answers 503 to
 * every route; the Instances view lists it with why).
 */
export async function listInstances(api: ApiClient): Promise<string[]> {
  const listed = await api.get<{ instance_id: string; available: boolean }[]>('/instances?detailed=true');
  return listed.filter((l) => l.available).map((l) => l.instance_id);
}
