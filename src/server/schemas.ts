import { SPLITS } from '../data/recipe.js';
import { MAX_EF, MAX_K } from '../index/recipe-index.js';
import { DIRECTIONS } from '../eval/protocol.js';

/**
 * Request schemas: Fastify validates with them (extra properties are refused, not dropped) and the
 * OpenAPI document (/docs) is generated from the same objects, so the two cannot disagree.
 */

export const searchQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    k: { type: 'integer', minimum: 1, maximum: MAX_K, default: 10, description: 'recipes to return' },
    debias: { type: 'boolean', default: true, description: 'search with the debiased image embedding e_I + pi V (no effect for a model without debiasing)' },
    ef: { type: 'integer', minimum: 1, maximum: MAX_EF, description: `HNSW search breadth, k..${MAX_EF} (default: the index's)` },
  },
} as const;

export const evaluationBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dataset'],
  properties: {
    dataset: { type: 'string', minLength: 1, maxLength: 512, description: 'dataset folder in the Recipe1M layout, relative to the server\'s --data-dir' },
    split: { type: 'string', enum: [...SPLITS], default: 'test' },
    n: {
      anyOf: [{ type: 'integer', minimum: 1, maximum: 1_000_000 }, { type: 'string', enum: ['all'] }],
      description: 'pairs per ranking subset, or "all" (default 1000, or all when the split has fewer)',
    },
    runs: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'random subsets averaged' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'seed of the subset draws' },
    directions: { type: 'array', items: { type: 'string', enum: [...DIRECTIONS] }, minItems: 1, uniqueItems: true, default: [...DIRECTIONS] },
    debias: { type: 'boolean', default: true, description: 'rank with the debiased image embeddings' },
    withNoImages: { type: 'boolean', default: false, description: 'add the split\'s text-only recipes to the image->recipe gallery' },
  },
} as const;

export const idParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export const imageParamsSchema = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

/**
 * The photo body of /v1/search (multipart field "image", or a raw image/* body) and of
 * /v1/search/batch (multipart only, one field per photo), for the documentation: the handlers read
 * the stream themselves, so Fastify does not validate it.
 */
export function photoBodySchema(many: boolean) {
  const file = { type: 'string', format: 'binary', description: 'a JPEG, PNG, WebP, GIF, AVIF or TIFF photo' };
  return {
    content: {
      'multipart/form-data': {
        schema: {
          type: 'object',
          required: ['image'],
          properties: { image: many ? { type: 'array', items: file, description: 'one file field "image" per photo' } : file },
        },
      },
      ...(many ? {} : { 'image/*': { schema: file } }),
    },
  };
}
