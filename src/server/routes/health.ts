import type { FastifyInstance } from 'fastify';

const healthResponse = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' }, detail: { type: 'string' } },
} as const;

/**
 * Probes for an orchestrator: /healthz answers 200 while the process runs (restart it if not),
 * /readyz 200 only while the store answers and its schema is this build's (send it traffic if so),
 * else 503 with a detail. Neither needs the API key, as GET / does not.
 */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', { schema: { summary: 'Liveness: the process is up', response: { 200: healthResponse } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: the store answers and its migrations are applied (503 otherwise, detail says why)', response: { 200: healthResponse, 503: healthResponse } } },
    async (_request, reply) => {
      const h = await app.registry.storeHealth();
      if (!h.ready) return reply.code(503).send({ status: 'unavailable', detail: h.detail });
      return { status: 'ready', detail: h.detail };
    },
  );
}
