import type { FastifyInstance } from 'fastify';

/**
 * For API answers (JSON, metrics, images): nothing in them is meant to run, so no source is
 * allowed. The web page's routes set their own, wider policy.
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Headers every answer carries, the raw ones written outside Fastify included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': API_CSP,
};

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** A client's X-Request-Id if it is a short token of safe characters (it goes into logs and headers). */
export function requestIdOf(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : undefined;
}

/** nosniff + a restrictive CSP on every answer (unless a route set its own CSP), the request id and Server-Timing. */
export function addResponseHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', API_CSP);
    reply.header('x-request-id', request.id);
    // The server's own time for this request, from its arrival (what the latency budget bounds).
    reply.header('server-timing', `total;dur=${reply.elapsedTime.toFixed(1)}`);
  });
}
