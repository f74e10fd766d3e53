import { BpeTokenizer, type BpeTokenizerJSON } from './bpe.js';
import { CharTokenizer, type CharTokenizerJSON } from './char.js';
import { Gpt2Tokenizer, type Gpt2TokenizerJSON } from './gpt2.js';
import { HFTokenizer, type HFTokenizerJSON } from './hf-tokenizer.js';
import { WordTokenizer, type WordTokenizerJSON } from './word.js';

/** The tokenizers `inkwell prepare` makes for a corpus; a loaded tokenizer.json is of type 'huggingface'. */
export type TokenizerType = 'char' | 'gpt2' | 'word' | 'bpe';

export type TokenizerJSON = CharTokenizerJSON | Gpt2TokenizerJSON | WordTokenizerJSON | BpeTokenizerJSON | HFTokenizerJSON;

export interface EncodeOptions {
  /**
   * Which special tokens (e.g. `<|endoftext|>`) are recognised in the text: 'all' (the default),
   * 'none', or a list of names. Special-token text that is not allowed is encoded as ordinary text,
   * which is what untrusted input (e.g. a user's prompt) should get.
   */
  allowedSpecial?: 'all' | 'none' | readonly string[];
  /**
   * Add the special tokens the tokenizer wraps a text in (a tokenizer.json's BOS/EOS), as Hugging Face's
   * `add_special_tokens=True` does; default true. Tokenizers that wrap nothing ignore it.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens (e.g. BOS, EOS, <|im_end|>) out of the text. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  readonly type: TokenizerType | 'huggingface';
  /** One more than the largest token id, i.e. the number of rows an embedding table needs. */
  readonly vocabSize: number;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  toJSON(): TokenizerJSON;
}

/**
 * Rebuilds a tokenizer saved with `toJSON()` (as an object or a JSON string). A malformed one is an
 * error naming the field, prefixed by `where` (the file it came from) when given.
 */
export function tokenizerFromJSON(json: TokenizerJSON | string, where?: string): Tokenizer {
  try {
    const data: unknown = typeof json === 'string' ? parseTokenizerText(json) : json;
    checkTokenizerJSON(data);
    return fromCheckedJSON(data);
  } catch (err) {
    if (where === undefined) throw err;
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

/** A tokenizer stored as JSON text (as checkpoints may hold it). */
function parseTokenizerText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`tokenizer is not valid JSON (${(err as Error).message})`);
  }
}

/** The fields each tokenizer type reads, checked so a damaged file fails here and not deep inside a constructor. */
function checkTokenizerJSON(data: unknown): asserts data is TokenizerJSON {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`tokenizer must be a JSON object, got ${describe(data)}`);
  const json = data as Record<string, unknown>;
  const need = (field: string, ok: (v: unknown) => boolean, what: string) => {
    if (!ok(json[field])) throw new Error(`tokenizer.${field} must be ${what}, got ${describe(json[field])}`);
  };
  const isString = (v: unknown) => typeof v === 'string';
  const isId = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  const arrayOf = (ok: (v: unknown) => boolean) => (v: unknown) => Array.isArray(v) && v.every(ok);
  const recordOf = (ok: (v: unknown) => boolean) => (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(ok);
  switch (json.type) {
    case 'char':
      return need('chars', arrayOf(isString), 'an array of characters');
    case 'word':
      return need('words', arrayOf(isString), 'an array of words');
    case 'bpe':
      need('split', isString, 'the name of a split pattern');
      need('merges', arrayOf((m) => Array.isArray(m) && m.length === 2 && m.every(isId)), 'an array of [left, right] id pairs');
      return need('specialTokens', recordOf(isId), 'an object of special token → id');
    case 'gpt2':
      if (json.source === 'tiktoken') return;
      need('source', (v) => v === 'huggingface', "'tiktoken' or 'huggingface'");
      need('vocab', recordOf(isId), 'an object of token → id');
      need('merges', arrayOf(isString), 'an array of merge lines');
      return need('specialTokens', arrayOf(isString), 'an array of token strings');
    case 'huggingface':
      return need('tokenizer', (v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'the contents of a tokenizer.json');
    default:
      throw new Error(`Unknown tokenizer type ${describe(json.type)}; expected one of 'char', 'gpt2', 'word', 'bpe', 'huggingface'`);
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function fromCheckedJSON(data: TokenizerJSON): Tokenizer {
  switch (data.type) {
    case 'char':
      return CharTokenizer.fromJSON(data);
    case 'gpt2':
      return Gpt2Tokenizer.fromJSON(data);
    case 'word':
      return WordTokenizer.fromJSON(data);
    case 'bpe':
      return BpeTokenizer.fromJSON(data);
    case 'huggingface':
      return HFTokenizer.fromJSON(data);
  }
}
