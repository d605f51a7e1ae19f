import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { chromium, type Browser } from 'playwright-core';
import type { ModelEvaluation } from '../src/model-format/model-evaluation.js';
import { buildServer, type RetrievalServer } from '../src/server/app.js';
import { createServerFixture, type ServerFixture } from './helpers/server-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM} (Debian: apt-get install -y chromium)`;

/** A measured quality recorded in the served model's manifest (the demo model's own numbers). */
const EVALUATION: ModelEvaluation = {
  split: 'test', pairs: 28, n: 28, runs: 1, embedding: 'debiased',
  imageToRecipe: { medR: 12, r1: 7.142857142857143, r5: 28.571428571428573, r10: 50 },
  recipeToImage: { medR: 13.5, r1: 14.285714285714286, r5: 28.571428571428573, r10: 35.714285714285715 },
  chance: { medR: 14.5, r1: 3.5714285714285716, r5: 17.857142857142858, r10: 35.714285714285715 },
  source: 'test fixture',
};

/** How the page shows a title: wrapping quotes and an unpaired double quote removed (the datasets carry stray ones). */
const shownTitle = (title: string) => {
  const unwrapped = title.trim().replace(/^(['"])(.*)\1$/, '$2').replace(/^['"]/, '');
  return (unwrapped.match(/"/g) ?? []).length % 2 === 1 ? unwrapped.replace(/"/g, '') : unwrapped;
};

let fx: ServerFixture;
let server: RetrievalServer;
let base: string;
let browser: Browser;

before(async () => {
  if (skip) return;
  fx = await createServerFixture('rr-server-web-', { evaluation: EVALUATION });
  server = await buildServer({ config: { modelDir: fx.modelDir, indexDir: fx.indexDir, device: 'cpu', imageWorkers: 1, threadsPerWorker: 1 }, logger: false });
  base = await server.app.listen({ port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
});

after(async () => {
  await browser?.close();
  await server?.app.close();
  await fx?.cleanup();
});

test('web page in headless Chromium: upload a demo photo, see ranked recipes with photos, scores and ingredients; toggle debiasing', { skip, timeout: 90_000 }, async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  const requests: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/v1/search')) requests.push(r.url()); });

  await page.goto(`${base}/`);
  await page.locator('#model-info', { hasText: 'tiny-served' }).waitFor();
  assert.match(await page.textContent('#model-info') ?? '', /model tiny-served \(with debiasing\) · 28 recipes · CPU/);
  // The model's measured quality, from its manifest through /v1/info, and what the scores are.
  assert.equal(await page.textContent('#model-quality'), 'tiny-served model: right recipe in the top 10 for 50% of 28 unseen photos; chance 36%');
  assert.match(await page.textContent('#score-help') ?? '', /^Measured on 28 test photos it never trained on, each ranked against 28 recipes: .*R@10; median rank 12.* it is not a confidence\.$/);
  const info = (await (await fetch(`${base}/v1/info`)).json()) as { model: { evaluation: ModelEvaluation & { summary: string } } };
  assert.deepEqual(info.model.evaluation, { ...EVALUATION, summary: 'right recipe in the top 10 for 50% of 28 unseen photos; chance 36%' });
  // Titles without the datasets' stray quotes; apostrophes stay.
  const shown = await page.evaluate((titles) => titles.map((t) => (globalThis as any).displayTitle(t)), ["'tahini short bread'", 'cuca "italiana', "shepherd's pie", "spaghetti all'amatriciana", '"kombucha"']);
  assert.deepEqual(shown, ['tahini short bread', 'cuca italiana', "shepherd's pie", "spaghetti all'amatriciana", 'kombucha']);

  await page.setInputFiles('#photo-input', fx.photos[0]);
  await page.waitForSelector('#results li.recipe');
  const cards = page.locator('#results li.recipe');
  assert.equal(await cards.count(), 10);
  const titles = await page.locator('#results li.recipe h3').allTextContents();
  assert.match(titles[0], /^1\. \S/);
  assert.match(await page.locator('#results li.recipe .score').first().textContent() ?? '', /^score -?\d\.\d{3}$/);

  // The same ranking as the API gives for that photo.
  const api = (await (await fetch(`${base}/v1/search?k=10&debias=true`, { method: 'POST', body: await readFile(fx.photos[0]), headers: { 'content-type': 'image/jpeg' } })).json()) as { recipes: { title: string; images: unknown[] }[] };
  assert.deepEqual(titles, api.recipes.map((r, i) => `${i + 1}. ${shownTitle(r.title)}`));

  // Recipe photos come from /v1/images and actually load.
  const withPhotos = api.recipes.filter((r) => r.images.length > 0).length;
  // Page-side code sees the DOM through `any`: this project compiles without the DOM typings.
  await page.waitForFunction((n) => {
    const images = [...(globalThis as any).document.querySelectorAll('#results img')] as { complete: boolean; naturalWidth: number }[];
    return images.filter((img) => img.complete && img.naturalWidth > 0).length === n;
  }, withPhotos);
  const srcs = await page.locator('#results img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src')));
  assert.ok(srcs.length === withPhotos && srcs.every((s) => /^\/v1\/images\/[0-9a-f]{10}\.jpg$/.test(s ?? '')), String(srcs));

  const chips = await page.locator('#ingredients li').allTextContents();
  assert.ok(chips.length > 0 && chips.every((c) => /^\S+ \d+%$/.test(c)), String(chips));
  assert.match(await page.textContent('#status') ?? '', /10 recipes, debiasing on/);

  await page.click('#debias-toggle');
  await page.locator('#status', { hasText: 'debiasing off' }).waitFor();
  assert.ok(requests.some((u) => u.includes('debias=false')) && requests.some((u) => u.includes('debias=true')), requests.join(' '));

  // A file that is not a photo shows the API's message instead of results.
  await page.setInputFiles('#photo-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') });
  await page.locator('#status.error').waitFor();
  assert.match(await page.textContent('#status') ?? '', /not an image/);
  assert.equal(await cards.count(), 0);
  assert.deepEqual(problems.filter((p) => !/status of 415/.test(p)), [], 'no script errors or CSP violations');
  await page.close();
});

test('API documentation in headless Chromium: /docs is an interactive page built from the routes, the error catalogue and a live call', { skip, timeout: 90_000 }, async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  // Everything the page loads comes from this server: Swagger UI's files are served from the npm package.
  const foreign: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url()); });

  await page.goto(`${base}/docs`);
  await page.locator('.opblock-summary-path', { hasText: '/v1/search/batch' }).waitFor();
  const paths = await page.locator('.opblock-summary-path').allTextContents();
  for (const p of ['/v1/search', '/v1/search/batch', '/v1/recipes/{id}', '/v1/images/{name}', '/v1/evaluations', '/v1/evaluations/{id}', '/healthz', '/readyz', '/metrics', '/v1/info', '/']) {
    assert.ok(paths.map((x) => x.replace(/\u200b/g, '')).includes(p), `${p} in ${paths.join(' ')}`);
  }

  // The error catalogue, folded under the description.
  await page.click('.info details summary');
  for (const code of ['url_too_long', 'not_an_image', 'overloaded', 'deadline_exceeded']) {
    await page.locator('.info details td code', { hasText: new RegExp(`^${code}$`) }).waitFor();
  }

  // An operation shows its parameters (from the route's own querystring schema) and its error statuses.
  // Swagger UI puts zero-width spaces into the paths it shows; data-path holds them as they are.
  await page.click('.opblock-summary-path[data-path="/v1/search"]');
  const search = page.locator('.opblock.is-open');
  await search.locator('.parameters-col_name', { hasText: 'debias' }).waitFor();
  const statuses = await search.locator('.responses-table tr.response .response-col_status').allTextContents();
  assert.deepEqual(statuses.map((s) => s.trim()), ['200', '400', '413', '415', '500', '503']);

  // Try it out (on from the start): GET /healthz from the page.
  await page.click('.opblock-summary-path[data-path="/healthz"]');
  const health = page.locator('.opblock.is-open', { has: page.locator('.opblock-summary-path[data-path="/healthz"]') });
  await health.locator('button.execute').click();
  await health.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor();
  assert.match(await health.locator('.live-responses-table .microlight').first().textContent() ?? '', /"status": "ok"/);

  assert.deepEqual(foreign, [], 'nothing fetched from outside the server');
  assert.deepEqual(problems, [], 'no script errors or CSP violations');
  await page.close();
});
