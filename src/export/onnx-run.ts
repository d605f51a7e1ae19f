import * as ort from 'onnxruntime-node';
import type { RecipeBatch } from '../data/text/batch.js';
import type { RgbImage } from '../data/images/index.js';
import { DEBIASED_OUTPUT, EMBEDDING_OUTPUT, FEATURE_MAP_INPUT, IMAGE_INPUT, IMAGE_SIZE, LOGITS_OUTPUT } from '../model-format/io-spec.js';
import type { ImageHeadResult } from './tfjs-reference.js';

/** Plain CPU sessions and typed runs of the exported graphs (verification and benchmarks). */

export function openSession(model: string | Uint8Array, intraOpThreads?: number): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], ...(intraOpThreads ? { intraOpNumThreads: intraOpThreads } : {}) };
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

function imageResult(out: ort.InferenceSession.OnnxValueMapType): ImageHeadResult {
  return {
    embedding: out[EMBEDDING_OUTPUT].data as Float32Array,
    logits: out[LOGITS_OUTPUT].data as Float32Array,
    debiased: out[DEBIASED_OUTPUT].data as Float32Array,
  };
}

export function stackCrops(crops: readonly RgbImage[]): Uint8Array {
  const size = IMAGE_SIZE * IMAGE_SIZE * 3;
  const out = new Uint8Array(crops.length * size);
  crops.forEach((crop, i) => out.set(crop.data, i * size));
  return out;
}

export async function runImageEncoder(session: ort.InferenceSession, crops: readonly RgbImage[]): Promise<ImageHeadResult> {
  const input = new ort.Tensor('uint8', stackCrops(crops), [crops.length, IMAGE_SIZE, IMAGE_SIZE, 3]);
  return imageResult(await session.run({ [IMAGE_INPUT]: input }));
}

export async function runImageHead(session: ort.InferenceSession, features: Float32Array, n: number, channels: number): Promise<ImageHeadResult> {
  const input = new ort.Tensor('float32', features, [n, 7, 7, channels]);
  return imageResult(await session.run({ [FEATURE_MAP_INPUT]: input }));
}

function int64(ids: Int32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [...dims]);
}

export async function runRecipeEncoder(session: ort.InferenceSession, batch: RecipeBatch): Promise<Float32Array> {
  const out = await session.run({
    title: int64(batch.title.ids, batch.title.shape),
    ingredients: int64(batch.ingredients.ids, batch.ingredients.shape),
    instructions: int64(batch.instructions.ids, batch.instructions.shape),
  });
  return out[EMBEDDING_OUTPUT].data as Float32Array;
}
