/**
 * The word vocabulary (HT's vocab.pkl: a pickled dict int -> word). Ids 0..2 are <pad>, <start>, <end>; the last id is
 * <unk>; the words sit in between. Model checkpoints index their word embedding with these ids, so a loaded file is
 * checked strictly rather than repaired.
 */
import { readPickleFile, writePickleFile } from '../pickle/pickle.js';
import { DataFileError, UserError } from '../../util/errors.js';
import { tokenizeForVocab } from './tokenize.js';

export const PAD_TOKEN = '<pad>';
export const START_TOKEN = '<start>';
export const END_TOKEN = '<end>';
export const UNK_TOKEN = '<unk>';
export const PAD_ID = 0;
export const START_ID = 1;
export const END_ID = 2;

const LEADING_SPECIALS = [PAD_TOKEN, START_TOKEN, END_TOKEN] as const;

export class Vocabulary {
  private readonly idByWord: Map<string, number>;

  /** `words[id]` is the word of that id; throws when the special tokens are not in place or a word repeats. */
  constructor(readonly words: readonly string[]) {
    const problem = layoutProblem(words);
    if (problem) throw new UserError(`invalid vocabulary: ${problem}`);
    this.idByWord = new Map(words.map((word, id) => [word, id]));
  }

  get size(): number {
    return this.words.length;
  }

  get unkId(): number {
    return this.words.length - 1;
  }

  has(word: string): boolean {
    return this.idByWord.has(word);
  }

  /** The id of a word, or the <unk> id. */
  idOf(word: string): number {
    return this.idByWord.get(word) ?? this.unkId;
  }

  wordOf(id: number): string {
    const word = this.words[id];
    if (word === undefined) throw new RangeError(`word id ${id} outside 0..${this.words.length - 1}`);
    return word;
  }
}

/** What is wrong with a word list as a vocabulary, or null. */
function layoutProblem(words: readonly string[]): string | null {
  if (words.length < LEADING_SPECIALS.length + 1) return `only ${words.length} entries, need at least 4`;
  for (const [id, token] of LEADING_SPECIALS.entries()) {
    if (words[id] !== token) return `id ${id} is ${JSON.stringify(words[id])}, expected ${JSON.stringify(token)}`;
  }
  const last = words.length - 1;
  if (words[last] !== UNK_TOKEN) return `last id ${last} is ${JSON.stringify(words[last])}, expected "${UNK_TOKEN}"`;
  const seen = new Map<string, number>();
  for (const [id, word] of words.entries()) {
    const earlier = seen.get(word);
    if (earlier !== undefined) return `word ${JSON.stringify(word)} has two ids (${earlier} and ${id})`;
    seen.set(word, id);
  }
  return null;
}

/** Read a vocab.pkl (dict int -> str) and check that ids are 0..n-1 with the special tokens in place. */
export async function loadVocabulary(file: string): Promise<Vocabulary> {
  const value = await readPickleFile(file);
  if (!(value instanceof Map)) throw new DataFileError(file, 'expected a pickled dict of int -> str');
  const words: string[] = new Array<string>(value.size);
  for (const [key, word] of value) {
    if (typeof key !== 'number' || !Number.isInteger(key)) throw new DataFileError(file, `key ${JSON.stringify(key)} is not an integer id`);
    if (key < 0 || key >= value.size) throw new DataFileError(file, `id ${key} outside 0..${value.size - 1}: ids must be contiguous`);
    if (typeof word !== 'string') throw new DataFileError(file, `id ${key} maps to a ${typeof word}, not a word`);
    words[key] = word;
  }
  // n distinct integer keys all inside 0..n-1 cover it exactly; a Map cannot hold a key twice.
  const problem = layoutProblem(words);
  if (problem) throw new DataFileError(file, problem);
  return new Vocabulary(words);
}

/**
 * Build a vocabulary from texts (each lower-cased and tokenized as for encoding), keeping words seen at least
 * `minCount` times. Word order is first occurrence, as HT's builder keeps its Counter's insertion order (the published
 * Recipe1M vocab starts "kombu, tea, grilled, chicken, thigh": the first training title). Deterministic for a given
 * order of texts.
 */
export function buildVocabulary(texts: Iterable<string>, minCount: number): Vocabulary {
  if (!Number.isInteger(minCount) || minCount < 1) throw new UserError(`minimum word count must be a positive integer, got ${minCount}`);
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const token of tokenizeForVocab(text.toLowerCase())) counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  const kept = [...counts].filter(([, n]) => n >= minCount).map(([word]) => word);
  return new Vocabulary([...LEADING_SPECIALS, ...kept, UNK_TOKEN]);
}

/** Write the vocabulary as HT does: a pickled dict int -> str (protocol 4). */
export async function saveVocabulary(vocab: Vocabulary, file: string): Promise<void> {
  await writePickleFile(file, new Map<number, string>(vocab.words.map((word, id) => [id, word])), { protocol: 4 });
}
