import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Where the built dashboard is: dist/web beside dist/server when running the build
 * (dist/server/routes/ui.js -> dist/web), or the repository's dist/web when the service runs from
 * its TypeScript sources (tests).
 */
export function findWebRoot(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, '../../web'), resolve(here, '../../../dist/web')]) {
    // From the sources, ../../web is src/web (the unbuilt page): only a built folder has assets/.
    if (existsSync(join(candidate, 'index.html')) && existsSync(join(candidate, 'assets'))) return candidate;
  }
  return null;
}

/**
 * GET /ui: the dashboard (src/web, bundled by `npm run build` into dist/web). Serves index.html and
 * the hashed files under assets/ only, never a path outside that folder. The page itself holds no
 * secret, so it is open even with an API key (auth.ts lets GET /ui through); every API call the page
 * makes carries the key.
 */
export async function uiRoutes(app: FastifyInstance, options: { webRoot?: string | null } = {}): Promise<void> {
  const root = options.webRoot === undefined ? findWebRoot() : options.webRoot;
  const notBuilt = { detail: 'The dashboard is not built: run npm run build (it bundles src/web into dist/web)' };

  const sendIndex = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    if (root === null) return reply.code(404).send(notBuilt);
    const html = await readFile(join(root, 'index.html'));
    // Asset names carry a content hash; the page that names them must not be cached past a rebuild.
    return reply.header('content-type', CONTENT_TYPES['.html']).header('cache-control', 'no-cache').send(html);
  };

  app.get('/ui', { schema: { hide: true } }, (_req, reply) => reply.redirect('/ui/', 302));
  app.get('/ui/', { schema: { hide: true } }, sendIndex);
  app.get<{ Params: { file: string } }>('/ui/assets/:file', { schema: { hide: true } }, async (request, reply) => {
    if (root === null) return reply.code(404).send(notBuilt);
    const name = request.params.file;
    const ext = /\.[a-z0-9]+$/i.exec(name)?.[0].toLowerCase() ?? '';
    const assets = join(root, 'assets');
    const path = resolve(assets, name);
    // Only plain file names inside assets/ (no separators, no dot-dot, a known type).
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.') || !path.startsWith(assets + sep) || CONTENT_TYPES[ext] === undefined) {
      return reply.code(404).send({ detail: `Not Found: /ui/assets/${name}` });
    }
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      return reply.code(404).send({ detail: `Not Found: /ui/assets/${name}` });
    }
    return reply.header('content-type', CONTENT_TYPES[ext]).header('cache-control', 'public, max-age=31536000, immutable').send(body);
  });
}
