import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { fromRoot } from '../src/util/paths.js';
import { UserError } from '../src/util/errors.js';
import { SeededRandom } from '../src/util/random.js';
import {
  centreCropOffset,
  decodeImage,
  flipHorizontal,
  ImageDecodeError,
  loadTestCrop,
  resizedSize,
  testTransform,
  toCaffeNhwc,
  toCaffeNhwcBatch,
  toTorchvisionNchw,
  toTorchvisionNchwBatch,
  trainTransform,
  type ImageErrorCode,
  type RgbImage,
} from '../src/data/images/index.js';

const COFFEE = fromRoot('test', 'fixtures', 'images', 'coffee.png');
const DEMO_PHOTO = fromRoot('index-data', 'demo', 'images', 'test', '3', '2', '4', '3', '32430264e2.jpg'); // 510x512
const PIL_REFERENCE = fromRoot('test', 'fixtures', 'images', 'pil_resample.py');

const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'images-test-'));
process.on('exit', () => {
  void fs.rm(tmpDir, { recursive: true, force: true });
});

function pixel(image: RgbImage, x: number, y: number): number[] {
  const at = (y * image.width + x) * 3;
  return [image.data[at], image.data[at + 1], image.data[at + 2]];
}

function assertNear(actual: number[], expected: number[], tolerance: number, what: string): void {
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tolerance, `${what}: got ${actual}, expected ${expected} ±${tolerance}`));
}

async function rejectsWith(promise: Promise<unknown>, code: ImageErrorCode, messagePart?: RegExp): Promise<ImageDecodeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ImageDecodeError, `expected ImageDecodeError, got ${String(err)}`);
    assert.ok(err instanceof UserError);
    assert.equal(err.code, code, err.message);
    if (messagePart) assert.match(err.message, messagePart);
    return err;
  }
  assert.fail(`expected an ImageDecodeError with code ${code}`);
}

/** An RGB image whose pixels encode their own coordinates, so a crop reveals where it came from. */
function coordinateImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      data[at] = x % 256;
      data[at + 1] = y % 256;
      data[at + 2] = Math.floor(x / 256) * 16 + Math.floor(y / 256);
    }
  }
  return { data, width, height, channels: 3 };
}

function rawSharp(image: RgbImage) {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** A valid 1-bit greyscale PNG of width x height zeros: ~50 KB that decodes to 1.2 GB of RGB at 20000x20000. */
function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth 1, colour type 0 (grey), default compression/filter/interlace
  const scanlines = Buffer.alloc(height * (1 + Math.ceil(width / 8)));
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(scanlines, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------- decoding real photos and every format ----------

test('decodes the real PNG and JPEG photos to 3-channel RGB, from a path or from bytes', async () => {
  const coffee = await decodeImage(COFFEE);
  assert.deepEqual([coffee.width, coffee.height, coffee.channels, coffee.format], [600, 400, 3, 'png']);
  assert.equal(coffee.data.length, 600 * 400 * 3);

  const fromPath = await decodeImage(DEMO_PHOTO);
  const fromBytes = await decodeImage(readFileSync(DEMO_PHOTO));
  assert.deepEqual([fromPath.width, fromPath.height, fromPath.format], [510, 512, 'jpeg']);
  assert.deepEqual(Buffer.from(fromPath.data), Buffer.from(fromBytes.data));
  // A real photo, not a flat fill: many distinct byte values.
  assert.ok(new Set(fromPath.data).size > 200);
});

test('alpha is flattened on white; greyscale becomes 3 equal channels; 16-bit becomes 8-bit', async () => {
  // pixel 0 fully transparent red, pixel 1 half-transparent blue (alpha 128/255)
  const rgba = Buffer.from([255, 0, 0, 0, 0, 0, 255, 128]);
  const png = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
  const flat = await decodeImage(png);
  assert.equal(flat.channels, 3);
  assert.deepEqual(pixel(flat, 0, 0), [255, 255, 255]);
  assertNear(pixel(flat, 1, 0), [127, 127, 255], 1, 'blue at alpha 0.5 on white');

  const grey = await sharp(Buffer.from([10, 200, 77]), { raw: { width: 3, height: 1, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const greyOut = await decodeImage(grey);
  assert.deepEqual(Array.from(greyOut.data), [10, 10, 10, 200, 200, 200, 77, 77, 77]);

  // 16-bit samples: 0x8080 -> 128, 0xffff -> 255, 0x0101 -> 1, 0x0000 -> 0 (v16 / 257)
  const sixteen = new Uint16Array([0x8080, 0xffff, 0x0101, 0x0000, 0x3333, 0xcccc]);
  const png16 = await sharp(sixteen, { raw: { width: 2, height: 1, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(png16).metadata()).depth, 'ushort');
  const out16 = await decodeImage(png16);
  assert.deepEqual(Array.from(out16.data), [128, 255, 1, 0, 51, 204]);
});

test('GIF keeps the first frame; WebP, AVIF and TIFF decode', async () => {
  const red = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const blue = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer();
  const gif = await sharp([red, blue], { join: { animated: true } }).gif().toBuffer();
  assert.equal((await sharp(gif).metadata()).pages, 2);
  const frame = await decodeImage(gif);
  assert.deepEqual([frame.width, frame.height, frame.format], [6, 4, 'gif']);
  assert.deepEqual(pixel(frame, 3, 2), [255, 0, 0]);

  const photo = await sharp(COFFEE).extract({ left: 200, top: 100, width: 64, height: 48 });
  const original = await decodeImage(await photo.clone().png().toBuffer());
  const webp = await decodeImage(await photo.clone().webp({ lossless: true }).toBuffer());
  assert.equal(webp.format, 'webp');
  assert.deepEqual(Buffer.from(webp.data), Buffer.from(original.data));
  const tiff = await decodeImage(await photo.clone().tiff({ compression: 'lzw' }) /* sharp's default TIFF compression is lossy JPEG */.toBuffer());
  assert.equal(tiff.format, 'tiff');
  assert.deepEqual(Buffer.from(tiff.data), Buffer.from(original.data));

  const avif = await decodeImage(await photo.clone().avif({ quality: 90 }).toBuffer());
  assert.deepEqual([avif.width, avif.height, avif.format], [64, 48, 'avif']);
  let diff = 0;
  for (let i = 0; i < avif.data.length; i++) diff += Math.abs(avif.data[i] - original.data[i]);
  assert.ok(diff / avif.data.length < 4, `AVIF differs from the source by ${diff / avif.data.length} per byte`);
});

test('EXIF orientation 6 is applied: dimensions swap and the top-left corner moves to the top-right', async () => {
  const width = 60;
  const height = 40;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) raw[(y * width + x) * 3] = 255; // red block at top-left
  const jpeg = await sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const shown = await decodeImage(jpeg);
  assert.deepEqual([shown.width, shown.height], [40, 60]);
  // Orientation 6 = rotate 90 degrees clockwise for display: stored (0,0) ends at displayed (39,0).
  assertNear(pixel(shown, 35, 4), [255, 0, 0], 12, 'marked corner after rotation');
  assertNear(pixel(shown, 4, 4), [0, 0, 0], 12, 'displayed top-left');
});

test('CMYK JPEG and an embedded ICC profile are converted to sRGB', async () => {
  const orange = { r: 200, g: 100, b: 50 };
  const cmyk = await sharp({ create: { width: 4, height: 4, channels: 3, background: orange } }).toColourspace('cmyk').jpeg().toBuffer();
  assert.equal((await sharp(cmyk).metadata()).channels, 4);
  const fromCmyk = await decodeImage(cmyk);
  assert.equal(fromCmyk.channels, 3);
  const [r, g, b] = pixel(fromCmyk, 1, 1);
  assert.ok(r > g && g > b && r > 150, `CMYK orange came out ${[r, g, b]}`);

  // Stored as Display P3 numbers; decoding must convert them back to about the sRGB original.
  const p3 = await sharp({ create: { width: 2, height: 2, channels: 3, background: orange } }).withIccProfile('p3').png().toBuffer();
  const p3Numbers = await sharp(p3, { ignoreIcc: true }).raw().toBuffer();
  assert.ok(Math.abs(p3Numbers[0] - 200) > 5, 'the P3 file should store different numbers');
  assertNear(pixel(await decodeImage(p3), 0, 0), [200, 100, 50], 2, 'P3 -> sRGB');
});

// ---------- refusing bad input ----------

test('empty, random, text, truncated and damaged input are refused with typed errors', async () => {
  await rejectsWith(decodeImage(Buffer.alloc(0)), 'empty');
  const random = new SeededRandom(7);
  const noise = Buffer.from(Array.from({ length: 4096 }, () => random.nextInt(256)));
  await rejectsWith(decodeImage(noise), 'not_an_image');

  const textFile = path.join(tmpDir, 'notes.txt');
  await fs.writeFile(textFile, 'two eggs, a cup of flour\n');
  await rejectsWith(decodeImage(textFile), 'not_an_image', /notes\.txt: /);

  const jpeg = readFileSync(DEMO_PHOTO);
  const halfJpeg = path.join(tmpDir, 'half.jpg');
  await fs.writeFile(halfJpeg, jpeg.subarray(0, jpeg.length >> 1));
  await rejectsWith(decodeImage(halfJpeg), 'truncated', /half\.jpg: the image data ends early/);
  // libvips' own words are kept for logs, not in the message.
  await assert.rejects(decodeImage(halfJpeg), (err: ImageDecodeError) => /premature end/i.test(err.detail ?? '') && !/premature/i.test(err.message));

  const png = readFileSync(COFFEE);
  await rejectsWith(decodeImage(png.subarray(0, png.length >> 1)), 'truncated');
  await rejectsWith(decodeImage(png.subarray(0, 30)), 'corrupt'); // signature and part of IHDR only

  await rejectsWith(decodeImage(path.join(tmpDir, 'missing.jpg')), 'unreadable', /missing\.jpg: .*no such file/);
});

test('HEIC and SVG are refused as unsupported formats with advice', async () => {
  const ftyp = Buffer.concat([
    Buffer.from([0, 0, 0, 0x18]),
    Buffer.from('ftypheic', 'latin1'),
    Buffer.alloc(4),
    Buffer.from('mif1heic', 'latin1'),
    Buffer.alloc(200),
  ]);
  await rejectsWith(decodeImage(ftyp), 'unsupported_format', /HEIC.*JPEG or PNG/);
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
  await rejectsWith(decodeImage(svg), 'unsupported_format', /svg/);
});

test('a decompression bomb is refused from its header, without allocating it', async () => {
  const bomb = pngBomb(20000, 20000);
  assert.ok(bomb.length < 100_000, `bomb is ${bomb.length} bytes`);
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  await rejectsWith(decodeImage(bomb), 'too_many_pixels', /20000x20000 \(400\.0 MP\).*50\.0 MP/);
  assert.ok(performance.now() - started < 1000);
  assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'memory grew as if the bomb was decoded');
  // The same file is a valid image: a small one built the same way decodes.
  const small = await decodeImage(pngBomb(16, 4));
  assert.deepEqual([small.width, small.height, pixel(small, 5, 2)], [16, 4, [0, 0, 0]]);
});

test('pixel and byte limits are configurable', async () => {
  await rejectsWith(decodeImage(COFFEE, { maxPixels: 200_000 }), 'too_many_pixels', /coffee\.png: .*600x400/);
  assert.equal((await decodeImage(COFFEE, { maxPixels: 240_000 })).width, 600);
  await rejectsWith(decodeImage(COFFEE, { maxBytes: 1000 }), 'too_large', /coffee\.png: /);
  await rejectsWith(decodeImage(readFileSync(COFFEE), { maxBytes: 1000 }), 'too_large');
});

// ---------- transforms ----------

test('resize and centre-crop geometry follow torchvision (int() for the long side, Python round for the offset)', () => {
  const sizes: Array<[number, number]> = [];
  for (let w = 224; w <= 1200; w += 37) for (const h of [256, 257, 300, 341, 384, 511, 512, 683]) sizes.push([w, h]);
  const python = `
import json, sys
out = []
for w, h in json.load(sys.stdin):
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(256 * long / short)
    nw, nh = (256, new_long) if w <= h else (new_long, 256)
    out.append([nw, nh, int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))])
print(json.dumps(out))`;
  const expected = JSON.parse(execFileSync('python3', ['-c', python], { input: JSON.stringify(sizes) }).toString()) as number[][];
  const actual = sizes.map(([w, h]) => {
    const r = resizedSize(w, h, 256);
    return [r.width, r.height, centreCropOffset(r.height, 224), centreCropOffset(r.width, 224)];
  });
  assert.deepEqual(actual, expected);
  assert.equal(centreCropOffset(301, 224), 38); // 38.5 rounds to even, not up
});

test('test transform: 224x224x3, deterministic, centred crop of a known pattern', async () => {
  const crop = await loadTestCrop(DEMO_PHOTO);
  assert.deepEqual([crop.width, crop.height, crop.channels, crop.data.length], [224, 224, 3, 224 * 224 * 3]);
  const again = await loadTestCrop(readFileSync(DEMO_PHOTO));
  assert.deepEqual(Buffer.from(again.data), Buffer.from(crop.data));

  // 301x256 needs no resize: the crop must be columns 38..261 and rows 16..239, exactly.
  const pattern = coordinateImage(301, 256);
  const centred = await testTransform(pattern);
  for (const [x, y] of [[0, 0], [223, 0], [0, 223], [223, 223], [100, 57]]) {
    assert.deepEqual(pixel(centred, x, y), pixel(pattern, x + 38, y + 16), `crop pixel ${x},${y}`);
  }

  // A 4:3 landscape is resized to 341x256 and cropped at left 58 (58.5 rounds to even).
  const wide = await testTransform({ data: new Uint8Array(640 * 480 * 3).fill(90), width: 640, height: 480, channels: 3 });
  assert.deepEqual([wide.width, wide.height, pixel(wide, 10, 10)], [224, 224, [90, 90, 90]]);
});

test("resizing is close to Pillow's antialiased bilinear (the seed's), unlike sharp's default lanczos3", async () => {
  const coffee = await decodeImage(COFFEE);
  const cases: Array<{ width: number; height: number; shorter: number; maxMean: number }> = [
    { width: 200, height: 150, shorter: 96, maxMean: 0.4 }, // downscale 0.64, like 384 -> 256
    { width: 200, height: 150, shorter: 75, maxMean: 0.4 }, // downscale 0.5, like 512 -> 256
    { width: 100, height: 75, shorter: 150, maxMean: 2.0 }, // upscale 2: libvips samples a quarter pixel off Pillow
  ];
  for (const { width, height, shorter, maxMean } of cases) {
    const region = await rawSharp(coffee).extract({ left: 200, top: 120, width, height }).raw().toBuffer();
    const image: RgbImage = { data: region, width, height, channels: 3 };
    const geometry = { resizeShorterTo: shorter, cropSize: shorter };
    const ours = await testTransform(image, geometry);

    const resized = resizedSize(width, height, shorter);
    const left = centreCropOffset(resized.width, shorter);
    const top = centreCropOffset(resized.height, shorter);
    const request = { width, height, data: region.toString('base64'), out_width: resized.width, out_height: resized.height, left, top, crop: shorter };
    const pillow = Buffer.from(execFileSync('python3', [PIL_REFERENCE], { input: JSON.stringify(request) }).toString(), 'base64');
    const lanczos = await rawSharp(image).resize(resized.width, resized.height, { fit: 'fill' }).extract({ left, top, width: shorter, height: shorter }).raw().toBuffer();

    const meanDiff = (a: Uint8Array) => a.reduce((sum, v, i) => sum + Math.abs(v - pillow[i]), 0) / a.length;
    const oursMean = meanDiff(ours.data);
    assert.ok(oursMean < maxMean, `${width}x${height} -> shorter ${shorter}: mean |diff| to Pillow ${oursMean}`);
    if (shorter < height) assert.ok(meanDiff(lanczos) > 3 * oursMean, `lanczos3 ${meanDiff(lanczos)} vs linear ${oursMean}`);
  }
});

test('train transform: seeded, torchvision draw order (top, left, flip), varies across seeds', async () => {
  const pattern = coordinateImage(300, 256); // no resize: offsets range over 0..76 (left) and 0..32 (top)
  const seen = new Set<string>();
  let flips = 0;
  for (let seed = 0; seed < 16; seed++) {
    const crop = await trainTransform(pattern, new SeededRandom(seed));
    const again = await trainTransform(pattern, new SeededRandom(seed));
    assert.deepEqual(Buffer.from(again.data), Buffer.from(crop.data));
    assert.deepEqual([crop.width, crop.height], [224, 224]);

    const draws = new SeededRandom(seed);
    const top = draws.nextInt(256 - 224 + 1);
    const left = draws.nextInt(300 - 224 + 1);
    const flip = draws.nextFloat() < 0.5;
    assert.deepEqual(pixel(crop, 0, 0), pixel(pattern, flip ? left + 223 : left, top), `seed ${seed} corner`);
    assert.deepEqual(pixel(crop, 5, 9), pixel(pattern, flip ? left + 218 : left + 5, top + 9));
    seen.add(`${top},${left}`);
    if (flip) flips++;
  }
  assert.ok(seen.size >= 12, `only ${seen.size} distinct crops over 16 seeds`);
  assert.ok(flips >= 3 && flips <= 13, `${flips} flips over 16 seeds`);

  const real = await decodeImage(DEMO_PHOTO);
  const a = await trainTransform(real, new SeededRandom(1));
  const b = await trainTransform(real, new SeededRandom(2));
  assert.notDeepEqual(Buffer.from(a.data), Buffer.from(b.data));
});

test('extreme aspect ratios are refused; flipHorizontal mirrors', async () => {
  const strip: RgbImage = { data: new Uint8Array(1 * 100 * 3), width: 1, height: 100, channels: 3 };
  await rejectsWith(testTransform(strip), 'extreme_aspect_ratio', /1x100/);
  const flipped = flipHorizontal({ data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), width: 3, height: 1, channels: 3 });
  assert.deepEqual(Array.from(flipped.data), [7, 8, 9, 4, 5, 6, 1, 2, 3]);
});

// ---------- normalisation ----------

test('torchvision normalisation: NCHW, (x/255 - mean)/std, hand-computed', () => {
  // 2x1 crop: (255, 0, 128) then (0, 255, 64)
  const crop: RgbImage = { data: Uint8Array.from([255, 0, 128, 0, 255, 64]), width: 2, height: 1, channels: 3 };
  const t = toTorchvisionNchw(crop);
  const expected = [
    (1 - 0.485) / 0.229, (0 - 0.485) / 0.229, // R plane
    (0 - 0.456) / 0.224, (1 - 0.456) / 0.224, // G plane
    (128 / 255 - 0.406) / 0.225, (64 / 255 - 0.406) / 0.225, // B plane
  ];
  assert.equal(t.length, 6);
  expected.forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-6, `index ${i}: ${t[i]} vs ${v}`));
  assert.ok(Math.abs(t[0] - 2.2489082969) < 1e-6 && Math.abs(t[2] + 2.0357142857) < 1e-6);

  const other: RgbImage = { data: Uint8Array.from([10, 20, 30, 40, 50, 60]), width: 2, height: 1, channels: 3 };
  const batch = toTorchvisionNchwBatch([crop, other]);
  assert.equal(batch.length, 12);
  assert.deepEqual(Array.from(batch.subarray(0, 6)), Array.from(t));
  assert.ok(Math.abs(batch[6 + 1] - (40 / 255 - 0.485) / 0.229) < 1e-6); // second image, R plane, x=1
  assert.ok(Math.abs(batch[6 + 4] - (30 / 255 - 0.406) / 0.225) < 1e-6); // second image, B plane, x=0
  assert.throws(() => toTorchvisionNchwBatch([crop, { ...other, width: 1, height: 2 }]), /mixes/);
});

test('caffe normalisation: NHWC, BGR, minus the BGR means, no scaling', () => {
  const crop: RgbImage = { data: Uint8Array.from([255, 0, 128, 0, 255, 64]), width: 2, height: 1, channels: 3 };
  const c = toCaffeNhwc(crop);
  const expected = [128 - 103.939, 0 - 116.779, 255 - 123.68, 64 - 103.939, 255 - 116.779, 0 - 123.68];
  // Relative 1e-6: float32 itself only resolves ~8e-6 near 131.
  expected.forEach((v, i) => assert.ok(Math.abs(c[i] - v) <= 1e-6 * Math.max(1, Math.abs(v)), `index ${i}: ${c[i]} vs ${v}`));
  const batch = toCaffeNhwcBatch([crop, crop]);
  assert.deepEqual(Array.from(batch.subarray(6)), Array.from(c));
});
