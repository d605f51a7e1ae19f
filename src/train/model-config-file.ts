import { presetConfig, validateModelConfig, type ModelConfig } from '../model/config.js';
import { DataFileError } from '../util/errors.js';
import { readJsonFile } from '../util/json-file.js';

export interface DataSizes {
  vocabSize: number;
  labels: number;
  /** Channels of the cached backbone maps: whatever the preset says, the features decide. */
  backboneChannels: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isRecord(value) && isRecord(base[key]) ? deepMerge(base[key] as Record<string, unknown>, value) : value;
  }
  return out;
}

/**
 * The model config of a new run: a preset, optionally with sizes overridden by a JSON file holding
 * part of a ModelConfig (e.g. {"embeddingDim": 256, "classifier": {"width": 128}}), and the sizes
 * the data fixes (vocabulary, labels, backbone channels) set last, so a file cannot contradict them.
 */
export async function resolveModelConfig(preset: string, sizes: DataSizes, overridesFile?: string): Promise<ModelConfig> {
  const base = presetConfig(preset, { vocabSize: sizes.vocabSize, labels: sizes.labels });
  let merged: Record<string, unknown> = base as unknown as Record<string, unknown>;
  if (overridesFile) {
    const parsed = await readJsonFile(overridesFile);
    if (!isRecord(parsed)) throw new DataFileError(overridesFile, 'expected a JSON object of model config fields');
    for (const fixed of ['vocabSize', 'backboneChannels'] as const) {
      if (fixed in parsed) throw new DataFileError(overridesFile, `"${fixed}" comes from the data, not from a config file`);
    }
    if (isRecord(parsed.classifier) && 'labels' in parsed.classifier) {
      throw new DataFileError(overridesFile, '"classifier.labels" comes from the label files, not from a config file');
    }
    merged = deepMerge(merged, parsed);
  }
  merged = deepMerge(merged, { vocabSize: sizes.vocabSize, backboneChannels: sizes.backboneChannels, classifier: { labels: sizes.labels } });
  return validateModelConfig(merged, overridesFile ?? `preset ${preset}`);
}
