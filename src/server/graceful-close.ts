import type { FastifyInstance } from 'fastify';

/**
 * Let `app.close()` finish once the requests in flight are answered, whatever keep-alive clients do.
 *
 * Node's `server.close()` (which Fastify calls after its preClose hooks) destroys only the
 * connections idle at that instant. A response already streaming then (a photo from
 * /v1/images: its headers went out with `keep-alive`, its body still piping from the file) leaves
 * behind a socket that turns idle a moment later and is never closed: the client (undici pools
 * sockets) keeps it open, Node keeps it for Fastify's keepAliveTimeout (72 s), and `close()` waits
 * for it. Measured: a SIGTERM 3 ms after a photo request left exactly that socket open and `serve`
 * hit its 30 s grace limit. So, while closing:
 * - answers that have not sent their headers yet say `connection: close` (the client will not reuse
 *   the socket);
 * - after every answer, the connections that have become idle are closed. Node's
 *   closeIdleConnections() skips any socket with a request being received or a response not yet
 *   ended, so requests in flight still finish.
 * `forceCloseConnections: true` would instead cut requests in flight, which a graceful stop must not.
 */
export function closeKeepAliveOnShutdown(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async () => {
    // On the next turn: Node detaches the finished response from its socket in its own 'finish'
    // listener, and only then does the socket count as idle.
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
}
