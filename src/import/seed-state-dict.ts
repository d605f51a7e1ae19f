import { validateModelConfig, type ModelConfig } from '../model/config.js';
import { modelParamSpecs } from '../model/param-spec.js';
import { UserError } from '../util/errors.js';
import { resnet50KeySpecs, resnet50OutputChannels, type KeySpec } from '../model/torchvision-resnet-keys.js';

/**
 * The seed's state_dict (`Qeruy2Label` / `Qeruy2Label_DebiasingHard`) mapped onto our model.
 * Our parameters already carry the seed's names without `module.` (src/model/param-spec.ts), so
 * the mapping is: strip the DDP prefix, read every size off the tensors' shapes, then require the
 * key set to be exactly torchvision's ResNet-50 trunk + the sine position buffer + our model's
 * parameters for that config. Anything missing, extra or mis-shaped is refused by name.
 */

export const BACKBONE_PREFIX = 'backbone.0.body';
/** The query2labels sine position map the seed keeps as a buffer, [1, width, 7, 7]. */
export const POSITION_BUFFER = 'backbone.1.pe';
export const DDP_PREFIX = 'module.';
/** The seed's `nheads` and the recipe encoder's class default: neither is visible in any shape. */
export const SEED_DEFAULT_HEADS = 4;
const FEATURE_MAP_SIZE = 7;

export interface TensorInfo {
  shape: readonly number[];
  dtype: string;
}

export interface SeedImportOptions {
  recipeHeads?: number;
  classifierHeads?: number;
  /** The checkpoint path, for messages. */
  source: string;
}

export interface SeedImportPlan {
  config: ModelConfig;
  /** Stage 2: the checkpoint has the debiasing projection Wv. */
  debias: boolean;
  /** ResNet stem width (64 for the real ResNet-50). */
  stemWidth: number;
  /** The prefix stripped from every key ('module.' for the authors' DDP checkpoints, else ''). */
  prefix: string;
  /** Every key the import reads, without the prefix, with its required shape and dtype. */
  specs: KeySpec[];
}

function listSome(names: readonly string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, ... (${names.length - max} more)`;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Distinct layer indices i of keys `${prefix}.${i}.…`. */
function layerCount(keys: Iterable<string>, prefix: string): number {
  const seen = new Set<number>();
  for (const key of keys) {
    if (!key.startsWith(`${prefix}.`)) continue;
    const index = Number(key.slice(prefix.length + 1).split('.')[0]);
    if (Number.isInteger(index)) seen.add(index);
  }
  return seen.size;
}

/** Strip `module.` when every key has it (DistributedDataParallel), as the seed's clean_state_dict does. */
export function stripDdpPrefix(entries: ReadonlyMap<string, TensorInfo>, source: string): { prefix: string; entries: Map<string, TensorInfo> } {
  const keys = [...entries.keys()];
  const prefixed = keys.filter((k) => k.startsWith(DDP_PREFIX));
  if (prefixed.length && prefixed.length !== keys.length) {
    const bare = keys.filter((k) => !k.startsWith(DDP_PREFIX));
    throw new UserError(`${source}: state_dict mixes keys with and without the "${DDP_PREFIX}" prefix (${listSome(bare, 3)})`);
  }
  const prefix = prefixed.length ? DDP_PREFIX : '';
  return { prefix, entries: new Map(keys.map((k) => [k.slice(prefix.length), entries.get(k)!])) };
}

/**
 * Derive the model config from shapes and check every key. Needs shapes only, not weights, so the
 * paper configuration's key listing can be checked without its 900 MB of weights.
 */
export function planSeedImport(rawEntries: ReadonlyMap<string, TensorInfo>, opts: SeedImportOptions): SeedImportPlan {
  const { prefix, entries } = stripDdpPrefix(rawEntries, opts.source);
  // The keys every size is read from, with their ranks.
  const anchors: Record<string, number> = {
    [`${BACKBONE_PREFIX}.conv1.weight`]: 4, 'text_encoder.word_embedding.weight': 2, 'text_encoder.tfs.title.pos_encoder.weight': 2,
    'text_encoder.tfs.title.tf.layers.0.linear1.weight': 2, 'img_fc.weight': 2, 'query_embed.weight': 2, 'transformer.encoder.layers.0.linear1.weight': 2,
  };
  const lacking = Object.entries(anchors).filter(([k, rank]) => entries.get(k)?.shape.length !== rank).map(([k]) => prefix + k);
  if (lacking.length) {
    throw new UserError(`${opts.source}: not a checkpoint of the seed's model: missing or mis-shaped key(s) ${listSome(lacking)}`);
  }
  const dims = (key: string): readonly number[] => entries.get(key)!.shape;
  const stemWidth = dims(`${BACKBONE_PREFIX}.conv1.weight`)[0];
  const [vocabSize, width] = dims('text_encoder.word_embedding.weight');
  const [labels, classifierWidth] = dims('query_embed.weight');
  const keys = [...entries.keys()];
  const rawConfig = {
    vocabSize,
    recipe: {
      width,
      heads: opts.recipeHeads ?? SEED_DEFAULT_HEADS,
      layersPerBlock: layerCount(keys, 'text_encoder.tfs.title.tf.layers'),
      feedForward: dims('text_encoder.tfs.title.tf.layers.0.linear1.weight')[0],
      maxPositions: dims('text_encoder.tfs.title.pos_encoder.weight')[0],
    },
    embeddingDim: dims('img_fc.weight')[0],
    // The trunk decides the map's channels; img_fc and the classifier are checked against it.
    backboneChannels: resnet50OutputChannels(stemWidth),
    classifier: {
      width: classifierWidth,
      heads: opts.classifierHeads ?? SEED_DEFAULT_HEADS,
      feedForward: dims('transformer.encoder.layers.0.linear1.weight')[0],
      encoderLayers: layerCount(keys, 'transformer.encoder.layers'),
      decoderLayers: layerCount(keys, 'transformer.decoder.layers'),
      inputProjection: entries.has('input_proj.weight'),
      labels,
    },
    dropout: 0.1,
    layerNormEps: 1e-5,
  };
  const config = validateModelConfig(rawConfig, `${opts.source} (config derived from its tensor shapes)`);
  const debias = entries.has('Wv.weight');
  const specs: KeySpec[] = [
    ...resnet50KeySpecs(BACKBONE_PREFIX, stemWidth),
    { name: POSITION_BUFFER, shape: [1, config.classifier.width, FEATURE_MAP_SIZE, FEATURE_MAP_SIZE], dtype: 'float32' },
    ...modelParamSpecs(config, { debias }).map((s): KeySpec => ({ name: s.name, shape: s.shape, dtype: 'float32' })),
  ];
  checkKeys(entries, specs, prefix, opts.source);
  return { config, debias, stemWidth, prefix, specs };
}

/** Refuse unless `entries` has exactly the keys of `specs`, with their shapes and dtypes. */
function checkKeys(entries: ReadonlyMap<string, TensorInfo>, specs: readonly KeySpec[], prefix: string, source: string): void {
  const expected = new Map(specs.map((s) => [s.name, s]));
  const missing = specs.filter((s) => !entries.has(s.name)).map((s) => prefix + s.name);
  const unexpected = [...entries.keys()].filter((k) => !expected.has(k)).map((k) => prefix + k);
  const misshaped: string[] = [];
  for (const spec of specs) {
    const got = entries.get(spec.name);
    if (!got) continue;
    if (got.shape.length !== spec.shape.length || got.shape.some((d, i) => d !== spec.shape[i])) {
      misshaped.push(`${prefix}${spec.name} is ${shapeText(got.shape)}, expected ${shapeText(spec.shape)}`);
    } else if (got.dtype !== spec.dtype) {
      misshaped.push(`${prefix}${spec.name} is ${got.dtype}, expected ${spec.dtype}`);
    }
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.length} key(s): ${listSome(missing)}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.length} key(s): ${listSome(unexpected)}`);
  if (misshaped.length) problems.push(`${misshaped.length} mis-shaped key(s): ${listSome(misshaped, 5)}`);
  if (problems.length) {
    throw new UserError(`${source}: state_dict does not match the seed's model (sizes derived from its shapes; nothing was written): ${problems.join('; ')}`);
  }
}
