import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exportModel } from '../../src/export/export-model.js';
import { emitImageHead } from '../../src/export/image-graph.js';
import {
  DEBIASED_OUTPUT, EMBEDDING_OUTPUT, IMAGE_ENCODER_FILE, imageEncoderInterface, LOGITS_OUTPUT, MANIFEST_FILE,
} from '../../src/model-format/io-spec.js';
import { fileRecord, type ExportManifest } from '../../src/model-format/manifest.js';
import type { ModelEvaluation } from '../../src/model-format/model-evaluation.js';
import { debiasSetup, exportParamsOf, paramStoreOf } from '../../src/export/model-weights.js';
import { disposeTrainedModel, loadTrainedModel } from '../../src/export/trained-model.js';
import { attr } from '../../src/onnx/attributes.js';
import { GraphBuilder } from '../../src/onnx/graph-builder.js';
import { DataType } from '../../src/onnx/proto.js';
import { selectBackend } from '../../src/tf/backend.js';
import { SeededRandom } from '../../src/util/random.js';
import { createTinyRun } from './export-run.js';

/**
 * A served model for the server tests: a tiny run (random weights, demo vocabulary, 6 labels)
 * exported by the real exporter, plus an image_encoder.onnx with the real photo interface
 * (uint8 [N,224,224,3] in; embedding, ingredient_logits, debiased_embedding out) whose head is the
 * exporter's own and whose backbone is a stand-in: 32x32 block means of the crop, a fixed random
 * projection to the head's channels and a ReLU. It answers in milliseconds where the ResNet-50
 * would take ~100 ms per photo; different photos still give different embeddings. The manifest
 * is completed as the exporter would (interface, sha256), so the server verifies it like any.
 */
export async function createServedModel(workDir: string, opts: { debias?: boolean; seed?: number; id?: string; evaluation?: ModelEvaluation } = {}): Promise<string> {
  await selectBackend('wasm');
  const runDir = path.join(workDir, 'run');
  const modelDir = path.join(workDir, opts.id ?? 'tiny-served');
  await createTinyRun(runDir, { debias: opts.debias ?? true, seed: opts.seed });
  await exportModel({ runDir, outDir: modelDir, image: 'head' });

  const model = await loadTrainedModel(runDir);
  let bytes: Uint8Array;
  try {
    const store = paramStoreOf(model);
    const debias = debiasSetup(model, store);
    store.dispose();
    bytes = buildStandInImageEncoder(exportParamsOf(model), model.config, debias.projectedDictionary, opts.seed ?? 3);
  } finally {
    disposeTrainedModel(model);
  }
  await fs.writeFile(path.join(modelDir, IMAGE_ENCODER_FILE), bytes);
  const manifestFile = path.join(modelDir, MANIFEST_FILE);
  const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as ExportManifest;
  manifest.models.imageEncoder = { file: IMAGE_ENCODER_FILE, ...imageEncoderInterface(manifest.config) };
  manifest.files[IMAGE_ENCODER_FILE] = await fileRecord(path.join(modelDir, IMAGE_ENCODER_FILE));
  manifest.checks.backbone = 'stand-in backbone (test fixture)';
  if (opts.evaluation) manifest.evaluation = opts.evaluation;
  await fs.writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return modelDir;
}

function buildStandInImageEncoder(
  params: ReturnType<typeof exportParamsOf>, config: Parameters<typeof imageEncoderInterface>[0],
  projectedDictionary: Parameters<typeof emitImageHead>[4], seed: number,
): Uint8Array {
  const b = new GraphBuilder('image_encoder_stand_in');
  const io = imageEncoderInterface(config);
  b.reserve(...io.outputs.map((o) => o.name));
  const image = b.input(io.inputs[0].name, io.inputs[0].dtype, io.inputs[0].shape);
  const channels = config.backboneChannels;
  const scaled = b.op('Mul', [b.op('Cast', [image], { to: attr.int(DataType.float32) }), b.constFloat('inv255', 1 / 255)]);
  const blocks = b.op('Reshape', [scaled, b.constInt64('block_shape', [-1, 7, 32, 7, 32, 3])]);
  const means = b.op('ReduceMean', [blocks], { axes: attr.ints([2, 4]), keepdims: attr.int(0) });
  const rng = new SeededRandom(seed);
  const w = Float32Array.from({ length: 3 * channels }, () => (rng.nextFloat() * 2 - 1) * 4);
  const bias = Float32Array.from({ length: channels }, () => (rng.nextFloat() * 2 - 1) * 2);
  const projected = b.op('Add', [b.op('MatMul', [means, b.initializer('stand_in_w', w, [3, channels])]), b.initializer('stand_in_b', bias, [channels])]);
  const featureMap = b.op('Relu', [projected], {}, 'feature_map');
  const values = emitImageHead(b, params, config, featureMap, projectedDictionary);
  const byName: Record<string, string> = {
    [EMBEDDING_OUTPUT]: values.embedding,
    [LOGITS_OUTPUT]: values.logits,
    [DEBIASED_OUTPUT]: values.debiased === values.embedding ? b.op('Identity', [values.embedding]) : values.debiased,
  };
  for (const o of io.outputs) b.output(byName[o.name], o.name, o.dtype, o.shape);
  return b.serialize({ docString: 'test fixture: stand-in backbone + exported image head' });
}
