import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OverloadedError, PhotoAdmission } from '../src/server/admission/photo-admission.js';
import { UploadBudget, UploadCharge } from '../src/server/admission/upload-budget.js';
import { EvaluationJobs } from '../src/server/evaluation-jobs.js';
import { ApiError } from '../src/server/http-errors.js';
import { WeightedSemaphore } from '../src/runtime/semaphore.js';

test('PhotoAdmission: one photo is always admitted when idle; past maxInFlight it refuses queue_full; tickets release once', () => {
  const refusals: string[] = [];
  const admission = new PhotoAdmission({ maxInFlight: 3, latencyBudgetMs: 60_000, onRefused: (r) => refusals.push(r) });
  const a = admission.admit(5); // larger than the bound, but nothing is in flight: served alone
  assert.equal(admission.photosInFlight, 5);
  assert.throws(() => admission.admit(1), (err: unknown) => err instanceof OverloadedError && err.reason === 'queue_full' && err.retryAfterMs > 0);
  a.done();
  a.done();
  assert.equal(admission.photosInFlight, 0);
  const other = admission.admit(1);
  const b = admission.admit(1);
  b.grow(1);
  assert.equal(admission.photosInFlight, 3);
  assert.throws(() => b.grow(1), OverloadedError); // a grown batch counts against the same bound
  assert.equal(admission.photosInFlight, 3);
  b.done();
  other.done();
  assert.equal(admission.photosInFlight, 0);
  assert.deepEqual(refusals, ['queue_full', 'queue_full']);
});

test('UploadBudget: charges fit or are refused whole; a charge releases exactly what it took, once', () => {
  const budget = new UploadBudget(100);
  const one = new UploadCharge(budget);
  const two = new UploadCharge(budget);
  assert.equal(one.tryAdd(60), true);
  assert.equal(two.tryAdd(50), false);
  assert.equal(budget.heldBytes, 60);
  assert.equal(two.tryAdd(40), true);
  one.release();
  one.release();
  assert.equal(budget.heldBytes, 40);
  assert.equal(budget.peakBytes, 100);
  two.release();
  assert.equal(budget.heldBytes, 0);
});

test('WeightedSemaphore: holds at most its capacity, in arrival order; an oversized holder runs alone', async () => {
  const sem = new WeightedSemaphore(10);
  let held = 0;
  let most = 0;
  const order: string[] = [];
  const gates = new Map<string, () => void>();
  const job = (name: string, units: number) => sem.use(units, async () => {
    held += Math.min(units, 10);
    most = Math.max(most, held);
    order.push(name);
    await new Promise<void>((resolve) => gates.set(name, resolve));
    held -= Math.min(units, 10);
  });
  const jobs = [job('a', 6), job('b', 6), job('c', 3), job('huge', 50)];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a']); // b does not fit, and c waits behind b (no overtaking)
  gates.get('a')!();
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(order, ['a', 'b', 'c']);
  gates.get('b')!();
  gates.get('c')!();
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(order, ['a', 'b', 'c', 'huge']);
  gates.get('huge')!();
  await Promise.all(jobs);
  assert.equal(most, 10);
});

test('EvaluationJobs: a full queue refuses with Retry-After; cancel frees a waiting slot at once and stops a running job', async () => {
  const releases: (() => void)[] = [];
  const jobs = new EvaluationJobs((_req, signal) => new Promise((resolve, reject) => {
    releases.push(() => resolve({} as never));
    signal.addEventListener('abort', () => reject(new Error('aborted')));
  }), { maxQueued: 1 });
  const request = { dataset: 'd', root: '/d', split: 'test', runs: 1, seed: 0, directions: ['image_to_recipe'], debias: true, withNoImages: false } as never;
  const a = jobs.submit(request);
  const b = jobs.submit(request);
  assert.deepEqual([a.state, b.state], ['running', 'queued']);
  assert.throws(() => jobs.submit(request), (err: unknown) => err instanceof ApiError && err.status === 429 && Number(err.headers['retry-after']) >= 1);
  assert.equal((await jobs.cancel(b.id))?.state, 'cancelled');
  const c = jobs.submit(request); // b's slot is free
  assert.equal(c.state, 'queued');
  const stopped = await jobs.cancel(a.id);
  assert.equal(stopped?.state, 'cancelled');
  assert.match(stopped?.error ?? '', /DELETE/);
  assert.equal(jobs.get(c.id)?.state, 'running'); // the next one started
  assert.equal(await jobs.cancel('nope'), undefined);
  releases.at(-1)!();
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(jobs.get(c.id)?.state, 'succeeded');
  assert.equal((await jobs.cancel(c.id))?.state, 'succeeded'); // finished: returned unchanged
  assert.deepEqual(jobs.list().map((j) => j.id), [c.id, b.id, a.id]);
  await jobs.close();
});
