import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureDemoIndex, type IndexStep } from './index-step.js';
import { ensureDemoModel, type ModelStep } from './model-step.js';
import { DEFAULT_INDEX_OUT, DEFAULT_MODEL_OUT, DEMO_DATASET, DEMO_RUN } from './paths.js';

export interface SetupOptions {
  modelOut?: string;
  indexOut?: string;
  /** Rebuild both even when they verify, and replace folders setup did not make. */
  force?: boolean;
  /** Sources (default: the committed demo run and dataset). */
  runDir?: string;
  datasetRoot?: string;
  log?: (line: string) => void;
}

export interface SetupSummary {
  model: Omit<ModelStep, 'manifest'> & { modelId: string };
  index: IndexStep;
  /** True when anything was written. */
  changed: boolean;
  seconds: number;
}

/**
 * Prepare the embedded demo: the ONNX export of the demo run, then the index of every demo recipe
 * built with it. Each step first verifies what is there and does only what is missing, stale or
 * damaged; progress lines carry the elapsed time.
 */
export async function runSetup(opts: SetupOptions = {}): Promise<SetupSummary> {
  const started = performance.now();
  const sink = opts.log ?? (() => {});
  const log = (line: string) => sink(`setup [${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const force = opts.force === true;
  const modelOut = path.resolve(opts.modelOut ?? DEFAULT_MODEL_OUT);
  const indexOut = path.resolve(opts.indexOut ?? DEFAULT_INDEX_OUT);

  log(`checking the demo model export ${modelOut}`);
  const model = await ensureDemoModel({ runDir: path.resolve(opts.runDir ?? DEMO_RUN), outDir: modelOut, force, log });
  log(`checking the demo index ${indexOut}`);
  const index = await ensureDemoIndex({ datasetRoot: path.resolve(opts.datasetRoot ?? DEMO_DATASET), outDir: indexOut, model, force, log });
  const { manifest, ...modelReport } = model;
  return {
    model: { ...modelReport, modelId: manifest.modelId },
    index,
    changed: model.action !== 'verified' || index.action !== 'verified',
    seconds: (performance.now() - started) / 1000,
  };
}
