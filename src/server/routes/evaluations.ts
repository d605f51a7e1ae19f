import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { resolveDatasetRoot } from '../dataset-path.js';
import type { EvaluationRequest } from '../evaluation-run.js';
import { ApiError } from '../http-errors.js';
import { errorResponses } from '../api-docs.js';
import { ref } from '../response-schemas.js';
import { evaluationBodySchema, idParamsSchema } from '../schemas.js';

/** The JSON body names the dataset; the server resolves its folder (`root`) inside the data folder. */
type EvaluationBody = Omit<EvaluationRequest, 'root'>;

export function registerEvaluationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: EvaluationBody }>('/v1/evaluations', {
    schema: {
      tags: ['evaluations'],
      summary: 'Start an evaluation of a dataset split',
      description: 'medR and R@1/5/10 in both directions, by the paper\'s protocol, of a dataset folder under the server\'s --data-dir. Jobs run one at a time next to search traffic; poll the Location.',
      body: evaluationBodySchema,
      response: {
        202: { description: 'the job, queued (its URL in Location)', ...ref('Evaluation') },
        ...errorResponses(['invalid_parameter', 'invalid_body', 'path_outside_data_dir', 'evaluations_disabled', 'dataset_not_found', 'too_many_evaluations', 'data_dir_missing', 'not_ready', 'shutting_down']),
      },
    },
  }, async (request, reply) => {
    const { jobs } = ctx.ready();
    const body = request.body;
    const root = await resolveDatasetRoot(ctx.config.dataDir, body.dataset);
    const job = jobs.submit({ ...body, root });
    reply.code(202).header('location', `/v1/evaluations/${job.id}`);
    return job;
  });

  app.get('/v1/evaluations', {
    schema: {
      tags: ['evaluations'],
      summary: 'Every evaluation remembered, newest first',
      description: 'All waiting and running jobs and the last 100 finished ones.',
      response: {
        200: { description: 'the jobs', type: 'object', required: ['evaluations'], properties: { evaluations: { type: 'array', items: ref('Evaluation') } } },
        ...errorResponses(['not_ready']),
      },
    },
  }, async () => {
    const { jobs } = ctx.ready();
    return { evaluations: jobs.list() };
  });

  app.get<{ Params: { id: string } }>('/v1/evaluations/:id', {
    schema: {
      tags: ['evaluations'],
      summary: 'State, progress and (when done) the metrics of an evaluation',
      params: idParamsSchema,
      response: { 200: { description: 'the job', ...ref('Evaluation') }, ...errorResponses(['evaluation_not_found', 'not_ready']) },
    },
  }, async (request) => {
    const { jobs } = ctx.ready();
    const job = jobs.get(request.params.id);
    if (!job) throw notFound(request.params.id);
    return job;
  });

  app.delete<{ Params: { id: string } }>('/v1/evaluations/:id', {
    schema: {
      tags: ['evaluations'],
      summary: 'Stop an evaluation and free its slot',
      description: 'A waiting job is cancelled at once; a running one is aborted, and the answer comes once it has stopped.',
      params: idParamsSchema,
      response: { 200: { description: 'the job, now cancelled', ...ref('Evaluation') }, ...errorResponses(['evaluation_not_found', 'evaluation_finished', 'not_ready']) },
    },
  }, async (request) => {
    const { jobs } = ctx.ready();
    const job = await jobs.cancel(request.params.id);
    if (!job) throw notFound(request.params.id);
    if (job.state !== 'cancelled') throw new ApiError('evaluation_finished', `evaluation ${job.id} has already ${job.state}; there is nothing to stop`);
    return job;
  });
}

function notFound(id: string): ApiError {
  return new ApiError('evaluation_not_found', `no evaluation ${JSON.stringify(id.slice(0, 100))} (unknown, or forgotten after 100 newer ones)`);
}
