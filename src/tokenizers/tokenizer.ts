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

/** Rebuilds a tokenizer saved with `toJSON()` (as an object or a JSON string). */
export function tokenizerFromJSON(json: TokenizerJSON | string): Tokenizer {
  const data: TokenizerJSON = typeof json === 'string' ? JSON.parse(json) : json;
  switch (data?.type) {
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
    default:
      throw new Error(
        `Unknown tokenizer type ${JSON.stringify((data as { type?: unknown } | null)?.type)}; expected one of 'char', 'gpt2', 'word', 'bpe', 'huggingface'`,
      );
  }
}
