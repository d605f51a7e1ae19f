import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { readRecipeFile } from '../../src/data/dataset.js';
import { buildVocabulary, saveVocabulary } from '../../src/data/text/vocabulary.js';
import { presetConfig, type ModelConfig } from '../../src/model/config.js';
import { modelParamSpecs } from '../../src/model/param-spec.js';
import { ParamStore } from '../../src/model/param-store.js';
import { saveCheckpoint } from '../../src/model-format/checkpoint.js';
import { SeededRandom } from '../../src/util/random.js';
import { fromRoot } from '../../src/util/paths.js';

/**
 * Tiny training-run folders in the layout src/train writes (run.json, vocab.pkl, labels.json, best/,
 * dictionary/), with random weights, for the export tests.
 */
export const TINY_LABELS = ['salt', 'butter', 'flour', 'sugar', 'egg', 'milk'];

export interface TinyRunOptions {
  /** Stage 2: include Wv and write a dictionary. */
  debias?: boolean;
  /** Write dictionary/ even without Wv (a stage-1 run after stage 2a). */
  dictionary?: boolean;
  /** Replace config fields (e.g. backboneChannels 2048 for a backbone-composed export). */
  configPatch?: (config: ModelConfig) => void;
  /** Extra entries in the stored config (refusal tests). */
  rawConfigExtra?: Record<string, unknown>;
  /** Extra parameters in the checkpoint (refusal tests). */
  extraParams?: Record<string, tf.Tensor>;
  seed?: number;
}

let demoTexts: string[] | undefined;

async function demoVocabularyTexts(): Promise<string[]> {
  if (!demoTexts) {
    const recipes = await readRecipeFile(fromRoot('index-data', 'demo', 'train.pkl'));
    demoTexts = recipes.flatMap((r) => [r.title, ...r.ingredients, ...r.instructions]);
  }
  return demoTexts;
}

export async function createTinyRun(dir: string, opts: TinyRunOptions = {}): Promise<ModelConfig> {
  const seed = opts.seed ?? 3;
  await fs.mkdir(dir, { recursive: true });
  const vocab = buildVocabulary(await demoVocabularyTexts(), 3);
  const vocabFile = path.join(dir, 'vocab.pkl');
  await saveVocabulary(vocab, vocabFile);
  const vocabSha256 = createHash('sha256').update(await fs.readFile(vocabFile)).digest('hex');

  const config = presetConfig('tiny', { vocabSize: vocab.size, labels: TINY_LABELS.length });
  opts.configPatch?.(config);
  const specs = modelParamSpecs(config, { debias: opts.debias === true });
  const store = ParamStore.initialise(specs, seed);
  // PyTorch's init leaves biases at 0 and norms at 1: perturb those constants so that a dropped or
  // misplaced bias cannot hide behind a zero (random weights keep their init scale).
  const constant = new Set(specs.filter((s) => s.init.kind === 'constant').map((s) => s.name));
  const rng = new SeededRandom(seed);
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, t] of store.toNamedTensors()) {
    const noise = Float32Array.from({ length: t.size }, () => (constant.has(name) ? (rng.nextFloat() * 2 - 1) * 0.2 : 0));
    tensors.set(name, tf.add(t, tf.tensor(noise, t.shape)));
  }
  store.dispose();
  for (const [name, t] of Object.entries(opts.extraParams ?? {})) tensors.set(name, t);

  const stage = opts.debias ? 'debias' : 'baseline';
  const storedConfig = { ...config, ...opts.rawConfigExtra };
  await saveCheckpoint(path.join(dir, 'best'), { params: tensors }, {
    kind: 'recipe-retrieval-model', stage, config: storedConfig, epoch: 1, vocabSha256, labelNames: TINY_LABELS,
    metrics: { epoch: 1, val: { medR: 1 } },
  });
  tf.dispose([...tensors.values()]);
  if (opts.debias || opts.dictionary) {
    const d = tf.randomNormal([TINY_LABELS.length, config.recipe.width], 0, 0.5, 'float32', seed);
    await saveCheckpoint(path.join(dir, 'dictionary'), { dictionary: new Map([['D', d]]) }, { kind: 'ingredient-dictionary' });
    d.dispose();
  }
  await fs.writeFile(path.join(dir, 'labels.json'), JSON.stringify({ labels: TINY_LABELS }));
  await fs.writeFile(path.join(dir, 'run.json'), JSON.stringify({
    format: 'recipe-retrieval-run', version: 1, stage, preset: 'tiny', config: storedConfig,
    vocab: { file: 'vocab.pkl', source: 'demo', sha256: vocabSha256, words: vocab.size },
    labels: { file: 'labels.json', source: 'test', count: TINY_LABELS.length, names: TINY_LABELS },
    bestEpoch: 1, best: { epoch: 1, val: { medR: 1 } },
  }, null, 1));
  return config;
}
