import { createRequire } from 'node:module';
import { BYTE_TO_UNICODE, UNICODE_TO_BYTE } from './byte-level-alphabet.js';
import { ByteLevelBpe, type ByteLevelBpeTables, type Merge } from './byte-bpe.js';

export const END_OF_TEXT = '<|endoftext|>';

export type Gpt2TokenizerJSON =
  /** GPT-2's own vocabulary, rebuilt from the js-tiktoken package on load. */
  | { type: 'gpt2'; source: 'tiktoken' }
  /** A vocabulary given as Hugging Face `vocab.json` + `merges.txt` (merges as lines, without the #version header). */
  | { type: 'gpt2'; source: 'huggingface'; vocab: Record<string, number>; merges: string[]; specialTokens: string[] };

export interface HuggingFaceGpt2Options {
  /** Vocabulary entries that are special tokens rather than byte sequences; default: `<|endoftext|>` if present. */
  specialTokens?: readonly string[];
}

/** GPT-2's byte-level BPE with its pre-tokenisation regex; ids match tiktoken's `gpt2` encoding. */
export class Gpt2Tokenizer extends ByteLevelBpe {
  override readonly type = 'gpt2';
  private readonly json: Gpt2TokenizerJSON;

  private constructor(tables: ByteLevelBpeTables, json: Gpt2TokenizerJSON) {
    super(tables);
    this.json = json;
  }

  /** GPT-2's vocabulary from the js-tiktoken package (no network); one shared instance, built on first use. */
  static pretrained(): Gpt2Tokenizer {
    pretrained ??= new Gpt2Tokenizer(tiktokenGpt2Tables(), { type: 'gpt2', source: 'tiktoken' });
    return pretrained;
  }

  /** Builds the tokenizer from the contents of Hugging Face's `vocab.json` and `merges.txt`. */
  static fromHuggingFace(
    vocabJson: string | Record<string, number>,
    mergesText: string,
    options: HuggingFaceGpt2Options = {},
  ): Gpt2Tokenizer {
    const vocab: Record<string, number> = typeof vocabJson === 'string' ? JSON.parse(vocabJson) : { ...vocabJson };
    const mergeLines = parseMergesText(mergesText);
    const specialTokens = [...(options.specialTokens ?? (END_OF_TEXT in vocab ? [END_OF_TEXT] : []))];
    const json: Gpt2TokenizerJSON = { type: 'gpt2', source: 'huggingface', vocab, merges: mergeLines, specialTokens };
    return new Gpt2Tokenizer(huggingFaceTables(vocab, mergeLines, specialTokens), json);
  }

  static fromJSON(json: Gpt2TokenizerJSON): Gpt2Tokenizer {
    if (json.source === 'tiktoken') return Gpt2Tokenizer.pretrained();
    if (json.source === 'huggingface') {
      return Gpt2Tokenizer.fromHuggingFace(json.vocab, json.merges.join('\n'), { specialTokens: json.specialTokens });
    }
    throw new Error(`Unknown gpt2 tokenizer source ${JSON.stringify((json as { source?: unknown }).source)}`);
  }

  override toJSON(): Gpt2TokenizerJSON {
    return this.json;
  }
}

let pretrained: Gpt2Tokenizer | undefined;

/**
 * tiktoken stores token ranks, not merges: BPE there merges whichever adjacent parts concatenate to the
 * lowest-ranked token. Listing every split of every token into two tokens, with the whole token's rank
 * as priority, makes the pair-merge core produce exactly those ids.
 */
function tiktokenGpt2Tables(): ByteLevelBpeTables {
  // require() keeps loading synchronous; the 0.5 MB ranks module is only read when GPT-2 is used.
  const ranks = createRequire(import.meta.url)('js-tiktoken/ranks/gpt2') as {
    bpe_ranks: string;
    special_tokens: Record<string, number>;
  };
  const tokenBytes: Uint8Array[] = [];
  const idByBytes = new Map<string, number>(); // keyed by the bytes as a latin1 string
  // Format: lines of "<name> <first rank> <base64 token> <base64 token> ...".
  for (const line of ranks.bpe_ranks.split('\n')) {
    if (line === '') continue;
    const [, firstRank, ...tokens] = line.split(' ');
    tokens.forEach((base64, i) => {
      const bytes = Buffer.from(base64, 'base64');
      const id = Number(firstRank) + i;
      tokenBytes[id] = bytes;
      idByBytes.set(bytes.toString('latin1'), id);
    });
  }

  const merges: Merge[] = [];
  for (const [key, result] of idByBytes) {
    for (let split = 1; split < key.length; split++) {
      const left = idByBytes.get(key.slice(0, split));
      const right = idByBytes.get(key.slice(split));
      if (left !== undefined && right !== undefined) merges.push({ left, right, result, priority: result });
    }
  }

  const byteToId = Array.from({ length: 256 }, (_, byte) => {
    const id = idByBytes.get(String.fromCharCode(byte));
    if (id === undefined) throw new Error(`GPT-2 ranks have no token for byte ${byte}`);
    return id;
  });

  const specialTokens = new Map(Object.entries(ranks.special_tokens));
  for (const [name, id] of specialTokens) tokenBytes[id] = new TextEncoder().encode(name);
  return { byteToId, tokenBytes, merges, specialTokens, split: 'gpt2' };
}

function parseMergesText(text: string): string[] {
  return text.split(/\r?\n/).filter((line, index) => line !== '' && !(index === 0 && line.startsWith('#version')));
}

function huggingFaceTables(vocab: Record<string, number>, mergeLines: readonly string[], specialNames: readonly string[]): ByteLevelBpeTables {
  const specialTokens = new Map<string, number>();
  for (const name of specialNames) {
    const id = vocab[name];
    if (id === undefined) throw new Error(`Special token ${JSON.stringify(name)} is not in vocab.json`);
    specialTokens.set(name, id);
  }

  const tokenBytes: Uint8Array[] = [];
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0) throw new Error(`vocab.json maps ${JSON.stringify(token)} to invalid id ${id}`);
    if (tokenBytes[id] !== undefined) throw new Error(`vocab.json maps more than one token to id ${id}`);
    tokenBytes[id] = specialTokens.has(token) ? new TextEncoder().encode(token) : unicodeTokenToBytes(token);
  }

  const idOf = (token: string, lineNumber: number): number => {
    const id = vocab[token];
    if (id === undefined) throw new Error(`merges.txt line ${lineNumber} uses ${JSON.stringify(token)}, which is not in vocab.json`);
    return id;
  };
  const merges = mergeLines.map((line, index): Merge => {
    const parts = line.split(' ');
    if (parts.length !== 2) throw new Error(`merges.txt line ${index + 1} should be two tokens separated by a space: ${JSON.stringify(line)}`);
    const [left, right] = parts as [string, string];
    return { left: idOf(left, index + 1), right: idOf(right, index + 1), result: idOf(left + right, index + 1), priority: index };
  });

  const byteToId = BYTE_TO_UNICODE.map((char) => {
    const id = vocab[char];
    if (id === undefined) throw new Error(`vocab.json has no token for byte character ${JSON.stringify(char)}`);
    return id;
  });
  return { byteToId, tokenBytes, merges, specialTokens, split: 'gpt2' };
}

function unicodeTokenToBytes(token: string): Uint8Array {
  return Uint8Array.from(token, (char) => {
    const byte = UNICODE_TO_BYTE.get(char);
    if (byte === undefined) throw new Error(`vocab.json token ${JSON.stringify(token)} contains ${JSON.stringify(char)}, which stands for no byte`);
    return byte;
  });
}
