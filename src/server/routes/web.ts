import { promises as fs } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { fromRoot } from '../../util/paths.js';

/** The page's three files, served by exact name (no directory is exposed). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

const CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function registerWebRoutes(app: FastifyInstance): Promise<void> {
  for (const [route, asset] of Object.entries(ASSETS)) {
    // Read once at start: plain files in src/server/public, no build step.
    const body = await fs.readFile(fromRoot('src', 'server', 'public', asset.file));
    const schema = route === '/'
      ? { tags: ['web'], summary: 'Web page: choose or drop a photo, see the ranked recipes', produces: ['text/html'], response: { 200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } } }
      : { hide: true };
    app.get(route, { schema }, async (_request, reply) => {
      reply.header('content-type', asset.type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache');
      return body;
    });
  }
}
