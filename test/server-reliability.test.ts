import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { buildServer, type RetrievalServer } from '../src/server/app.js';
import type { ServerConfig } from '../src/server/config.js';
import { runCli } from './helpers/cli.js';
import { rawRequest } from './helpers/http.js';
import { createServerFixture, DEMO_ROOT, type ServerFixture } from './helpers/server-fixture.js';

/**
 * Reliability under bad and heavy traffic: every request is answered within a bound, overload is
 * refused early with an honest Retry-After, and the small leaks of the error answers are closed.
 * Timing assertions are one-sided (a slower machine makes them pass more easily, not fail).
 */

let fx: ServerFixture;
let photo: Buffer;
/** A 2400x1800 noisy JPEG (2.2 MB): a decode costs 50-200 ms, like a phone photo. */
let bigPhoto: Buffer;
/** A 1200x900 noisy JPEG (0.8 MB): a decode costs 10-40 ms. */
let mediumPhoto: Buffer;
let dataDir: string;
const open: RetrievalServer[] = [];

before(async () => {
  fx = await createServerFixture('rr-reliability-');
  photo = await fs.readFile(fx.photos[0]);
  const noise = Buffer.alloc(600 * 450 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  bigPhoto = await sharp(noise, { raw: { width: 600, height: 450, channels: 3 } }).resize(2400, 1800, { kernel: 'nearest' }).jpeg({ quality: 92 }).toBuffer();
  mediumPhoto = await sharp(bigPhoto).resize(1200, 900, { kernel: 'nearest' }).jpeg({ quality: 90 }).toBuffer();
  dataDir = path.join(fx.dir, 'data');
  await fs.mkdir(path.join(dataDir, 'demo', 'images'), { recursive: true });
  for (const f of ['test.pkl', 'test_noimages.pkl']) await fs.copyFile(path.join(DEMO_ROOT, f), path.join(dataDir, 'demo', f));
  await fs.cp(path.join(DEMO_ROOT, 'images', 'test'), path.join(dataDir, 'demo', 'images', 'test'), { recursive: true });
});

after(async () => {
  for (const s of open) await s.app.close().catch(() => {});
  await fx?.cleanup();
});

async function start(config: Partial<ServerConfig> = {}, waitUntilLoaded = true): Promise<{ server: RetrievalServer; url: string }> {
  const server = await buildServer({
    // Event-loop shedding only where a test is about it: this process also runs the test's clients,
    // and on a loaded machine its loop can fall a second behind for reasons of the test's own making.
    config: { modelDir: fx.modelDir, indexDir: fx.indexDir, device: 'cpu', imageWorkers: 1, threadsPerWorker: 1, maxEventLoopDelayMs: 0, ...config },
    logger: false,
    waitUntilLoaded,
  });
  open.push(server);
  const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
  return { server, url };
}

interface Answer { status: number; headers: Headers; json: any; ms: number }

async function send(url: string, init: RequestInit = {}, timeoutMs = 20_000): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json: any = text;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, ms: performance.now() - t0 };
}

const searchPhoto = (url: string, body: Buffer, query = 'k=2') => send(`${url}/v1/search?${query}`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });

/** A multipart body with one part that has no Content-Disposition header (so no field name). */
function namelessPart(size: number): Buffer {
  return Buffer.concat([Buffer.from('--XyZ\r\nContent-Type: image/jpeg\r\n\r\n'), Buffer.alloc(size, 65), Buffer.from('\r\n--XyZ--\r\n')]);
}
const MULTIPART_XYZ = { 'content-type': 'multipart/form-data; boundary=XyZ' };

test('a multipart part without Content-Disposition is answered 400 at once, small or large, on both search endpoints', async () => {
  const { url } = await start();
  for (const endpoint of ['/v1/search', '/v1/search/batch']) {
    for (const size of [1000, 20_000, 200_000]) {
      const res = await send(`${url}${endpoint}?k=5`, { method: 'POST', body: namelessPart(size), headers: MULTIPART_XYZ }, 10_000);
      assert.equal(res.status, 400, `${endpoint} ${size}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json.error.code, 'invalid_multipart', `${endpoint} ${size}`);
      assert.match(res.json.error.message, /no Content-Disposition/);
    }
  }
  // A part with a Content-Disposition but no name says so, not `unexpected form field "undefined"`.
  const unnamed = Buffer.from('--XyZ\r\nContent-Disposition: form-data; filename="a.jpg"\r\n\r\nabc\r\n--XyZ--\r\n');
  const res = await send(`${url}/v1/search`, { method: 'POST', body: unnamed, headers: MULTIPART_XYZ });
  assert.equal(res.status, 400);
  assert.doesNotMatch(res.json.error.message, /undefined/);
  assert.match(res.json.error.message, /no name/);
  // The server still answers real photos in both multipart and raw form.
  const form = new FormData();
  form.append('image', new Blob([photo]), 'dish.jpg');
  assert.equal((await send(`${url}/v1/search`, { method: 'POST', body: form })).status, 200);
});

test('shutdown with a nameless-part request open finishes promptly and answers it', async () => {
  const { server, url } = await start();
  const u = new URL(url);
  const body = namelessPart(100_000);
  const arrived = new Promise((resolve) => server.app.server.once('request', resolve));
  const answered = new Promise<number>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/v1/search', headers: { ...MULTIPART_XYZ, 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    // Send the body in two pieces, and close the server while the request is open.
    req.write(body.subarray(0, 50_000));
    setTimeout(() => {
      req.end(body.subarray(50_000));
    }, 100);
  });
  await arrived; // the server has the request (its body half sent) before it starts closing
  const t0 = performance.now();
  const closed = server.app.close();
  const status = await Promise.race([answered, new Promise<string>((r) => setTimeout(() => r('no answer within 10 s'), 10_000))]);
  assert.equal(status, 400);
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('close() did not finish within 10 s')), 10_000))]);
  assert.ok(performance.now() - t0 < 10_000);
});

test('a handler deadline: no request outlives it once its body has arrived', async () => {
  const { url } = await start({ handlerTimeoutMs: 1 });
  const res = await searchPhoto(url, bigPhoto);
  assert.equal(res.status, 503, JSON.stringify(res.json));
  assert.equal(res.json.error.code, 'deadline_exceeded');
  assert.ok(Number(res.headers.get('retry-after')) >= 1);
  // Cheap routes finish within any deadline worth having, and status routes are never cut.
  assert.equal((await send(`${url}/healthz`)).status, 200);
});

test('uploads held in memory are bounded: past the budget, requests are refused with 503 before their body is read', async () => {
  const { url, server } = await start({ uploadBudgetBytes: 3 * bigPhoto.length + 1000, decodePixelBudget: 4_400_000, latencyBudgetMs: 600_000 });
  const clients = 16;
  const answers = await Promise.all(Array.from({ length: clients }, () => searchPhoto(url, bigPhoto)));
  const statuses = answers.map((a) => a.status);
  assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses ${statuses}`);
  const refused = answers.filter((a) => a.status === 503);
  assert.ok(refused.length >= 1, `statuses ${statuses}: ${JSON.stringify(refused[0]?.json)}`);
  assert.ok(statuses.includes(200), `statuses ${statuses}: ${JSON.stringify(refused.map((r) => r.json.error.message))}`);
  assert.ok(statuses.includes(200), `statuses ${statuses}`);
  for (const r of refused) {
    assert.equal(r.json.error.code, 'overloaded');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  }
  // A chunked upload (no Content-Length) is counted as it arrives.
  const stream = new ReadableStream({ start(c) { c.enqueue(bigPhoto.subarray(0, 100_000)); c.enqueue(bigPhoto.subarray(100_000)); c.close(); } });
  const chunked = await send(`${url}/v1/search`, { method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'image/jpeg' } } as RequestInit);
  assert.equal(chunked.status, 200, JSON.stringify(chunked.json));
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /^admission_rejected_total\{reason="upload_budget"\} [1-9]\d*$/m);
  assert.match(metrics, /^upload_bytes_held 0$/m);
  void server;
});

test('admission by time: admitted requests are answered within the latency budget, the rest get 503 with an honest Retry-After', async () => {
  const budgetMs = 500;
  // The server's own time from the request's arrival (Server-Timing): this test's client shares the
  // process, so its clock also counts the time its own uploads hold the event loop.
  const serverMs = (a: Answer) => Number(/total;dur=([\d.]+)/.exec(a.headers.get('server-timing') ?? '')?.[1]);
  const burst = async (latencyBudgetMs: number, size: number) => {
    const { server, url } = await start({ latencyBudgetMs, maxQueue: 1000, uploadBudgetBytes: 1024 ** 3, maxEventLoopDelayMs: 0 });
    // The service rate is measured on real work first.
    for (let i = 0; i < 2; i++) await Promise.all(Array.from({ length: 16 }, () => searchPhoto(url, mediumPhoto)));
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: size }, () => searchPhoto(url, mediumPhoto)));
    const drainedMs = performance.now() - t0;
    const admitted = answers.filter((a) => a.status === 200).map(serverMs).sort((a, b) => a - b);
    const p99 = admitted[Math.min(admitted.length - 1, Math.ceil(admitted.length * 0.99) - 1)];
    const retry = await searchPhoto(url, mediumPhoto);
    await server.app.close();
    return { answers, admitted, p99, drainedMs, retry };
  };
  // The same burst without a latency budget (every request admitted, as before): the reference. It
  // must overload the server (a p99 of several budgets) for the comparison to mean anything; on a
  // fast machine, or when the client's uploads arrive as slowly as they are served, 192 photos may
  // not, so the burst grows until it does.
  let size = 192;
  let unbounded = await burst(3_600_000, size);
  while (unbounded.p99 < budgetMs * 3 && size < 768) { // 768 x 0.8 MB stays inside maxQueue and the upload budget
    size *= 2;
    unbounded = await burst(3_600_000, size);
  }
  const bounded = await burst(budgetMs, size);
  const refused = bounded.answers.filter((a) => a.status === 503);
  const summary = `burst of ${size}: p99 of admitted ${bounded.p99.toFixed(0)} ms (${bounded.admitted.length} admitted, budget ${budgetMs} ms); all admitted: p99 ${unbounded.p99.toFixed(0)} ms`;
  assert.ok(unbounded.p99 >= budgetMs * 3, `the burst never overloaded the server: ${summary}`);
  assert.equal(bounded.admitted.length + refused.length, bounded.answers.length, `statuses ${bounded.answers.map((a) => a.status)}`);
  assert.ok(bounded.admitted.length >= 1 && refused.length >= 1, summary);
  // The estimate follows a measured rate; in this test the client's own uploads share the
  // server's process and cores, which the photo path's rate does not see. So the checks are that the
  // tail is far shorter than without the budget, and within a loose multiple of the budget;
  // bench:overload measures the real p99 with the client in its own process.
  assert.ok(bounded.p99 <= unbounded.p99 * 0.7, summary);
  assert.ok(bounded.p99 <= budgetMs * 3, summary);
  for (const r of refused) {
    assert.equal(r.json.error.code, 'overloaded');
    const retryAfter = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `retry-after ${retryAfter}`);
    // Not inflated: the burst drained within that time (plus a second of rounding).
    assert.ok(retryAfter <= Math.ceil(bounded.drainedMs / 1000) + 1, `retry-after ${retryAfter} s, but the queue drained in ${bounded.drainedMs.toFixed(0)} ms`);
  }
  // And a retry after the burst is admitted.
  assert.equal(bounded.retry.status, 200);
});

test('event-loop load shedding: a blocked event loop answers 503 + Retry-After, status routes still answer, and it recovers', async () => {
  const { url } = await start({ maxEventLoopDelayMs: 30, eventLoopSampleMs: 250 });
  let spinning = true;
  // Hold the event loop 80 ms at a time, as a slow synchronous handler would: every tick is late by
  // ~70 ms, so the mean delay over each 250 ms interval is well over 30 ms however loaded the machine is.
  const spin = () => {
    const until = performance.now() + 80;
    while (performance.now() < until) { /* busy */ }
    if (spinning) setTimeout(spin, 0);
  };
  spin();
  const shed: Answer[] = [];
  try {
    await new Promise((r) => setTimeout(r, 600));
    // A few requests over a second: an interval in which the loop never turned (a descheduled
    // process) has no reading and lets requests through, so one request alone could pass.
    for (let i = 0; i < 6 && shed.length === 0; i++) {
      const res = await send(`${url}/v1/info`);
      if (res.status === 503) shed.push(res);
      else assert.equal(res.status, 200);
      assert.equal((await send(`${url}/readyz`)).status, 200, 'probes always answer');
    }
  } finally {
    spinning = false;
  }
  assert.equal(shed.length, 1, 'a request was shed while the event loop was held');
  assert.equal(shed[0].json.error.code, 'overloaded');
  assert.ok(Number(shed[0].headers.get('retry-after')) >= 1);
  let recovered = false;
  for (let i = 0; i < 50 && !recovered; i++) {
    await new Promise((r) => setTimeout(r, 200));
    recovered = (await send(`${url}/v1/info`)).status === 200;
  }
  assert.ok(recovered, 'answers 200 again once the event loop is free');
});

test('evaluations: a full queue answers 429 with Retry-After; DELETE cancels a job and frees its slot; GET lists them', async () => {
  const { url } = await start({ dataDir, maxQueuedEvaluations: 1 });
  const submit = () => send(`${url}/v1/evaluations`, { method: 'POST', body: JSON.stringify({ dataset: 'demo', n: 'all', runs: 100 }), headers: { 'content-type': 'application/json' } });
  const [a, b, c] = [await submit(), await submit(), await submit()];
  assert.deepEqual([a.status, b.status], [202, 202], JSON.stringify([a.json, b.json]));
  // a runs (or has just finished), b waits: c finds the queue full unless a finished already.
  if (c.status === 429) {
    assert.equal(c.json.error.code, 'too_many_evaluations');
    assert.ok(Number(c.headers.get('retry-after')) >= 1);
  } else {
    assert.equal(c.status, 202);
  }
  const deleted = await send(`${url}/v1/evaluations/${b.json.id}`, { method: 'DELETE' });
  assert.equal(deleted.status, 200, JSON.stringify(deleted.json));
  assert.equal(deleted.json.state, 'cancelled');
  assert.equal((await send(`${url}/v1/evaluations/${b.json.id}`)).json.state, 'cancelled');
  const running = await send(`${url}/v1/evaluations/${a.json.id}`, { method: 'DELETE' });
  assert.ok([200, 409].includes(running.status), JSON.stringify(running.json));
  if (running.status === 200) assert.equal(running.json.state, 'cancelled');
  else assert.equal(running.json.error.code, 'evaluation_finished');
  // The slot is free again.
  const d = await submit();
  assert.equal(d.status, 202, JSON.stringify(d.json));
  const list = await send(`${url}/v1/evaluations`);
  assert.equal(list.status, 200);
  assert.ok(list.json.evaluations.some((j: { id: string }) => j.id === b.json.id));
  assert.equal((await send(`${url}/v1/evaluations/0c6a9a4e-0000-4000-8000-000000000000`, { method: 'DELETE' })).status, 404);
  await send(`${url}/v1/evaluations/${d.json.id}`, { method: 'DELETE' });
});

test('small leaks: decimal-only integers, a short 414, our words for libvips errors, security headers, request ids', async () => {
  const { url } = await start();
  for (const q of ['k=0x10', 'k=%20%205', 'k=1e1', 'k=+5', 'k=05.0', 'ef=0b11', 'k=5&ef=%2050']) {
    const res = await searchPhoto(url, photo, q);
    assert.equal(res.status, 400, `${q}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error.code, 'invalid_parameter', q);
  }
  assert.equal((await searchPhoto(url, photo, 'k=16')).json.recipes.length, 16);

  const long = `/v1/images/${'a'.repeat(5000)}`;
  const tooLong = await rawRequest(url, 'GET', long);
  assert.equal(tooLong.status, 414);
  assert.ok(tooLong.body.length < 300, `414 body of ${tooLong.body.length} bytes`);
  assert.ok(!tooLong.body.toString().includes('a'.repeat(300)));

  // A damaged JPEG: the message is ours; libvips' own words stay in the log.
  const damaged = Buffer.from(photo);
  damaged.fill(0x55, 400, 2000);
  const truncated = await searchPhoto(url, photo.subarray(0, Math.floor(photo.length * 0.6)));
  assert.equal(truncated.status, 400, JSON.stringify(truncated.json));
  for (const res of [truncated, await searchPhoto(url, damaged)]) {
    if (res.status === 200) continue; // libjpeg may decode the damaged one with a warning only
    assert.doesNotMatch(res.json.error.message, /vips|jpeg|glib|Premature|\(/i);
  }

  for (const p of ['/v1/info', '/healthz', '/v1/nothing', '/metrics']) {
    const res = await send(`${url}${p}`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', p);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/, p);
  }
  assert.match((await send(`${url}/`)).headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const tooLongHeaders = await rawRequest(url, 'GET', long);
  assert.equal(tooLongHeaders.headers['x-content-type-options'], 'nosniff');

  const echoed = await send(`${url}/healthz`, { headers: { 'x-request-id': 'client-42.a' } });
  assert.equal(echoed.headers.get('x-request-id'), 'client-42.a');
  const generated = await send(`${url}/healthz`);
  assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const hostile = await send(`${url}/healthz`, { headers: { 'x-request-id': 'x'.repeat(500) } });
  assert.match(hostile.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

test('/healthz does not claim ok while loading or after loading failed', async () => {
  const missing = path.join(fx.dir, 'no-such-index');
  const { server, url } = await start({ indexDir: missing }, false);
  const during = await send(`${url}/healthz`);
  await server.loaded.catch(() => {});
  assert.notDeepEqual(during.json, { status: 'ok' });
  const failed = await send(`${url}/healthz`);
  assert.equal(failed.status, 503);
  assert.equal(failed.json.status, 'failed');
});

test('serve --help lists exactly the evaluation routes the server has', async () => {
  const help = runCli(['serve', '--help']);
  assert.equal(help.status, 0, help.stderr);
  const { server } = await start();
  const text = help.stdout;
  for (const route of ['GET /v1/evaluations', 'DELETE /v1/evaluations/:id']) {
    assert.ok(server.routes.includes(route), `the server has ${route}`);
  }
  assert.match(text, /GET \/v1\/evaluations\b/);
  assert.match(text, /DELETE \/v1\/evaluations\/:id/);
});
