import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * An onRequest hook requiring `Authorization: Bearer <apiKey>` on every route but the health check
 * (GET /, so load balancers need no secret), the dashboard's static files under /ui and CORS preflights (browsers send those without
 * credentials). Keys are compared as SHA-256 digests in constant time, so neither the key's
 * length nor its prefix leaks through timing.
 */
export function bearerAuth(apiKey: string) {
  const expected = digest(apiKey);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.method === 'OPTIONS') return;
    if ((request.method === 'GET' || request.method === 'HEAD') && (request.url === '/' || request.url.startsWith('/?'))) return;
    // An orchestrator's probes carry no secret (and tell nothing but up and ready).
    if (request.method === 'GET' && (request.url === '/healthz' || request.url === '/readyz')) return;
    // The dashboard's static files (no data, no secret): the page asks for the key and sends it on every API call.
    if ((request.method === 'GET' || request.method === 'HEAD') && /^\/ui(?:[/?]|$)/.test(request.url)) return;
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ ]+(.+)$/i.exec(header.trim()) : null;
    if (m && timingSafeEqual(digest(m[1]), expected)) return;
    void reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ detail: header === undefined ? 'Not authenticated: send Authorization: Bearer <QUANTKIT_API_KEY>' : 'Invalid API key' });
    return reply;
  };
}
