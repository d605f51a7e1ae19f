import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { RecipeDataset } from '../data/dataset.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, loadTestCrop } from '../data/images/index.js';
import type { Split } from '../data/recipe.js';
import { IMAGE_INPUT, IMAGE_SIZE, MANIFEST_FILE } from '../model-format/io-spec.js';
import { modelManifestSha256, readExportManifest, type ExportManifest, type QuantizedGraphRecord } from '../model-format/manifest.js';
import { onnx } from '../onnx/proto.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { portablePath } from '../util/portable-path.js';
import { sha256Bytes, sha256File } from '../util/sha256.js';
import { calibrateRanges, type CalibrationFeed, type CalibrationMethod } from './calibrate.js';
import { insertQdq, quantizationTargets, type QdqSummary } from './qdq-graph.js';

export const INT8_IMAGE_ENCODER_FILE = 'image_encoder.int8.onnx';

/** manifest.json's record of the int8 image encoder (`quantized.int8`), as quantize writes it. */
export interface QuantizedEncoderRecord extends QuantizedGraphRecord {
  scheme: string;
  nodes: QdqSummary;
  calibration: {
    dataset: string;
    split: Split;
    photos: number;
    method: CalibrationMethod;
    /** sha256 of the calibration photos' names, one per line, in the order used. */
    photoListSha256: string;
  };
  /** sha256 of manifest.json without this block: the model's identity, unchanged by quantizing. */
  baseManifestSha256: string;
  createdAt: string;
}

export interface QuantizeOptions {
  modelDir: string;
  datasetRoot: string;
  split: Split;
  /** Calibration photos: the split's first photos, at most this many (default 100). */
  maxPhotos?: number;
  method?: CalibrationMethod;
  log?: (line: string) => void;
}

export const QDQ_SCHEME = 'static QDQ: uint8 asymmetric activations (per tensor), int8 symmetric per-channel weights (-127..127), int32 biases; Conv data inputs and residual Add inputs; preprocessing, pooling and the ingredient head stay float32';

/**
 * Quantize an exported model's image encoder to int8 (static QDQ, calibrated on the first photos
 * of a dataset split) and record it in manifest.json under `quantized.int8`. The float32 graph is
 * left as it is; the model's identity (the manifest sha256 an index records) does not change, so
 * indexes built with the model stay valid.
 */
export async function quantizeModel(opts: QuantizeOptions): Promise<QuantizedEncoderRecord> {
  const log = opts.log ?? (() => {});
  const manifest = await readExportManifest(opts.modelDir) as ExportManifest & { quantized?: { int8?: QuantizedEncoderRecord } };
  const encoder = manifest.models.imageEncoder;
  if (!encoder) throw new UserError(`${opts.modelDir}: the export has no image_encoder.onnx (exported with --image head); nothing to quantize`);
  const sourceFile = path.join(opts.modelDir, encoder.file);
  const sourceSha = await sha256File(sourceFile);
  if (manifest.files[encoder.file] && manifest.files[encoder.file].sha256 !== sourceSha) {
    throw new UserError(`${sourceFile}: sha256 differs from manifest.json (modified or corrupt)`);
  }

  const dataset = await RecipeDataset.open(opts.datasetRoot);
  const recipes = (await dataset.readPaired(opts.split)).filter((r) => r.images.length > 0);
  const maxPhotos = opts.maxPhotos ?? 100;
  const crops: { name: string; data: Uint8Array }[] = [];
  for (const recipe of recipes) {
    if (crops.length >= maxPhotos) break;
    try {
      const crop = await loadTestCrop(dataset.firstImagePath(opts.split, recipe), { maxBytes: DEFAULT_MAX_BYTES, maxPixels: DEFAULT_MAX_PIXELS });
      crops.push({ name: recipe.images[0], data: crop.data });
    } catch (err) {
      log(`calibration: skipping ${recipe.images[0]} (${(err as Error).message.split('\n')[0]})`);
    }
  }
  if (crops.length === 0) throw new UserError(`${opts.datasetRoot}: no readable photos in the ${opts.split} split to calibrate with`);

  const model = onnx.ModelProto.decode(await fs.readFile(sourceFile));
  const targets = quantizationTargets(model.graph!);
  if (targets.length === 0) throw new UserError(`${sourceFile}: the graph has no convolution to quantize (int8 here covers Conv and residual Add nodes)`);
  const method = opts.method ?? 'minmax';
  log(`calibrating ${targets.length} activations on ${crops.length} ${opts.split} photos (${method})`);
  const feeds = function* (): Generator<CalibrationFeed> {
    for (const c of crops) yield { [IMAGE_INPUT]: new ort.Tensor('uint8', c.data, [1, IMAGE_SIZE, IMAGE_SIZE, 3]) };
  };
  const ranges = await calibrateRanges(model, targets, feeds(), {
    method,
    onProgress: (done) => { if (done % 20 === 0 || done === crops.length) log(`  calibration ${done}/${crops.length}`); },
  });
  const nodes = insertQdq(model, ranges);
  model.docString = `${model.docString ?? ''} | int8 ${QDQ_SCHEME}`;
  const bytes = onnx.ModelProto.encode(model).finish();
  const outFile = path.join(opts.modelDir, INT8_IMAGE_ENCODER_FILE);
  await writeFileAtomic(outFile, bytes);
  log(`wrote ${outFile} (${(bytes.length / 1e6).toFixed(1)} MB; ${nodes.convs} Conv, ${nodes.adds} Add, ${nodes.activations} activations quantized)`);

  const record: QuantizedEncoderRecord = {
    file: INT8_IMAGE_ENCODER_FILE,
    sha256: sha256Bytes(bytes),
    bytes: bytes.length,
    source: { file: encoder.file, sha256: sourceSha },
    scheme: QDQ_SCHEME,
    nodes,
    calibration: {
      dataset: portablePath(path.resolve(opts.datasetRoot)),
      split: opts.split,
      photos: crops.length,
      method,
      photoListSha256: sha256Bytes(crops.map((c) => `${c.name}\n`).join('')),
    },
    baseManifestSha256: modelManifestSha256(await fs.readFile(path.join(opts.modelDir, MANIFEST_FILE))),
    createdAt: new Date().toISOString(),
  };
  const updated = { ...manifest, quantized: { ...manifest.quantized, int8: record } };
  await writeFileAtomic(path.join(opts.modelDir, MANIFEST_FILE), `${JSON.stringify(updated, null, 2)}\n`);
  return record;
}
