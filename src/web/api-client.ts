/** sessionStorage key of the API key: a tab forgets it when closed, and no other storage ever holds it. */
export const API_KEY_STORAGE = 'quantkit.apiKey';

/** A 4xx/5xx answer of the service, with its `detail` made readable. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
    this.name = 'ApiError';
  }
}

/**
 * The service's `detail` as one line: a string as is; FastAPI-style validation lists
 * ([{loc: ['body', 'num_bits'], msg: 'must be <= 16'}]) as "num_bits: must be <= 16; ...".
 */
export function formatDetail(body: unknown, status: number): string {
  const detail = body !== null && typeof body === 'object' ? (body as { detail?: unknown }).detail : undefined;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d: unknown) => {
        if (d === null || typeof d !== 'object') return String(d);
        const { loc, msg } = d as { loc?: unknown; msg?: unknown };
        const where = Array.isArray(loc) ? loc.filter((p) => p !== 'body').join('.') : '';
        return where ? `${where}: ${String(msg)}` : String(msg);
      })
      .join('; ');
  }
  return `the service answered ${status} without a detail`;
}

export interface RequestOptions {
  body?: unknown;
  /** Raw bytes sent with this content type instead of JSON. */
  contentType?: string;
  /** 'json' (default) or 'bytes'. */
  answer?: 'json' | 'bytes';
}

/** Asks the person for the API key (null: they declined). */
export type AskKey = (reason: string) => Promise<string | null>;

/**
 * fetch against the service the page came from. Adds `Authorization: Bearer <key>` once a key is
 * known; on a 401 asks for the key (again, if the stored one was refused) and retries.
 */
export class ApiClient {
  constructor(
    private readonly askKey: AskKey,
    private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> = sessionStorage,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
  ) {}

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    for (;;) {
      const headers: Record<string, string> = {};
      const key = this.storage.getItem(API_KEY_STORAGE);
      if (key) headers.authorization = `Bearer ${key}`;
      let body: BodyInit | undefined;
      if (options.body !== undefined) {
        if (options.contentType) {
          headers['content-type'] = options.contentType;
          body = options.body as BodyInit;
        } else {
          headers['content-type'] = 'application/json';
          body = JSON.stringify(options.body);
        }
      }
      const res = await this.fetchImpl(path, { method, headers, body });
      if (res.status === 401) {
        const parsed = await res.json().catch(() => null);
        const given = await this.askKey(key ? `The service refused the API key (${formatDetail(parsed, 401)}).` : 'The service needs an API key.');
        if (given === null || given === '') {
          this.storage.removeItem(API_KEY_STORAGE);
          throw new ApiError(401, formatDetail(parsed, 401));
        }
        this.storage.setItem(API_KEY_STORAGE, given);
        continue;
      }
      if (!res.ok) throw new ApiError(res.status, formatDetail(await res.json().catch(() => null), res.status));
      if (options.answer === 'bytes') return new Uint8Array(await res.arrayBuffer()) as T;
      return (await res.json()) as T;
    }
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
}
