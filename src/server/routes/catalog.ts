import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { ApiError } from '../http-errors.js';
import { idParamsSchema, imageParamsSchema } from '../schemas.js';
import { recipeView } from '../search-service.js';

export function registerCatalogRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: { id: string } }>('/v1/recipes/:id', { schema: { params: idParamsSchema } }, async (request) => {
    const { services } = ctx.ready();
    const row = services.rowById.get(request.params.id);
    if (row === undefined) throw new ApiError(404, 'recipe_not_found', `no recipe ${JSON.stringify(request.params.id.slice(0, 100))} in this index`);
    return recipeView(services.index.recipes[row]);
  });

  app.get<{ Params: { name: string } }>('/v1/images/:name', { schema: { params: imageParamsSchema } }, async (request, reply) => {
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
