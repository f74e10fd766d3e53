// inkwell's byte-level BPE and char tokenizers written as Hugging Face's tokenizer.json + tokenizer_config.json,
// so a dataset or model folder made here loads in `tokenizers`, transformers and transformers.js with
// the same ids.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { ByteLevelBpe, SplitName } from './byte-bpe.js';
import { BpeTokenizer } from './bpe.js';
import { CharTokenizer } from './char.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { byteLevelString } from './hf-bpe.js';
import { HFTokenizer } from './hf-tokenizer.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './load.js';
import type { Tokenizer } from './tokenizer.js';

export interface HFTokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

// The splits in Oniguruma syntax. cl100k's possessive quantifiers are left out: the backtracking they
// forbid can never succeed here (the same reasoning as SPLIT_PATTERNS.gpt4).
const GPT4_REGEX = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";

function preTokenizerFor(split: SplitName): Record<string, unknown> {
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  switch (split) {
    case 'gpt2':
      return byteLevel(true); // ByteLevel's own regex is GPT-2's
    case 'gpt4':
      return { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: GPT4_REGEX }, behavior: 'Isolated', invert: false }, byteLevel(false)] };
    case 'none':
      return byteLevel(false);
  }
}

/** The tokenizer.json and tokenizer_config.json of a tokenizer; word-level ones have no BPE form. */
export function toHuggingFaceFiles(tokenizer: Tokenizer): HFTokenizerFiles {
  if (tokenizer instanceof HFTokenizer) {
    const { tokenizer: json, config } = tokenizer.toJSON();
    return { tokenizer: json, config: config ?? {} };
  }
  if (tokenizer instanceof CharTokenizer) return charFiles(tokenizer);
  if (!(tokenizer instanceof BpeTokenizer || tokenizer instanceof Gpt2Tokenizer)) {
    throw new Error(`a ${tokenizer.type} tokenizer cannot be written as tokenizer.json (only char and byte-level BPE ones: char, bpe, gpt2)`);
  }
  const { vocab, merges } = vocabAndMerges(tokenizer);
  const specials = [...tokenizer.specialTokens].sort((a, b) => a[1] - b[1]);
  const eos = specials.find(([name]) => name === '<|endoftext|>')?.[0] ?? specials[0]?.[0] ?? null;
  return {
    tokenizer: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: specials.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: null,
      pre_tokenizer: preTokenizerFor(tokenizer.split),
      post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
    },
    config: {
      tokenizer_class: 'PreTrainedTokenizerFast',
      add_bos_token: false,
      add_eos_token: false,
      clean_up_tokenization_spaces: false,
      ...(eos === null ? {} : { bos_token: eos, eos_token: eos, unk_token: eos }),
    },
  };
}

/**
 * A character vocabulary as a BPE without merges: the whole text is one piece, each character its own
 * symbol, and Fuse joins the tokens back. (HF drops a character outside the vocabulary where inkwell's
 * char tokenizer refuses it.)
 */
function charFiles(tokenizer: CharTokenizer): HFTokenizerFiles {
  const { chars } = tokenizer.toJSON();
  const vocab: Record<string, number> = {};
  chars.forEach((char, id) => {
    if (/^\p{Cs}$/u.test(char)) throw new Error(`character ${id} of the char vocabulary is a lone surrogate, which tokenizer.json (UTF-8) cannot hold`);
    vocab[char] = id;
  });
  return {
    tokenizer: {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null,
      decoder: { type: 'Fuse' },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
    },
    config: { tokenizer_class: 'PreTrainedTokenizerFast', add_bos_token: false, add_eos_token: false, clean_up_tokenization_spaces: false },
  };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir` (each atomically). */
export function writeHuggingFaceTokenizer(dir: string, tokenizer: Tokenizer): void {
  const { tokenizer: json, config } = toHuggingFaceFiles(tokenizer);
  writeFileAtomic(join(dir, TOKENIZER_FILE), JSON.stringify(json) + '\n');
  writeFileAtomic(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}

/** Ordinary tokens spelled with GPT-2's byte characters, and the merges in priority order. */
function vocabAndMerges(tokenizer: BpeTokenizer | Gpt2Tokenizer): { vocab: Record<string, number>; merges: [string, string][] } {
  const json = tokenizer.toJSON();
  if (json.type === 'gpt2' && json.source === 'huggingface') {
    const vocab = Object.fromEntries(Object.entries(json.vocab).filter(([token]) => !tokenizer.specialTokens.has(token)));
    return { vocab, merges: json.merges.map((line) => line.split(' ') as [string, string]) };
  }
  const spelled: string[] = [];
  const specialIds = new Set(tokenizer.specialTokens.values());
  for (let id = 0; id < tokenizer.vocabSize; id++) if (!specialIds.has(id)) spelled[id] = byteLevelString(tokenizer.decodeBytes([id]));
  const vocab = Object.fromEntries(spelled.flatMap((token, id) => (token === undefined ? [] : [[token, id]])));
  if (tokenizer instanceof BpeTokenizer) return { vocab, merges: tokenizer.merges.map(([left, right]) => [spelled[left]!, spelled[right]!]) };
  return { vocab, merges: mergesFromRanks(tokenizer, spelled, specialIds) };
}

/**
 * tiktoken keeps ranks, not merges: each token's merge is found by running BPE on its bytes with only
 * the lower-ranked tokens, which must leave exactly two parts (as transformers' tiktoken converter does).
 */
function mergesFromRanks(tokenizer: ByteLevelBpe, spelled: readonly string[], specialIds: ReadonlySet<number>): [string, string][] {
  const rankOf = new Map<string, number>();
  spelled.forEach((token, id) => token !== undefined && rankOf.set(token, id));
  const merges: [string, string][] = [];
  for (let rank = 0; rank < tokenizer.vocabSize; rank++) {
    const token = spelled[rank];
    if (token === undefined || specialIds.has(rank) || token.length < 2) continue;
    let parts = [...token];
    for (;;) {
      let best = -1;
      let bestRank = rank;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rankOf.get(parts[i]! + parts[i + 1]!);
        if (r !== undefined && r < bestRank) {
          best = i;
          bestRank = r;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new Error(`token ${rank} (${JSON.stringify(token)}) is not the merge of two lower-ranked tokens`);
    merges.push([parts[0]!, parts[1]!]);
  }
  return merges;
}
