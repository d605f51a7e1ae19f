import { promises as fs } from 'node:fs';
import type { RankMetrics } from '../eval/metrics.js';
import type { EvaluationReport } from '../eval/report.js';
import { DataFileError } from '../util/errors.js';

/**
 * A model's measured retrieval quality, as its manifest records it (from an `evaluate --json`
 * report): what the server shows next to its results, so nobody reads a confident-looking score as
 * a good model. Means over the report's runs; R@K in percent.
 */
export interface ModelEvaluation {
  split: string;
  /** Photo-recipe pairs of the split ranked (the photos the model did not train on, for a test split). */
  pairs: number;
  /** Pairs per ranking subset (each photo is ranked against the n recipes of its subset). */
  n: number;
  runs: number;
  /** Which image embedding was ranked: the debiased ẽ_I when the model has one (what search uses by default). */
  embedding: 'debiased' | 'plain';
  imageToRecipe: RankMetrics;
  recipeToImage: RankMetrics;
  /** The same metrics of a random ranking of the same candidates. */
  chance: RankMetrics;
  /** Image->recipe with the split's text-only recipes added to every gallery, when measured. */
  withNoImages?: { gallery: number; imageToRecipe: RankMetrics; chance: RankMetrics };
  /** Where the numbers come from (file, and entry when the file holds several reports). */
  source: string;
}

const means = ({ medR, r1, r5, r10 }: RankMetrics): RankMetrics => ({ medR, r1, r5, r10 });

/** The manifest's evaluation entry from an `evaluate --json` report. */
export function evaluationFromReport(report: Pick<EvaluationReport, 'split' | 'pairs' | 'n' | 'runs' | 'results' | 'withNoImages'>, source: string): ModelEvaluation {
  const debiased = report.results.debiased;
  const ranked = debiased ?? report.results.plain;
  const extra = report.withNoImages;
  const extraRanked = extra ? (debiased ? extra.debiased : extra.plain) ?? extra.plain : undefined;
  return {
    split: report.split,
    pairs: report.pairs,
    n: report.n,
    runs: report.runs,
    embedding: debiased ? 'debiased' : 'plain',
    imageToRecipe: means(ranked.imageToRecipe),
    recipeToImage: means(ranked.recipeToImage),
    chance: means(report.results.chance.imageToRecipe),
    ...(extra && extraRanked ? { withNoImages: { gallery: extra.gallery, imageToRecipe: means(extraRanked.imageToRecipe), chance: means(extra.chance.imageToRecipe) } } : {}),
    source,
  };
}

/**
 * Read an `evaluate --json` report from `file`; `entry` names it inside a file that holds several
 * under names (as models/demo-run/evaluation.json does). `source` is how the manifest will name it.
 */
export async function readEvaluationFile(file: string, source: string, entry?: string): Promise<ModelEvaluation> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `not readable JSON (${(err as Error).message})`);
  }
  const report = (entry === undefined ? parsed : (parsed as Record<string, unknown> | null)?.[entry]) as EvaluationReport | undefined;
  const ok = report && typeof report.split === 'string' && Number.isInteger(report.pairs) && Number.isInteger(report.n)
    && report.results?.plain?.imageToRecipe && report.results?.chance?.imageToRecipe;
  if (!ok) throw new DataFileError(file, `${entry === undefined ? '' : `entry "${entry}": `}not the JSON report of \`recipe-retrieval evaluate --json\``);
  return evaluationFromReport(report, entry === undefined ? source : `${source} (${entry})`);
}

/**
 * The quality in one line for people, e.g. "right recipe in the top 10 for 50% of 28 unseen photos;
 * chance 36%" (the page and /v1/info show it).
 */
export function evaluationSummary(e: ModelEvaluation): string {
  const pct = (x: number) => `${Math.round(x)}%`;
  const photos = e.split === 'test' ? 'unseen photos' : `${e.split} photos`;
  return `right recipe in the top 10 for ${pct(e.imageToRecipe.r10)} of ${e.pairs} ${photos}; chance ${pct(e.chance.r10)}`;
}
