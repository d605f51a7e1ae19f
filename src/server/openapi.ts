import { evaluationBodySchema, idParamsSchema, imageParamsSchema, searchQuerySchema } from './schemas.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const errorResponse = (description: string): Schema => ({ description, content: { 'application/json': { schema: ref('Error') } } });

const jsonResponse = (description: string, schema: Schema): Schema => ({ description, content: { 'application/json': { schema } } });

/** Query and path parameters in OpenAPI form, from the very schemas the routes validate with. */
function parameters(where: 'query' | 'path', schema: { properties: Record<string, unknown>; required?: readonly string[] }): Schema[] {
  return Object.entries(schema.properties).map(([name, s]) => ({
    name, in: where, required: where === 'path' || (schema.required ?? []).includes(name), schema: s,
    ...((s as { description?: string }).description ? { description: (s as { description: string }).description } : {}),
  }));
}

const photoBody = (many: boolean): Schema => ({
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: { image: many ? { type: 'array', items: { type: 'string', format: 'binary' } } : { type: 'string', format: 'binary' } },
      },
    },
    ...(many ? {} : { 'image/*': { schema: { type: 'string', format: 'binary' } } }),
  },
});

const photoErrors = {
  400: errorResponse('bad request: missing or extra fields, bad parameters, damaged photo (codes: invalid_parameter, missing_image, unexpected_field, too_many_images, empty, truncated, corrupt, extreme_aspect_ratio, invalid_multipart)'),
  413: errorResponse('photo over the byte or pixel limit (too_large, too_many_pixels)'),
  415: errorResponse('not an image, or an unsupported format such as HEIC (not_an_image, unsupported_format, unsupported_media_type)'),
  503: errorResponse('inference queue full (overloaded; see Retry-After), still loading (not_ready) or shutting down'),
};

const components = {
  schemas: {
    Error: {
      type: 'object', required: ['error'],
      properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
    },
    Recipe: {
      type: 'object',
      properties: {
        id: { type: 'string' }, title: { type: 'string' },
        ingredients: { type: 'array', items: { type: 'string' } }, instructions: { type: 'array', items: { type: 'string' } },
        images: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, url: { type: 'string' } } } },
        split: { type: 'string', description: 'the dataset split the recipe comes from (an index may span several)' },
      },
    },
    RankedRecipe: { allOf: [ref('Recipe'), { type: 'object', properties: { rank: { type: 'integer' }, score: { type: 'number', description: 'cosine similarity' } } }] },
    Ingredient: {
      type: 'object',
      properties: { name: { type: 'string' }, probability: { type: 'number' }, present: { type: 'boolean', description: 'probability >= 0.5' } },
    },
    SearchResult: {
      type: 'object',
      properties: {
        recipes: { type: 'array', items: ref('RankedRecipe') },
        ingredients: { type: 'array', items: ref('Ingredient'), description: 'labels with probability >= 0.5, then the next 5 best' },
        debias: { type: 'object', properties: { requested: { type: 'boolean' }, applied: { type: 'boolean' } } },
        timings: {
          type: 'object',
          properties: { decodeMs: { type: 'number' }, encodeMs: { type: 'number' }, searchMs: { type: 'number' }, totalMs: { type: 'number' } },
        },
      },
    },
    BatchResult: {
      type: 'object',
      properties: {
        count: { type: 'integer' }, failed: { type: 'integer' }, totalMs: { type: 'number' },
        results: {
          type: 'array',
          items: {
            description: 'one per photo, in request order: a SearchResult with ok=true, or ok=false with status and error',
            allOf: [{ type: 'object', properties: { index: { type: 'integer' }, filename: { type: ['string', 'null'] }, ok: { type: 'boolean' }, status: { type: 'integer' } } }],
            anyOf: [ref('SearchResult'), ref('Error')],
          },
        },
      },
    },
    Metrics: { type: 'object', properties: { medR: { type: 'number' }, r1: { type: 'number' }, r5: { type: 'number' }, r10: { type: 'number' } } },
    Evaluation: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
        request: { type: 'object' },
        progress: { type: 'object', properties: { phase: { type: 'string' }, done: { type: 'integer' }, total: { type: 'integer' } } },
        createdAt: { type: 'string' }, startedAt: { type: 'string' }, finishedAt: { type: 'string' }, error: { type: 'string' },
        result: {
          type: 'object',
          properties: {
            pairs: { type: 'integer' }, skipped: { type: 'integer' }, n: { type: 'integer' }, runs: { type: 'integer' }, seed: { type: 'integer' },
            metrics: { type: 'object', properties: { image_to_recipe: ref('Metrics'), recipe_to_image: ref('Metrics') } },
          },
        },
      },
    },
  },
};

/** The OpenAPI 3.1 description of the API (served at /docs). */
export function openApiDocument(version: string): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'recipe-retrieval',
      version,
      description: 'Food image-to-recipe retrieval (HT + ingredient debiasing). Every error is JSON {error: {code, message}}.',
    },
    paths: {
      '/v1/search': {
        post: {
          summary: 'Recipes for one photo',
          parameters: parameters('query', searchQuerySchema),
          requestBody: photoBody(false),
          responses: { 200: jsonResponse('ranked recipes, predicted ingredients, timings', ref('SearchResult')), ...photoErrors },
        },
      },
      '/v1/search/batch': {
        post: {
          summary: 'Recipes for several photos (one result per photo, in order; a bad photo fails alone)',
          parameters: parameters('query', searchQuerySchema),
          requestBody: photoBody(true),
          responses: { 200: jsonResponse('one entry per photo', ref('BatchResult')), ...photoErrors },
        },
      },
      '/v1/evaluations': {
        post: {
          summary: 'Start an evaluation (medR, R@1/5/10) of a dataset split under --data-dir; jobs run one at a time',
          requestBody: { required: true, content: { 'application/json': { schema: evaluationBodySchema } } },
          responses: {
            202: jsonResponse('the job (poll its Location)', ref('Evaluation')),
            400: errorResponse('invalid body, or a dataset path outside the data folder (path_outside_data_dir)'),
            403: errorResponse('evaluations disabled (no --data-dir)'),
            404: errorResponse('no such dataset folder'),
            429: errorResponse('too many evaluations waiting'),
          },
        },
      },
      '/v1/evaluations/{id}': {
        get: {
          summary: 'State, progress and (when done) the metrics of an evaluation',
          parameters: parameters('path', idParamsSchema),
          responses: { 200: jsonResponse('the job', ref('Evaluation')), 404: errorResponse('unknown evaluation') },
        },
      },
      '/v1/recipes/{id}': {
        get: {
          summary: 'One recipe of the index',
          parameters: parameters('path', idParamsSchema),
          responses: { 200: jsonResponse('the recipe', ref('Recipe')), 404: errorResponse('unknown recipe') },
        },
      },
      '/v1/images/{name}': {
        get: {
          summary: 'A photo of a recipe of the index (only names its recipes list)',
          parameters: parameters('path', imageParamsSchema),
          responses: { 200: { description: 'the image file', content: { 'image/*': {} } }, 404: errorResponse('not a photo of this index') },
        },
      },
      '/v1/info': { get: { summary: 'Model, index, execution provider, versions and limits', responses: { 200: jsonResponse('server information', { type: 'object' }) } } },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: jsonResponse('alive', { type: 'object' }) } } },
      '/readyz': { get: { summary: 'Readiness: model and index loaded', responses: { 200: jsonResponse('ready', { type: 'object' }), 503: jsonResponse('loading or failed', { type: 'object' }) } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': {} } } } } },
      '/docs': { get: { summary: 'This document', responses: { 200: jsonResponse('OpenAPI 3.1', { type: 'object' }) } } },
      '/': { get: { summary: 'Web page: choose or drop a photo, see the ranked recipes', responses: { 200: { description: 'HTML', content: { 'text/html': {} } } } } },
    },
    components,
  };
}

/** Every path+method the document describes, as "METHOD /path/:param" (for the drift test). */
export function documentedRoutes(doc: Schema): string[] {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
}
