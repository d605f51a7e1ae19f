import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { exportModel } from '../export/export-model.js';
import { IMAGE_ENCODER_FILE } from '../model-format/io-spec.js';
import { fileRecord, type ExportManifest } from '../model-format/manifest.js';
import { UserError } from '../util/errors.js';
import { inspectModel, type ModelVerdict } from './model-check.js';
import { readModelSource } from './model-source.js';
import { DEMO_MODEL_ID } from './paths.js';

export type StepAction = 'verified' | 'built' | 'repaired';

export interface ModelStep {
  dir: string;
  action: StepAction;
  /** Why something was (re)built: empty when verified. */
  reasons: string[];
  /** Files rewritten by a repair. */
  files: string[];
  seconds: number;
  manifest: ExportManifest;
  manifestSha256: string;
  /** The demo run's checkpoint sha256 (the index records it). */
  checkpointSha256: string;
}

export interface ModelStepOptions {
  runDir: string;
  outDir: string;
  force: boolean;
  log: (line: string) => void;
}

/**
 * Make `outDir` a verified export of the demo run: nothing when it already is; a full export when it
 * is missing or stale; for corrupt files, only those files, taken from a fresh export in a staging
 * folder (the export is byte-reproducible), so the manifest and every index built on it stay valid.
 */
export async function ensureDemoModel(opts: ModelStepOptions): Promise<ModelStep> {
  const started = performance.now();
  const { outDir, log } = opts;
  const source = await readModelSource(opts.runDir);
  const verdict = await inspectModel(outDir, source);
  const done = (action: StepAction, reasons: string[], files: string[], final: Extract<ModelVerdict, { state: 'ok' }>): ModelStep => ({
    dir: outDir, action, reasons, files, seconds: (performance.now() - started) / 1000,
    manifest: final.manifest, manifestSha256: final.manifestSha256, checkpointSha256: source.checkpointSha256,
  });

  if (verdict.state === 'ok' && !opts.force) {
    log(`model ${outDir}: verified (${Object.keys(verdict.manifest.files).length} files match manifest.json by sha256; source run unchanged)`);
    return done('verified', [], [], verdict);
  }
  if (verdict.state === 'foreign' && !opts.force) {
    throw new UserError(`${verdict.reasons[0]}; refusing to overwrite it (choose another --model-out, or pass --force)`);
  }

  if (verdict.state === 'corrupt' && !opts.force) {
    for (const reason of verdict.reasons) log(`model: ${reason}`);
    log(`model ${outDir}: rebuilding ${verdict.files.join(', ')} only`);
    if (await repairFiles(opts.runDir, outDir, verdict.manifest, verdict.files, log)) {
      const final = await verified(outDir, source);
      return done('repaired', verdict.reasons, verdict.files, final);
    }
    log('model: the fresh export differs from the recorded files; exporting the whole model again');
  }

  const reasons = opts.force ? ['--force'] : verdict.state === 'ok' ? [] : verdict.reasons;
  // A corrupt folder's reasons were logged above, before the repair attempt.
  if (verdict.state !== 'corrupt' || opts.force) for (const reason of reasons) log(`model: ${verdict.state}: ${reason}`);
  log(`model ${outDir}: exporting ${path.basename(opts.runDir)} to ONNX${reasons.length ? ' again' : ''} (the ResNet-50 backbone is converted from the npm package)`);
  await exportModel({
    runDir: opts.runDir, outDir, modelId: DEMO_MODEL_ID, image: 'both', backboneCheck: true, backend: 'wasm', evaluation: source.evaluation,
    log: (line) => log(`  export: ${line}`),
  });
  return done('built', reasons, [], await verified(outDir, source));
}

/** Re-check what was just written; anything but ok is a bug, not a user error. */
async function verified(outDir: string, source: Awaited<ReturnType<typeof readModelSource>>): Promise<Extract<ModelVerdict, { state: 'ok' }>> {
  const final = await inspectModel(outDir, source);
  if (final.state !== 'ok') throw new Error(`${outDir}: export does not verify after writing it (${final.state}: ${final.reasons.join('; ')})`);
  return final;
}

/**
 * Export again into a sibling staging folder and move in the corrupt files, if the fresh bytes are
 * exactly the recorded ones. The head-only export (no ResNet-50 conversion) suffices unless the
 * image encoder itself is damaged.
 */
async function repairFiles(runDir: string, outDir: string, manifest: ExportManifest, files: string[], log: (line: string) => void): Promise<boolean> {
  const staging = path.join(path.dirname(outDir), `.${path.basename(outDir)}.repair-${process.pid}`);
  await fs.rm(staging, { recursive: true, force: true });
  try {
    const image = files.includes(IMAGE_ENCODER_FILE) ? 'both' : 'head';
    await exportModel({
      runDir, outDir: staging, modelId: manifest.modelId, image, backboneCheck: image === 'both', backend: 'wasm', evaluation: manifest.evaluation,
      log: (line) => log(`  staging export: ${line}`),
    });
    for (const name of files) {
      const fresh = await fileRecord(path.join(staging, name)).catch(() => undefined);
      const expected = manifest.files[name];
      if (!fresh || fresh.sha256 !== expected.sha256 || fresh.bytes !== expected.bytes) return false;
    }
    // Same file system (sibling folder), so each rename replaces the damaged file atomically.
    for (const name of files) await fs.rename(path.join(staging, name), path.join(outDir, name));
    return true;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}
