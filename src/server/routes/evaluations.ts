import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { resolveDatasetRoot } from '../dataset-path.js';
import type { EvaluationRequest } from '../evaluation-run.js';
import { ApiError } from '../http-errors.js';
import { evaluationBodySchema, idParamsSchema } from '../schemas.js';

/** The JSON body names the dataset; the server resolves its folder (`root`) inside the data folder. */
type EvaluationBody = Omit<EvaluationRequest, 'root'>;

export function registerEvaluationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: EvaluationBody }>('/v1/evaluations', { schema: { body: evaluationBodySchema } }, async (request, reply) => {
    const { jobs } = ctx.ready();
    const body = request.body;
    const root = await resolveDatasetRoot(ctx.config.dataDir, body.dataset);
    const job = jobs.submit({ ...body, root });
    reply.code(202).header('location', `/v1/evaluations/${job.id}`);
    return job;
  });

  app.get<{ Params: { id: string } }>('/v1/evaluations/:id', { schema: { params: idParamsSchema } }, async (request) => {
    const { jobs } = ctx.ready();
    const job = jobs.get(request.params.id);
    if (!job) throw new ApiError(404, 'evaluation_not_found', `no evaluation ${JSON.stringify(request.params.id)} (unknown, or forgotten after 100 newer ones)`);
    return job;
  });
}
