import type { FastifyInstance } from 'fastify';

/** GET / (health, never behind the API key), GET /documentation (the contract's summary), GET /openapi.json. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { schema: { summary: 'Health check', security: [] } }, async () => ({ status: 'healthy', service: 'Quantizer API' }));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/documentation', { schema: { summary: 'API documentation and usage examples' } }, async () => ({
    title: 'Quantizer API',
    description: 'Create quantizer instances, quantize, dequantize, calibrate, and manage their parameters.',
    openapi: '/openapi.json',
    interactive: '/docs',
    endpoints: app.routeList,
    examples: {
      create_instance: `curl -X POST "http://localhost:8000/instances/custom_quantizer" -H "Content-Type: application/json" -d '{"quantization_type": "INT8", "num_bits": 8, "symmetric": true}'`,
      quantize: `curl -X POST "http://localhost:8000/instances/default/quantize" -H "Content-Type: application/json" -d '{"data": [[1.2, 3.4, 5.6], [7.8, 9.0, 2.1]], "validate": true}'`,
      quantize_npy: `curl -X POST "http://localhost:8000/instances/default/quantize" -H "Content-Type: application/x-npy" -H "Accept: application/x-npy" --data-binary @x.npy -o codes.npy`,
      upload_numpy: `curl -X POST "http://localhost:8000/instances/default/upload_numpy?operation=quantize" -F "file=@x.npy"`,
    },
  }));
}
