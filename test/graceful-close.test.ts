import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { closeKeepAliveOnShutdown } from '../src/server/graceful-close.js';

/**
 * The shutdown hang seen once in the full suite: a response streaming when the server began to
 * close (its headers already out with keep-alive) left a socket that turned idle a moment later;
 * nothing closed it, so app.close() waited for Fastify's 72 s keep-alive timeout. Here the stream is
 * held open by the test until the server has stopped listening, so the timing is not left to chance.
 */
/** 'settled' if `promise` settles within `ms`, else 'timeout' (the timer keeps the test alive meanwhile). */
async function within(promise: Promise<unknown>, ms: number): Promise<'settled' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    return await Promise.race([promise.then(() => 'settled' as const), limit]);
  } finally {
    clearTimeout(timer);
  }
}

test('app.close() finishes a response streaming when it began, then closes its keep-alive socket', async (t) => {
  const app = Fastify({ logger: false });
  closeKeepAliveOnShutdown(app);
  const body = new Readable({ read() {} });
  app.get('/stream', async (_request, reply) => {
    reply.header('content-length', '10').header('content-type', 'application/octet-stream');
    body.push(Buffer.from('first'));
    return reply.send(body);
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());

  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${base}/stream`, { agent }, resolve).on('error', reject);
  });
  assert.equal(response.headers.connection, 'keep-alive', 'the headers left before the close began');
  const received = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  })();

  let closed = false;
  const closing = app.close().then(() => { closed = true; });
  // server.close() has run once the server stops listening: only then may the answer end.
  while (app.server.listening) await sleep(5);
  assert.equal(closed, false, 'close waits for the response in flight');
  body.push(Buffer.from('second'.slice(0, 5)));
  body.push(null);

  assert.equal(await received, 'firstsecon', 'the request in flight is answered in full');
  // Without the fix close() takes 72 s (the keep-alive timeout); 5 s leaves room for a loaded machine.
  // (close() resolving means Node's server.close() saw every connection end, the pooled one included.)
  assert.equal(await within(closing, 5000), 'settled', 'app.close() must not wait for the idle keep-alive socket');
});

test('a request arriving on a kept-alive connection during the close is answered with connection: close', async () => {
  const app = Fastify({ logger: false });
  closeKeepAliveOnShutdown(app);
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let entered: () => void = () => {};
  const inHandler = new Promise<void>((resolve) => { entered = resolve; });
  app.get('/slow', async () => {
    entered();
    await gate;
    return { ok: true };
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const pending = fetch(`${base}/slow`);
  // The request must be in its handler before the close begins (a fixed sleep is not enough on a loaded machine).
  await inHandler;
  const closing = app.close();
  while (app.server.listening) await sleep(5);
  release();
  const res = await pending;
  assert.equal(res.headers.get('connection'), 'close');
  assert.deepEqual(await res.json(), { ok: true });
  assert.equal(await within(closing, 5000), 'settled');
});
