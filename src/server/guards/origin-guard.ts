import type { FastifyReply, FastifyRequest } from 'fastify';

/** Methods the service never changes state on; browsers send them cross-origin freely, but cannot read the answers. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `scheme://host[:port]` as browsers write an Origin (lower case, default port dropped); null for anything else. */
export function normalizeOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return `${u.protocol}//${u.host}`;
  } catch {
    return null;
  }
}

/** The `host[:port]` of a Host header as URL parsing writes it for `scheme` (default port dropped); null when unparsable. */
function normalizeHost(host: string, scheme: string): string | null {
  try {
    return new URL(`${scheme}//${host}`).host;
  } catch {
    return null;
  }
}

/**
 * Why a state-changing request (anything but GET, HEAD, OPTIONS) is refused as cross-site, or null
 * when it may go on. Browsers attach `Origin` to every such request (and `Sec-Fetch-Site` to every
 * request in current ones) and a page cannot forge either, so a request naming another origin is
 * one a page sent, not the user; non-browser clients send neither and pass.
 *
 * Allowed: an Origin whose host:port is the request's Host (the dashboard, served by the service
 * itself), or one of `corsOrigins` (`*`: any). Refused: any other Origin, `Origin: null` (sandboxed
 * frames, file:// pages), and without Origin a `Sec-Fetch-Site` other than same-origin or none.
 *
 * This is what stops CSRF: a form or a no-cors fetch of `multipart/form-data`, `text/plain` or
 * `application/x-www-form-urlencoded` is a "simple" request the browser sends without asking first,
 * so CORS alone (which only hides the answer) would let it change an instance.
 */
export function crossSiteRefusal(method: string, headers: { origin?: string; host?: string; 'sec-fetch-site'?: string | string[] }, corsOrigins: readonly string[]): string | null {
  if (SAFE_METHODS.has(method)) return null;
  const origin = headers.origin;
  if (origin !== undefined) {
    const o = normalizeOrigin(origin);
    if (o !== null) {
      if (corsOrigins.includes('*')) return null;
      const scheme = o.slice(0, o.indexOf('//'));
      if (headers.host !== undefined && normalizeHost(headers.host, scheme) === o.slice(scheme.length + 2)) return null;
      if (corsOrigins.some((c) => normalizeOrigin(c) === o)) return null;
    }
    const shown = origin.length > 100 ? `${origin.slice(0, 100)}...` : origin;
    return `cross-origin ${method} refused: Origin ${JSON.stringify(shown)} may not change state here (add it to QUANTKIT_CORS_ORIGINS to allow it)`;
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `cross-site ${method} refused: Sec-Fetch-Site is ${JSON.stringify(String(site))} and no allowed Origin was sent`;
  }
  return null;
}

/** An onRequest hook answering 403 with a JSON detail to what crossSiteRefusal refuses. */
export function originGuard(corsOrigins: readonly string[]) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const why = crossSiteRefusal(request.method, request.headers as Parameters<typeof crossSiteRefusal>[1], corsOrigins);
    if (why === null) return;
    void reply.code(403).send({ detail: why });
    return reply;
  };
}
