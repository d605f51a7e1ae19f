import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { toHttpFailure } from '../http-errors.js';
import { OverloadedError } from './photo-admission.js';

export interface EventLoopGuardOptions {
  /** Mean event-loop delay (ms, over one sample interval) beyond which requests are shed; 0: never. */
  maxDelayMs: number;
  sampleMs: number;
  /** Routes always answered (probes and metrics must work precisely when the server is struggling). */
  exempt: ReadonlySet<string>;
  onRefused: () => void;
  /** Whether to shed at all: not while loading, whose synchronous steps delay the loop once, by design. */
  active: () => boolean;
}

/**
 * Load shedding on event-loop delay (@fastify/under-pressure). HNSW search and JSON serialisation
 * run on the main thread; when the loop falls behind, every request waits for it, so new ones are
 * refused at once with 503 overloaded. Retry-After: the delay is measured again after one sample
 * interval, and the backlog needs about the measured delay to clear.
 */
export async function registerEventLoopGuard(app: FastifyInstance, opts: EventLoopGuardOptions): Promise<void> {
  if (opts.maxDelayMs <= 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: opts.maxDelayMs,
    sampleInterval: opts.sampleMs,
    // Returning a body makes the plugin send it (and stop the request); returning nothing lets the request through.
    // Its typings say void, so the function is cast.
    pressureHandler: ((request: FastifyRequest, reply: FastifyReply, _type: string, value: number | undefined) => {
      if (opts.exempt.has(request.routeOptions.url ?? '') || !opts.active()) return undefined; // let it through
      // No reading (the loop did not turn once in the interval: one long synchronous step such as
      // loading the index) is not sustained overload; the next interval tells.
      if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
      opts.onRefused();
      const delay = value;
      const failure = toHttpFailure(new OverloadedError('event_loop', `the server is overloaded (event loop ${Math.round(delay)} ms behind); try again shortly`, opts.sampleMs + delay));
      request.log.warn({ eventLoopDelayMs: Math.round(delay) }, 'shedding load: event loop delayed');
      void reply.code(failure.status).headers(failure.headers);
      return failure.body;
    }) as never,
  });
}
