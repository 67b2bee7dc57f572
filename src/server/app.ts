import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { Store } from '../node/store/store.js';
import { bearerAuth } from './guards/auth.js';
import { errorHandler } from './errors/error-handler.js';
import { hostGuard } from './guards/host-guard.js';
import { InstanceRegistry } from './instances/instance-registry.js';
import { documentNdArrays, ndArrayKeyword } from './ndarray-keyword.js';
import { npyBodyToNdArray } from './body/npy-body.js';
import { Offloader } from './offload/offload.js';
import { originGuard } from './guards/origin-guard.js';
import { clientError, MAX_PARAM_LENGTH, routerError } from './errors/protocol-errors.js';
import { JsonBodyParser } from './body/parse-json-body.js';
import { streamBody } from './body/read-body.js';
import { RequestError } from './errors/request-error.js';
import { docsRoutes } from './routes/docs.js';
import { healthRoutes } from './routes/health.js';
import { flushStatsHook } from './instances/flush-stats-hook.js';
import { instanceRoutes } from './routes/instances.js';
import { operationRoutes } from './instances/operations.js';
import { parameterRoutes } from './routes/parameters.js';
import { uploadRoutes } from './routes/upload.js';
import { uiRoutes } from './routes/ui.js';
import type { ServerOptions } from './server-options.js';
import { SERVER_DEFAULTS } from './server-options.js';

export { NPY_MEDIA_TYPE } from './body/media-types.js';
import { NPY_MEDIA_TYPE } from './body/media-types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Top-level body keys parsed straight into NdArrays. */
    arrayKeys?: ReadonlySet<string>;
  }
  interface FastifyInstance {
    registry: InstanceRegistry;
    offloader: Offloader;
    serverOptions: ServerOptions;
    /** "METHOD /path" of every documented route, in registration order. */
    routeList: string[];
  }
}

export interface BuildAppOptions extends Partial<ServerOptions> {
  store: Store;
  /** A pino logger config, or false (tests). Default: pino at options.logLevel. */
  logger?: boolean | { level: string };
  /** Where pino writes (default stdout); tests pass a stream to read the request logs. */
  logStream?: { write(line: string): unknown };
  /** Named in every log line (`replica`), so the lines of many replicas can be told apart. */
  replicaId?: string;
}

const NO_KEYS: ReadonlySet<string> = new Set();

/**
 * The service as a fastify instance, not listening: tests drive it with app.inject, `quantkit serve`
 * calls listen. Closing it drains in-flight requests, stops the workers and closes the store.
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const opts: ServerOptions = { ...SERVER_DEFAULTS, ...stripUndefined(options) };
  const app = Fastify({
    bodyLimit: opts.bodyLimit,
    // Request logs carry method, url, status and timing; pino's default serializers drop bodies and headers.
    logger: options.logger ?? {
      level: opts.logLevel,
      ...(options.replicaId !== undefined ? { base: { pid: process.pid, replica: options.replicaId } } : {}),
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    ajv: {
      // Query strings need coercion ("?validate=false"); bodies get pydantic's lax coercion of "8" -> 8 with it.
      customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false },
      plugins: [ndArrayKeyword as never],
    },
    // Long ids must reach the schema (422 naming the rule) rather than the router's bare 414.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    frameworkErrors: routerError,
    clientErrorHandler: clientError,
  });
  app.decorate('serverOptions', opts);
  const offloader = new Offloader(opts.offloadThreshold);
  app.decorate('registry', await InstanceRegistry.open(options.store, { warn: (message) => app.log.warn(message), onDelete: (inst) => offloader.forget(inst.key) }));
  app.decorate('offloader', offloader);
  // While closing, answers end their connection, so a keep-alive client does not hold the
  // process open for the keep-alive timeout after its in-flight request was answered.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', async () => {
    // Last-used parameters are not written per request (that would be a disk write per quantize); a clean stop saves them.
    await app.offloader.close();
    await app.registry.stopWatch();
    await app.registry.persistAll();
    await options.store.close();
  });
  app.addHook('onSend', flushStatsHook(app));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ detail: `Not Found: ${request.method} ${request.url.split('?')[0]}` });
  });

  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: Readable) => {
    const header = request.headers['content-length'];
    const length = header === undefined || !Number.isSafeInteger(Number(header)) ? undefined : Number(header);
    const expectedBytes = length !== undefined && length <= opts.bodyLimit ? length : undefined;
    // Parsed as it streams in: a large array is read by the time its last byte arrives.
    const parser = new JsonBodyParser(request.routeOptions.config.arrayKeys ?? NO_KEYS, { expectedBytes });
    try {
      await streamBody(payload, opts.bodyLimit, length, (chunk) => parser.push(chunk));
      return parser.end();
    } finally {
      parser.release();
    }
  });
  app.addContentTypeParser(NPY_MEDIA_TYPE, { parseAs: 'buffer' }, (request, body, done) => {
    if (request.routeOptions.config.arrayKeys === undefined) {
      done(new RequestError(415, `${NPY_MEDIA_TYPE} bodies are accepted by quantize, dequantize and quantize_dequantize only`), undefined);
      return;
    }
    // Converted with turns of the event loop: a large integer body is 4M elements to convert.
    npyBodyToNdArray(body as Buffer).then(
      (data) => done(null, { data }),
      (e: unknown) => done(e as Error, undefined),
    );
  });

  // Before CORS and the key: a rebound name or a cross-site write is refused whatever else it carries.
  app.addHook('onRequest', hostGuard(opts.host, opts.allowedHosts));
  app.addHook('onRequest', originGuard(opts.corsOrigins));
  if (opts.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: opts.corsOrigins.includes('*') ? '*' : opts.corsOrigins,
      methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Content-Type', 'Authorization', 'Accept'],
      // A page reads the .npy answers' other fields and a download's name from these.
      exposedHeaders: ['X-Quantkit-Meta', 'Content-Disposition'],
    });
  }
  if (opts.apiKey !== undefined) app.addHook('onRequest', bearerAuth(opts.apiKey));

  await app.register(multipart, { limits: { fileSize: opts.bodyLimit, files: 1, fields: 16 } });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Quantizer API',
        version: '1.0.0',
        description: 'quantkit quantization service: the Quantizer API contract, persisted, validated and fast.',
      },
      components: opts.apiKey === undefined ? {} : { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: opts.apiKey === undefined ? [] : [{ bearer: [] }],
    },
    transform: ({ schema, url }) => ({ schema: documentNdArrays(schema) as typeof schema, url }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.decorate('routeList', [] as string[]);
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide || route.url.startsWith('/docs')) return;
    for (const m of [route.method].flat()) if (m !== 'HEAD') app.routeList.push(`${m} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
  });
  await app.register(docsRoutes);
  await app.register(healthRoutes);
  await app.register(instanceRoutes);
  await app.register(operationRoutes);
  await app.register(parameterRoutes);
  await app.register(uploadRoutes);
  await app.register(uiRoutes);
  return app;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
