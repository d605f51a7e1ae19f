import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import { ApiError, retryAfterSeconds } from '../http-errors.js';

/**
 * No request outlives `timeoutMs` once its handler has started (the body has arrived by then: the
 * upload readers run before handlers). Every route's handler is raced against a timer; when the
 * timer wins the client gets 503 deadline_exceeded, and whatever the handler was waiting for is
 * left to finish (its admission ticket and upload bytes are released when it does). Fastify's own
 * requestTimeout only covers the time until the body has been received.
 */
export function applyHandlerDeadline(app: FastifyInstance, timeoutMs: number, opts: { exempt: ReadonlySet<string>; retryAfterMs: () => number }): void {
  app.addHook('onRoute', (route) => {
    if (opts.exempt.has(route.url)) return;
    const handler = route.handler as (...args: Parameters<RouteHandlerMethod>) => unknown;
    route.handler = function deadlineBound(this: FastifyInstance, request, reply) {
      const result = handler.call(this, request, reply);
      if (!(result instanceof Promise)) return result;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          request.log.warn({ timeoutMs }, 'handler deadline exceeded; answering 503');
          reject(new ApiError('deadline_exceeded', `the request was not answered within the server's ${timeoutMs} ms deadline`, { headers: { 'retry-after': retryAfterSeconds(opts.retryAfterMs()) } }));
        }, timeoutMs);
      });
      result.catch(() => {}); // if the deadline wins, a later failure of the handler is no one's to handle
      return Promise.race([result, deadline]).finally(() => clearTimeout(timer));
    } as RouteHandlerMethod;
  });
}
