import type { FastifyInstance } from 'fastify';
import { quantizerConfigJsonSchema } from '../../contract/config-json-schema.js';
import { configToSnakeCase } from '../../contract/config-names.js';
import { UnloadableRecord } from '../instances/instance-registry.js';
import { errorResponses, instanceParams, messageResponse } from '../schemas.js';

type IdParams = { instance_id: string };

/** A stored record that cannot be loaded (503) and a write refused by a full disk (507), documented on the routes that can meet them. */
const storeResponses = {
  503: { ...errorResponses[404], description: 'The stored record of this instance cannot be loaded (detail says why); it is kept unchanged' },
  507: { ...errorResponses[404], description: 'The instance store is full (disk full): nothing was changed' },
} as const;

/** Instance management: list, create (409 if it exists), delete (403 default, 404 unknown), config get and replace. */
export async function instanceRoutes(app: FastifyInstance): Promise<void> {
  const { registry } = app;

  app.get<{ Querystring: { detailed?: boolean } }>(
    '/instances',
    {
      schema: {
        summary: 'List instance ids (stored records that cannot be loaded included); ?detailed=true: each with whether it can be served, and why not',
        querystring: { type: 'object', properties: { detailed: { type: 'boolean', default: false } } },
        response: {
          200: {
            anyOf: [
              { type: 'array', items: { type: 'string' } },
              {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['instance_id', 'available'],
                  properties: { instance_id: { type: 'string' }, available: { type: 'boolean' }, detail: { type: 'string' } },
                },
              },
            ],
          },
        },
      },
    },
    async (request) => {
      if (!request.query.detailed) return registry.ids();
      return registry.ids().map((id) => {
        const entry = registry.lookup(id);
        return entry instanceof UnloadableRecord ? { instance_id: id, available: false, detail: entry.error().message } : { instance_id: id, available: true };
      });
    },
  );

  app.get<{ Params: IdParams }>(
    '/instances/:instance_id',
    {
      schema: {
        summary: 'One instance: its config; 503 with a detail when its stored record cannot be loaded',
        params: instanceParams,
        response: {
          200: { type: 'object', required: ['instance_id', 'available', 'config'], properties: { instance_id: { type: 'string' }, available: { type: 'boolean' }, config: { type: 'object', additionalProperties: true } } },
          ...errorResponses,
          503: storeResponses[503],
        },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      const config = configToSnakeCase(registry.get(id).quantizer.getConfig() as unknown as Record<string, unknown>);
      return { instance_id: id, available: true, config };
    },
  );

  app.post<{ Params: IdParams; Body: Record<string, unknown> }>(
    '/instances/:instance_id',
    {
      schema: {
        summary: 'Create an instance',
        params: instanceParams,
        body: quantizerConfigJsonSchema(),
        response: { 200: messageResponse, 409: { ...errorResponses[404], description: 'Instance exists' }, ...errorResponses, 507: storeResponses[507] },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      await registry.create(id, request.body);
      return { message: `Quantizer instance ${id} created successfully` };
    },
  );

  app.delete<{ Params: IdParams }>(
    '/instances/:instance_id',
    {
      schema: {
        summary: 'Delete an instance (not the default one), or a stored record that cannot be loaded',
        params: instanceParams,
        response: { 200: messageResponse, 403: errorResponses[404], ...errorResponses, 507: storeResponses[507] },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      const entry = registry.lookup(id);
      // Wait for its queued operations so none of them writes to a deleted row's successor.
      if (entry instanceof UnloadableRecord || entry === undefined) await registry.delete(id);
      else await entry.exclusive(() => registry.delete(id));
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
        body: quantizerConfigJsonSchema(),
        response: { 200: messageResponse, ...errorResponses, 503: storeResponses[503], 507: storeResponses[507] },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      const inst = registry.get(id);
      await inst.exclusive(() => registry.replaceConfig(inst, request.body));
      return { message: `Configuration for quantizer instance ${id} updated successfully` };
    },
  );
}
