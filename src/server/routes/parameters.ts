import type { FastifyInstance } from 'fastify';
import { STATS_FIELD_NAMES } from '../../engine/quantizer-stats.js';
import type { QuantizerStats } from '../../engine/quantizer-stats.js';
import { configToSnakeCase } from '../../contract/config-names.js';
import { jsonSafe } from '../body/json-safe.js';
import { errorResponses, importParametersRequest, instanceParams, layerParams, messageResponse, statsResponse } from '../schemas.js';

type IdParams = { instance_id: string };

/** Statistics, cache, parameter export/import and per-layer parameters. */
export async function parameterRoutes(app: FastifyInstance): Promise<void> {
  const { registry } = app;

  app.get<{ Params: IdParams }>(
    '/instances/:instance_id/stats',
    {
      schema: {
        summary: 'Quantization statistics: every replica\'s counts on PostgreSQL (kept), this process\'s on SQLite (they start at zero after a restart)',
        params: instanceParams,
        response: { 200: statsResponse, ...errorResponses },
      },
    },
    async (request) => {
      const s: QuantizerStats = { ...(await registry.stats(registry.get(request.params.instance_id))), cacheHits: 0, cacheMisses: 0 };
      const out: Record<string, unknown> = {};
      for (const [k, name] of Object.entries(STATS_FIELD_NAMES)) out[name] = s[k as keyof QuantizerStats];
      return { ...(jsonSafe(out) as object), persisted: registry.sharedStats };
    },
  );

  app.post<{ Params: IdParams }>(
    '/instances/:instance_id/clear_cache',
    { schema: { summary: 'Drop the dequantization table cache', params: instanceParams, response: { 200: messageResponse, ...errorResponses } } },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      await inst.exclusive(() => inst.quantizer.clearCache());
      return { message: 'Cache cleared successfully' };
    },
  );

  app.post<{ Params: IdParams }>(
    '/instances/:instance_id/reset_stats',
    { schema: { summary: 'Reset the statistics', params: instanceParams, response: { 200: messageResponse, ...errorResponses } } },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      await inst.exclusive(() => registry.resetStats(inst));
      return { message: 'Statistics reset successfully' };
    },
  );

  app.get<{ Params: IdParams }>(
    '/instances/:instance_id/parameters',
    { schema: { summary: 'Export every calibrated and last-used parameter (versioned JSON, what POST takes back)', params: instanceParams, response: errorResponses } },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      return inst.exclusive(() => jsonSafe(inst.quantizer.exportParameters()));
    },
  );

  app.post<{ Params: IdParams; Body: { parameters: unknown } }>(
    '/instances/:instance_id/parameters',
    { schema: { summary: 'Import parameters exported before (then quantize reproduces the codes)', params: instanceParams, body: importParametersRequest, response: { 200: messageResponse, ...errorResponses } } },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      // Checked and written first, taken on after: a failed write leaves the instance's parameters as they were.
      await inst.exclusive(() => registry.importParameters(inst, request.body.parameters));
      return { message: 'Parameters imported successfully' };
    },
  );

  app.get<{ Params: { instance_id: string; layer_name: string } }>(
    '/instances/:instance_id/layer_params/:layer_name',
    { schema: { summary: "A layer's effective settings and parameters", params: layerParams, response: errorResponses } },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      const p = inst.quantizer.getLayerParams(request.params.layer_name);
      return jsonSafe({
        layer_name: p.layerName,
        quantization_mode: p.quantizationMode,
        effective: configToSnakeCase(p.effective as unknown as Record<string, unknown>),
        active: p.active,
        calibrated: p.calibrated,
        last: p.last,
        scale: p.active?.scale[0] ?? null,
        zero_point: p.active?.zero_point[0] ?? null,
      });
    },
  );
}
