import { errorDetailSchema } from './error-catalogue.js';
import { evaluationBodySchema } from './schemas.js';

/**
 * Response schemas. Fastify serialises each route's answers with them (fast-json-stringify: faster
 * than JSON.stringify, and a property left out of a schema is left out of the answer, so these list
 * every field the handlers return) and /docs shows them. Shared ones are registered with their $id
 * (`app.addSchema`) and referenced as `{ $ref: 'Name#' }`; they appear in the OpenAPI document's
 * components under the same names.
 */

const metricsProperties = {
  medR: { type: 'number', description: 'median rank of the true match (1 = always first)' },
  r1: { type: 'number', description: 'percent of queries whose true match ranks first' },
  r5: { type: 'number', description: 'percent within the top 5' },
  r10: { type: 'number', description: 'percent within the top 10' },
} as const;

/** One photo's answer: ranked recipes, predicted ingredients, timings. */
const searchResultSchema = {
  type: 'object',
  required: ['recipes', 'ingredients', 'debias', 'timings'],
  properties: {
    recipes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rank', 'id', 'score', 'title', 'ingredients', 'instructions', 'images', 'split'],
        properties: {
          rank: { type: 'integer', description: '1 = best match' },
          score: { type: 'number', description: 'cosine similarity of the photo\'s and the recipe\'s embeddings (-1..1); it ranks, it is not a probability' },
          id: { type: 'string' },
          title: { type: 'string' },
          ingredients: { type: 'array', items: { type: 'string' } },
          instructions: { type: 'array', items: { type: 'string' } },
          images: { type: 'array', items: { type: 'object', required: ['name', 'url'], properties: { name: { type: 'string' }, url: { type: 'string' } } } },
          split: { type: 'string' },
        },
      },
    },
    ingredients: {
      type: 'array',
      description: 'labels with probability >= 0.5, then the next 5 best',
      items: {
        type: 'object',
        required: ['name', 'probability', 'present'],
        properties: { name: { type: 'string' }, probability: { type: 'number' }, present: { type: 'boolean', description: 'probability >= 0.5' } },
      },
    },
    debias: { type: 'object', required: ['requested', 'applied'], properties: { requested: { type: 'boolean' }, applied: { type: 'boolean' } } },
    timings: {
      type: 'object',
      required: ['decodeMs', 'encodeMs', 'searchMs', 'totalMs'],
      properties: { decodeMs: { type: 'number' }, encodeMs: { type: 'number' }, searchMs: { type: 'number' }, totalMs: { type: 'number' } },
    },
  },
} as const;

export const sharedSchemas = [
  { $id: 'Error', type: 'object', required: ['error'], properties: { error: errorDetailSchema }, description: 'every error answer' },
  {
    $id: 'Recipe',
    type: 'object',
    required: ['id', 'title', 'ingredients', 'instructions', 'images', 'split'],
    properties: {
      id: { type: 'string' },
      title: { type: 'string' },
      ingredients: { type: 'array', items: { type: 'string' } },
      instructions: { type: 'array', items: { type: 'string' } },
      images: {
        type: 'array',
        items: { type: 'object', required: ['name', 'url'], properties: { name: { type: 'string' }, url: { type: 'string', description: 'GET it for the photo' } } },
      },
      split: { type: 'string', description: 'the dataset split the recipe comes from (an index may span several)' },
    },
  },
  { $id: 'SearchResult', ...searchResultSchema },
  {
    $id: 'Evaluation',
    type: 'object',
    required: ['id', 'state', 'request', 'progress', 'createdAt'],
    properties: {
      id: { type: 'string' },
      state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
      request: { type: 'object', description: 'the request as accepted (defaults filled in)', properties: withoutDefaults(evaluationBodySchema.properties) },
      progress: {
        type: 'object',
        required: ['phase', 'done', 'total'],
        properties: { phase: { type: 'string', enum: ['queued', 'reading', 'images', 'recipes', 'ranking', 'done'] }, done: { type: 'integer' }, total: { type: 'integer' } },
      },
      createdAt: { type: 'string', format: 'date-time' },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      error: { type: 'string', description: 'why the evaluation failed or was cancelled' },
      result: {
        type: 'object',
        properties: {
          pairs: { type: 'integer', description: 'photo-recipe pairs of the split used' },
          skipped: { type: 'integer', description: 'pairs left out because their photo could not be read' },
          skippedExamples: { type: 'array', items: { type: 'string' } },
          n: { type: 'integer', description: 'pairs per ranking subset' },
          runs: { type: 'integer' },
          seed: { type: 'integer' },
          galleryExtra: { type: 'integer', description: 'text-only recipes added to the image->recipe gallery' },
          debias: { type: 'object', properties: { requested: { type: 'boolean' }, applied: { type: 'boolean' } } },
          metrics: {
            type: 'object',
            properties: { image_to_recipe: { $ref: 'RankMetrics#' }, recipe_to_image: { $ref: 'RankMetrics#' } },
          },
          seconds: { type: 'number' },
        },
      },
    },
  },
  {
    $id: 'RankMetrics',
    type: 'object',
    description: 'means over the runs, and their standard deviations',
    properties: { ...metricsProperties, std: { type: 'object', properties: metricsProperties } },
  },
] as const;

/** A request schema's properties as response properties: what was sent back is never defaulted again. */
function withoutDefaults<T extends Record<string, object>>(properties: T): Record<keyof T, object> {
  return Object.fromEntries(Object.entries(properties).map(([name, schema]) => {
    const { default: _default, ...rest } = schema as { default?: unknown };
    return [name, rest];
  })) as Record<keyof T, object>;
}

export const ref = (id: (typeof sharedSchemas)[number]['$id']) => ({ $ref: `${id}#` });

/** One photo's entry in a batch answer: a search result (ok) or an error (not ok), in request order. */
export const batchResultSchema = {
  type: 'object',
  required: ['results', 'count', 'failed', 'totalMs'],
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        description: 'ok: the fields of a SearchResult; not ok: status and error',
        required: ['index', 'filename', 'ok'],
        properties: {
          index: { type: 'integer', description: 'position of the photo in the request' },
          filename: { type: ['string', 'null'] },
          ok: { type: 'boolean' },
          status: { type: 'integer', description: 'HTTP status this photo alone would have got (not ok only)' },
          error: errorDetailSchema,
          ...searchResultSchema.properties,
        },
      },
    },
    count: { type: 'integer' },
    failed: { type: 'integer' },
    totalMs: { type: 'number' },
  },
} as const;

const evaluationMetrics = { type: 'object', properties: metricsProperties } as const;

const statusSchema = (description: string) => ({
  type: 'object', description, required: ['status'], properties: { status: { type: 'string' }, error: errorDetailSchema },
});

export const healthSchema = statusSchema('alive');
export const readySchema = statusSchema('"ready", or "loading"/"failed" with an error (503)');

/** /v1/info: what is loaded and how the server is configured. */
export const infoSchema = {
  type: 'object',
  required: ['server', 'versions', 'provider', 'model', 'index', 'limits', 'evaluations'],
  properties: {
    server: {
      type: 'object',
      properties: { name: { type: 'string' }, version: { type: 'string' }, startedAt: { type: 'string', format: 'date-time' }, uptimeSeconds: { type: 'integer' } },
    },
    versions: { type: 'object', description: 'node, fastify, onnxruntime, hnswlib, sharp, libvips', additionalProperties: { type: 'string' } },
    provider: {
      type: 'object',
      description: 'the onnxruntime execution provider each pool runs on, and the one asked for',
      properties: { image: { type: 'string' }, recipe: { type: 'string' }, requested: { type: 'string' } },
    },
    model: {
      type: 'object',
      properties: {
        id: { type: 'string' }, stage: { type: 'string' }, preset: { type: 'string' }, createdAt: { type: 'string' },
        producer: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } } },
        embeddingDim: { type: 'integer' }, labels: { type: 'integer' }, vocabularyWords: { type: 'integer' },
        debias: { type: 'object', properties: { active: { type: 'boolean' }, reason: { type: 'string' }, keepThreshold: { type: 'number' } } },
        preprocessing: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
        source: { type: 'object', properties: { runName: { type: 'string' }, stage: { type: 'string' }, epoch: { type: 'integer' } } },
        manifestSha256: { type: 'string' },
        evaluation: {
          type: 'object',
          description: 'the model\'s measured retrieval quality, as its manifest records it (absent when never measured): R@K in percent of photos whose recipe ranks in the top K, medR the median rank; chance is a random ranking of the same candidates',
          properties: {
            summary: { type: 'string', description: 'in one line, e.g. "right recipe in the top 10 for 50% of 28 unseen photos; chance 36%"' },
            split: { type: 'string' }, pairs: { type: 'integer' }, n: { type: 'integer', description: 'recipes each photo was ranked against' }, runs: { type: 'integer' },
            embedding: { type: 'string', enum: ['debiased', 'plain'] },
            imageToRecipe: evaluationMetrics, recipeToImage: evaluationMetrics, chance: evaluationMetrics,
            withNoImages: { type: 'object', properties: { gallery: { type: 'integer' }, imageToRecipe: evaluationMetrics, chance: evaluationMetrics } },
            source: { type: 'string' },
          },
        },
      },
    },
    index: {
      type: 'object',
      properties: {
        count: { type: 'integer' }, width: { type: 'integer' }, space: { type: 'string' },
        hnsw: { type: 'object', properties: { M: { type: 'integer' }, efConstruction: { type: 'integer' }, efSearch: { type: 'integer' }, seed: { type: 'integer' } } },
        efSearch: { type: 'integer' },
        dataset: { type: 'object', properties: { root: { type: 'string' }, splits: { type: 'array', items: { type: 'string' } } } },
        builtAt: { type: 'string' }, photos: { type: 'integer' },
      },
    },
    limits: { type: 'object', additionalProperties: { type: 'number' } },
    evaluations: { type: 'object', properties: { enabled: { type: 'boolean' } } },
  },
} as const;
