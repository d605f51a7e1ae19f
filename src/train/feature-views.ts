import { readManifest, viewDir } from '../features/cache-format.js';
import { openFeatureCache, type FeatureCache } from '../features/cache-reader.js';
import { UserError } from '../util/errors.js';

/** The feature caches of one split: view 0 (centre crop) and the augmented train views 1..K. */
export interface FeatureViews {
  base: FeatureCache;
  augmented: FeatureCache[];
  backboneHash: string;
  /** Channels C of the cached maps [7, 7, C]. */
  channels: number;
  close(): void;
}

/**
 * Open view 0 of a split and, when `views` is not 0, its augmented views: `views` = K uses 1..K
 * (each must exist), undefined uses every view present. All views must come from one backbone.
 */
export async function openFeatureViews(cacheDir: string, split: string, views?: number): Promise<FeatureViews> {
  const base = await openFeatureCache(cacheDir, split, 0);
  const augmented: FeatureCache[] = [];
  for (let v = 1; views === undefined || v <= views; v++) {
    if (!(await readManifest(viewDir(cacheDir, split, v)))) {
      if (views === undefined) break;
      throw new UserError(
        `${viewDir(cacheDir, split, v)}: no augmented view ${v} of ${split} in the feature cache ` +
        `(--views ${views} needs views 1..${views}; run: recipe-retrieval features <root> --split ${split} --views ${views})`,
      );
    }
    const cache = await openFeatureCache(cacheDir, split, v);
    if (cache.backboneHash !== base.backboneHash) {
      throw new UserError(`${viewDir(cacheDir, split, v)}: made with other backbone weights than view 0; re-run the features command`);
    }
    augmented.push(cache);
  }
  return {
    base,
    augmented,
    backboneHash: base.backboneHash,
    channels: base.shape[2],
    close() {
      base.close();
      for (const c of augmented) c.close();
    },
  };
}
