import type { ExportedModel } from '../model-format/exported-model.js';
import { InferencePool, type InferencePoolOptions } from './inference-pool.js';
import { RECIPE_PADDING } from './recipe-tensors.js';
import type { Device, Provider } from './session-factory.js';

/** How big one pool is; what is left out takes InferencePool's defaults. */
export type PoolSizing = Pick<InferencePoolOptions, 'workers' | 'threadsPerWorker' | 'maxBatch' | 'maxWaitMs' | 'maxQueue'>;

export interface ModelPoolOptions {
  device: Device;
  /** The image encoder's pool; left out, only the recipe encoder runs (index building). */
  image?: PoolSizing;
  recipe: PoolSizing;
  log?: (line: string) => void;
}

export interface ModelPools {
  image?: InferencePool;
  recipe: InferencePool;
  /** Where the graphs run (the image pool settles `auto`; the recipe pool follows it). */
  provider: Provider;
  close(): Promise<void>;
}

/**
 * Start the pools that run an exported model's graphs (the server, `evaluate` of an export and
 * index building all open them here): the image encoder's when asked for, then the recipe
 * encoder's, with the padding its variable-length token inputs need, on the provider the image
 * pool settled on, so `auto` is resolved (and a CUDA fallback logged) once. When the second pool
 * cannot start, the first is closed before the error goes on.
 */
export async function openModelPools(model: ExportedModel, opts: ModelPoolOptions & { image: PoolSizing }): Promise<ModelPools & { image: InferencePool }>;
export async function openModelPools(model: ExportedModel, opts: ModelPoolOptions): Promise<ModelPools>;
export async function openModelPools(model: ExportedModel, opts: ModelPoolOptions): Promise<ModelPools> {
  let image: InferencePool | undefined;
  if (opts.image) {
    if (!model.imageEncoderPath) throw new Error(`${model.dir}: the export has no image encoder to start a pool for`);
    image = await InferencePool.create({ ...opts.image, modelPath: model.imageEncoderPath, device: opts.device, log: opts.log });
  }
  let recipe: InferencePool;
  try {
    recipe = await InferencePool.create({
      ...opts.recipe, modelPath: model.recipeEncoderPath, device: image?.provider ?? opts.device, padding: RECIPE_PADDING, log: opts.log,
    });
  } catch (err) {
    await image?.close();
    throw err;
  }
  return {
    image,
    recipe,
    provider: image?.provider ?? recipe.provider,
    close: async () => {
      await Promise.all([image?.close(), recipe.close()]);
    },
  };
}
