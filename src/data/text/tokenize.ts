/**
 * The tokenization HT's vocabulary and encoding use: NLTK `word_tokenize` = Punkt sentence split, then the Treebank
 * word tokenizer on each sentence (so a sentence-final "batter." becomes "batter", "."). Here Punkt is untrained:
 * see sentence-splitter.ts for where that differs from the trained English model.
 */
import { splitSentences } from './sentence-splitter.js';
import { treebankWordTokenize } from './word-tokenizer.js';

export { splitSentences } from './sentence-splitter.js';
export { treebankWordTokenize } from './word-tokenizer.js';

export function tokenizeForVocab(text: string): string[] {
  return splitSentences(text).flatMap((sentence) => treebankWordTokenize(sentence));
}
