import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * An onSend hook holding each answer of an instance's route until the statistics its operation
 * counted are in the store: once a client has its answer, every replica's GET .../stats counts it.
 */
export function flushStatsHook(app: FastifyInstance) {
  return async (request: FastifyRequest, _reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const id = (request.params as { instance_id?: unknown } | undefined)?.instance_id;
    if (typeof id === 'string') await app.registry.flushStats(id);
    return payload;
  };
}
