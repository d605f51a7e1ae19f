/** One recipe as the Recipe1M split pickles hold it (text already lower-cased). */
export interface Recipe {
  /** 10 hex characters in Recipe1M; any non-empty string is accepted. */
  id: string;
  title: string;
  /** Whole raw ingredient lines ("2 cups flour"), not canonical names. */
  ingredients: string[];
  instructions: string[];
  /** Image file names; the first one is the recipe's photo for training and evaluation. */
  images: string[];
}

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export function isSplit(value: string): value is Split {
  return (SPLITS as readonly string[]).includes(value);
}
