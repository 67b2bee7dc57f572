import type { FastifyInstance } from 'fastify';
import { configToSnakeCase } from '../../engine/config-names.js';
import { errorResponses, instanceParams, messageResponse, quantizerConfigModel } from '../schemas.js';

type IdParams = { instance_id: string };

/** Instance management: list, create (409 if it exists), delete (403 default, 404 unknown), config get and replace. */
export async function instanceRoutes(app: FastifyInstance): Promise<void> {
  const { registry } = app;

  app.get('/instances', { schema: { summary: 'List instance ids', response: { 200: { type: 'array', items: { type: 'string' } } } } }, async () => registry.ids());

  app.post<{ Params: IdParams; Body: Record<string, unknown> }>(
    '/instances/:instance_id',
    {
      schema: {
        summary: 'Create an instance',
        params: instanceParams,
        body: quantizerConfigModel,
        response: { 200: messageResponse, 409: { ...errorResponses[404], description: 'Instance exists' }, ...errorResponses },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      registry.create(id, request.body);
      return { message: `Quantizer instance ${id} created successfully` };
    },
  );

  app.delete<{ Params: IdParams }>(
    '/instances/:instance_id',
    { schema: { summary: 'Delete an instance (not the default one)', params: instanceParams, response: { 200: messageResponse, 403: errorResponses[404], ...errorResponses } } },
    async (request) => {
      const id = request.params.instance_id;
      const inst = registry.get(id);
      // Wait for its queued operations so none of them writes to a deleted row's successor.
      await inst.exclusive(() => registry.delete(id));
      return { message: `Quantizer instance ${id} deleted successfully` };
    },
  );

  app.get<{ Params: IdParams }>(
    '/instances/:instance_id/config',
    { schema: { summary: 'The configuration (every QuantizerConfigModel field)', params: instanceParams, response: errorResponses } },
    async (request) => configToSnakeCase(registry.get(request.params.instance_id).quantizer.getConfig() as unknown as Record<string, unknown>),
  );

  app.put<{ Params: IdParams; Body: Record<string, unknown> }>(
    '/instances/:instance_id/config',
    {
      schema: {
        summary: 'Replace the configuration (fields left out take their defaults, as the contract\'s model does)',
        params: instanceParams,
        body: quantizerConfigModel,
        response: { 200: messageResponse, ...errorResponses },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      const inst = registry.get(id);
      await inst.exclusive(() => {
        registry.replaceConfig(inst, request.body);
      });
      return { message: `Configuration for quantizer instance ${id} updated successfully` };
    },
  );
}
