import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { statusOf, type ErrorCode } from './error-catalogue.js';
import { toHttpFailure } from './http-errors.js';
import { SECURITY_HEADERS } from './http/response-headers.js';

/**
 * Errors Fastify raises before a route runs (URL too long, undecodable URL, bad content type):
 * answered in the API's JSON error format like every other error.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const failure = toHttpFailure(error);
  void reply.code(failure.status).headers({ ...SECURITY_HEADERS, 'x-request-id': request.id, ...failure.headers }).send(failure.body);
}

/**
 * Errors the HTTP parser raises before there is a request (malformed request line, a body longer
 * than its Content-Length, oversized headers): a plain HTTP answer on the socket, JSON like the rest.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [reason, code, message]: [string, ErrorCode, string] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? ['Request Timeout', 'timeout', 'the request took too long to arrive']
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? ['Request Header Fields Too Large', 'headers_too_large', 'the request headers are too large']
      : ['Bad Request', 'bad_request', 'malformed HTTP request'];
  const status = statusOf(code);
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    const security = Object.entries(SECURITY_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${security}Connection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
