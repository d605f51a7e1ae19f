import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE, errorCatalogueMarkdown, type ErrorCode } from './error-catalogue.js';
import { sharedSchemas } from './response-schemas.js';

/** Where the interactive page is; its OpenAPI document is at `${DOCS_PREFIX}/json`. */
export const DOCS_PREFIX = '/docs';

/**
 * The page's Content-Security-Policy: everything from this server (Swagger UI's files are served
 * from the npm package, nothing from the internet); React sets inline styles, hence 'unsafe-inline'
 * for styles only.
 */
const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The error responses of a route, one per status, each listing the catalogued codes it may carry.
 * `extra` adds a status a code reaches in one case only (e.g. too_many_images is 413 for a batch).
 */
export function errorResponses(codes: readonly ErrorCode[], extra: Partial<Record<ErrorCode, number>> = {}): Record<number, object> {
  const byStatus = new Map<number, ErrorCode[]>();
  const add = (status: number, code: ErrorCode) => byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  for (const code of codes) add(extra[code] ?? ERROR_CATALOGUE[code].status, code);
  return Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([status, list]) => [
    status, { description: list.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c].description}`).join('; '), $ref: 'Error#' },
  ]));
}

/**
 * Register the shared schemas, @fastify/swagger (collects every route registered after it) and the
 * Swagger UI page. Call before the routes.
 */
export async function registerApiDocs(app: FastifyInstance, version: string): Promise<void> {
  for (const schema of sharedSchemas) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'recipe-retrieval',
        version,
        description: [
          'Food image-to-recipe retrieval (HT + ingredient debiasing): post a photo of a dish, get recipes ranked by how well they match it.',
          'Every error is JSON `{"error": {"code", "message"}}` with a stable code:',
          '',
          // Folded: the table is long, and the operations should be the first thing seen.
          '<details><summary>the error codes, their statuses and meanings</summary>',
          '',
          errorCatalogueMarkdown(),
          '',
          '</details>',
        ].join('\n'),
      },
      tags: [
        { name: 'search', description: 'photos in, ranked recipes out' },
        { name: 'catalogue', description: 'the indexed recipes and their photos' },
        { name: 'evaluations', description: 'retrieval metrics of a dataset split, computed by the server' },
        { name: 'status', description: 'health, readiness, configuration, metrics' },
        { name: 'web', description: 'the page for people' },
      ],
    },
    // Shared schemas keep their $id as their name in components.schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    // No validator badge: it would fetch from validator.swagger.io.
    uiConfig: { layout: 'BaseLayout', validatorUrl: null, deepLinking: true, defaultModelsExpandDepth: 0, tryItOutEnabled: true } as Record<string, unknown>,
    theme: { title: 'recipe-retrieval API' },
  });
}
