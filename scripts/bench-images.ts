/**
 * Time decode + test transform (+ normalisation) per demo photo, one photo at a time, and write
 * bench-results/images.json. Usage: node dist/scripts/bench-images.js [imagesDir]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage, testTransform, toCaffeNhwc, toTorchvisionNchw } from '../src/data/images/index.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';

async function listImages(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.(jpe?g|png|webp)$/i.test(e.name))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .sort();
}

function summary(ms: number[]): { mean: number; median: number; p95: number; max: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (x: number) => Math.round(x * 100) / 100;
  return { mean: round(ms.reduce((s, x) => s + x, 0) / ms.length), median: round(at(0.5)), p95: round(at(0.95)), max: round(sorted[sorted.length - 1]) };
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? fromRoot('index-data', 'demo', 'images');
  const files = await listImages(dir);
  if (files.length === 0) throw new Error(`no images under ${dir}`);
  await testTransform(await decodeImage(files[0])); // warm up libvips and the JIT

  const decodeMs: number[] = [];
  const transformMs: number[] = [];
  const normaliseMs: number[] = [];
  const totalMs: number[] = [];
  for (const file of files) {
    const t0 = performance.now();
    const image = await decodeImage(file);
    const t1 = performance.now();
    const crop = await testTransform(image);
    const t2 = performance.now();
    toTorchvisionNchw(crop);
    toCaffeNhwc(crop);
    const t3 = performance.now();
    decodeMs.push(t1 - t0);
    transformMs.push(t2 - t1);
    normaliseMs.push((t3 - t2) / 2);
    totalMs.push(t2 - t0);
  }
  const result = {
    photos: files.length,
    imagesDir: path.relative(fromRoot(), dir) || dir,
    decodePlusTestTransformMs: summary(totalMs),
    decodeMs: summary(decodeMs),
    testTransformMs: summary(transformMs),
    normaliseOneMs: summary(normaliseMs),
    machine: { cpus: os.cpus().length, node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips },
    measuredAt: new Date().toISOString(),
  };
  await writeFileAtomic(fromRoot('bench-results', 'images.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(
    `${files.length} photos: decode + test transform ${result.decodePlusTestTransformMs.mean} ms/photo ` +
      `(decode ${result.decodeMs.mean}, transform ${result.testTransformMs.mean}; median ${result.decodePlusTestTransformMs.median}, p95 ${result.decodePlusTestTransformMs.p95}); ` +
      `normalise ${result.normaliseOneMs.mean} ms`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
