import path from 'node:path';
import type { RgbImage } from '../data/images/index.js';
import { readManifest, viewDir } from '../features/cache-format.js';
import { selectBackend, type BackendRequest } from '../tf/backend.js';
import { SeededRandom } from '../util/random.js';
import { UserError } from '../util/errors.js';
import { openSession, runImageEncoder } from './onnx-run.js';
import { PARITY_TOLERANCE, relativeError } from './parity.js';
import { tfBackboneFeatures, type TfReference } from './tfjs-reference.js';
import type { TrainedModel } from './trained-model.js';

/**
 * Export-time checks of the composed image encoder: the backbone weights are those the run's
 * feature cache was extracted with (else the head was trained on other features), and the ONNX
 * file reproduces TF.js backbone + head on a probe image.
 */

export interface BackboneCheck {
  cacheHash: 'match' | 'not found';
  probe: { relError: Record<string, number> };
}

/** A 224x224 probe with smooth gradients and noise: exercises the whole uint8 range without a photo file. */
export function probeImage(seed = 1): RgbImage {
  const rng = new SeededRandom(seed);
  const data = new Uint8Array(224 * 224 * 3);
  for (let y = 0; y < 224; y++) {
    for (let x = 0; x < 224; x++) {
      const i = (y * 224 + x) * 3;
      data[i] = Math.min(255, x + rng.nextInt(32));
      data[i + 1] = Math.min(255, y + rng.nextInt(32));
      data[i + 2] = (x * y) % 256;
    }
  }
  return { data, width: 224, height: 224, channels: 3 };
}

/**
 * The backbone hash the run's training features were extracted with: run.json `features.backboneHash`,
 * else the header of its feature cache (`features.cacheDir` / `featureCache`), if that can be found.
 */
async function cacheBackboneHash(model: TrainedModel): Promise<string | undefined> {
  const features = model.runInfo?.features as { backboneHash?: unknown; cacheDir?: unknown } | undefined;
  if (typeof features?.backboneHash === 'string') return features.backboneHash;
  const cache = features?.cacheDir ?? model.runInfo?.featureCache;
  if (typeof cache !== 'string') return undefined;
  for (const split of ['train', 'val', 'test']) {
    for (const root of [cache, path.resolve(model.runDir, cache)]) {
      const manifest = await readManifest(viewDir(root, split, 0)).catch(() => undefined);
      if (manifest) return manifest.backboneHash;
    }
  }
  return undefined;
}

export async function checkComposedBackbone(
  model: TrainedModel, kerasSha256: string, encoderFile: string, reference: TfReference, backend: BackendRequest,
): Promise<BackboneCheck> {
  const cacheHash = await cacheBackboneHash(model);
  if (cacheHash !== undefined && cacheHash !== kerasSha256) {
    throw new UserError(
      `cannot compose the image encoder: the run was trained on features of backbone ${cacheHash.slice(0, 12)}..., ` +
      `but the installed ResNet-50 is ${kerasSha256.slice(0, 12)}... (pass --no-backbone-check to export anyway)`,
    );
  }
  await selectBackend(backend);
  const crop = probeImage();
  const session = await openSession(encoderFile);
  const onnx = await runImageEncoder(session, [crop]);
  await session.release();
  const expected = reference.imageHead(await tfBackboneFeatures([crop]), 1);
  const relError = {
    embedding: relativeError(onnx.embedding, expected.embedding).relError,
    ingredient_logits: relativeError(onnx.logits, expected.logits).relError,
    debiased_embedding: relativeError(onnx.debiased, expected.debiased).relError,
  };
  const worst = Object.entries(relError).find(([, e]) => !(e <= PARITY_TOLERANCE));
  if (worst) {
    throw new UserError(`${encoderFile}: ${worst[0]} differs from TF.js backbone + head by ${worst[1].toExponential(2)} (relative) on the probe image, above ${PARITY_TOLERANCE}`);
  }
  return { cacheHash: cacheHash === undefined ? 'not found' : 'match', probe: { relError } };
}
