import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { ApiError } from '../http-errors.js';
import { errorResponses } from '../api-docs.js';
import { ref } from '../response-schemas.js';
import { idParamsSchema, imageParamsSchema } from '../schemas.js';
import { recipeView } from '../search-service.js';

export function registerCatalogRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: { id: string } }>('/v1/recipes/:id', {
    schema: {
      tags: ['catalogue'],
      summary: 'One recipe of the index',
      description: 'By the `id` of a search result.',
      params: idParamsSchema,
      response: { 200: { description: 'the recipe', ...ref('Recipe') }, ...errorResponses(['recipe_not_found', 'not_ready']) },
    },
  }, async (request) => {
    const { services } = ctx.ready();
    const row = services.rowById.get(request.params.id);
    if (row === undefined) throw new ApiError('recipe_not_found', `no recipe ${JSON.stringify(request.params.id.slice(0, 100))} in this index`);
    return recipeView(services.index.recipes[row]);
  });

  app.get<{ Params: { name: string } }>('/v1/images/:name', {
    schema: {
      tags: ['catalogue'],
      summary: 'A photo of a recipe of the index',
      description: 'Only names that the index\'s recipes list (a search result\'s `images[].url`).',
      params: imageParamsSchema,
      produces: ['image/*'],
      response: {
        200: { description: 'the image file', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } },
        ...errorResponses(['image_not_found', 'url_too_long', 'not_ready']),
      },
    },
  }, async (request, reply) => {
    const { services } = ctx.ready();
    const image = await services.catalog.resolve(request.params.name);
    reply
      .header('content-type', image.contentType)
      .header('content-length', String(image.bytes))
      .header('cache-control', 'public, max-age=86400')
      .header('x-content-type-options', 'nosniff');
    return reply.send(createReadStream(image.file));
  });
}
