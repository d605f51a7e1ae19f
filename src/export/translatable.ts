import { modelParamSpecs } from '../model/param-spec.js';
import { UserError } from '../util/errors.js';
import type { TrainedModel } from './trained-model.js';

/**
 * What the exporter can translate is exactly the model of src/model at a config validateModelConfig
 * accepts. Anything else in a run (a setting it does not read, a parameter no graph uses) would be
 * dropped silently from the ONNX files, so it is refused up front with its name.
 */

/** Dotted paths present in `raw` but absent from `known` (the validated config). */
function unknownKeys(raw: unknown, known: unknown, prefix = ''): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const knownObj = (typeof known === 'object' && known !== null ? known : {}) as Record<string, unknown>;
  const out: string[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const pathName = `${prefix}${key}`;
    if (!(key in knownObj)) out.push(pathName);
    else out.push(...unknownKeys(value, knownObj[key], `${pathName}.`));
  }
  return out;
}

function listNames(names: string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 6).join(', ')} and ${names.length - 6} more`;
}

export function checkTranslatable(model: TrainedModel): void {
  const what = `cannot export ${model.runDir}`;
  const extraSettings = unknownKeys(model.rawConfig, model.config);
  if (extraSettings.length) {
    throw new UserError(`${what}: the exporter does not know how to translate model setting(s) ${listNames(extraSettings)} (in ${model.configSource})`);
  }
  const specs = modelParamSpecs(model.config, { debias: true });
  const known = new Map(specs.map((s) => [s.name, s]));
  const unknown = [...model.params.keys()].filter((name) => !known.has(name));
  if (unknown.length) {
    throw new UserError(`${what}: the exporter does not know how to translate parameter(s) ${listNames(unknown)}`);
  }
  const optional = (name: string): boolean => name.startsWith('Wv.');
  const missing = specs.filter((s) => !model.params.has(s.name) && !optional(s.name)).map((s) => s.name);
  if (missing.length) throw new UserError(`${what}: parameter(s) ${listNames(missing)} missing from ${model.checkpointDir}`);
  const hasWv = ['Wv.weight', 'Wv.bias'].map((n) => model.params.has(n));
  if (hasWv[0] !== hasWv[1]) throw new UserError(`${what}: only one of Wv.weight and Wv.bias is present`);
  for (const [name, t] of model.params) {
    const want = known.get(name)!.shape;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new UserError(`${what}: parameter ${name} has shape [${t.shape.join(',')}], the config needs [${want.join(',')}]`);
    }
  }
}
