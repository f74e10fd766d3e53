// A byte-level BPE tokenizer as GGUF's `tokenizer.ggml.*` metadata and back, the way llama.cpp's
// convert_hf_to_gguf.py writes it and llama-vocab.cpp reads it: model "gpt2" (byte-level BPE), a
// pre-tokenizer name that picks llama.cpp's split regexes ("gpt-2", "llama-bpe", "qwen2"), the tokens in
// id order spelled with GPT-2's byte characters, their types (normal, control for special tokens,
// user-defined for other added tokens, unused for padding ids), the merges as "left right" lines, the
// special ids and the chat template. Both ways go through the tokenizer.json form (tokenizers/hf-export.ts,
// tokenizers/hf-tokenizer.ts), so every tokenizer that has one converts alike.
import { GGUFError, meta, metaArray, metaNumber, metaString, type GGUFFile, type GGUFMeta } from '../io/gguf.js';
import { BYTE_TO_UNICODE } from './byte-level-alphabet.js';
import { toHuggingFaceFiles } from './hf-export.js';
import { HFTokenizer } from './hf-tokenizer.js';
import type { Tokenizer } from './tokenizer.js';

/** llama_token_type */
export enum GGUFTokenType {
  NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
}

const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// inkwell's own `gpt4` split (tokenizers/hf-export.ts): cl100k's pattern, which llama.cpp's llama-bpe
// regexes implement (Llama 3 took cl100k's split); `\s*[\r\n]` and `\s*[\r\n]+` match the same text.
const CL100K_REGEX = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";

/** llama.cpp's pre-tokenizer names inkwell writes and reads, with the split regex each stands for (null: GPT-2's ByteLevel regex). */
const PRE_TOKENIZERS: Readonly<Record<string, string | null>> = { 'gpt-2': null, 'llama-bpe': LLAMA3_REGEX, qwen2: QWEN2_REGEX };

/** The llama.cpp pre-tokenizer name of a tokenizer.json pre_tokenizer, or an error saying what is supported. */
function preTokenizerName(pre: unknown): string {
  const p = pre as Record<string, unknown> | null;
  if (p?.type === 'ByteLevel' && p.use_regex !== false) return 'gpt-2';
  if (p?.type === 'Sequence' && Array.isArray(p.pretokenizers) && p.pretokenizers.length === 2) {
    const [split, byteLevel] = p.pretokenizers as Record<string, unknown>[];
    const regex = (split?.pattern as Record<string, unknown> | undefined)?.Regex;
    if (split?.type === 'Split' && byteLevel?.type === 'ByteLevel' && byteLevel.use_regex === false) {
      if (regex === LLAMA3_REGEX || regex === CL100K_REGEX) return 'llama-bpe';
      if (regex === QWEN2_REGEX) return 'qwen2';
    }
  }
  throw new Error(`its pre_tokenizer ${JSON.stringify(pre)?.slice(0, 200)} has no llama.cpp counterpart inkwell knows (supported: GPT-2's ByteLevel, the Llama 3 / cl100k split, the Qwen2 split)`);
}

/**
 * The tokenizer.ggml.* metadata of a tokenizer, for a model with `vocabSize` embedding rows (ids the
 * tokenizer does not use become `[PADn]` tokens of type unused, as convert_hf_to_gguf.py writes them).
 */
export function tokenizerToGGUF(tokenizer: Tokenizer, vocabSize: number): [string, GGUFMeta][] {
  const { tokenizer: json, config } = toHuggingFaceFiles(tokenizer);
  const model = json.model as { type?: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
  if (model.type !== 'BPE') throw new Error(`a tokenizer with model ${JSON.stringify(model.type)} cannot be written as GGUF (supported: byte-level BPE)`);
  const added = (json.added_tokens ?? []) as { id: number; content: string; special: boolean }[];
  const decoder = json.decoder as Record<string, unknown> | null;
  // A vocabulary of single characters (inkwell's char tokenizer: no pre-tokenizer, no merges, Fuse
  // decoder) is byte-level BPE without merges when every character is one byte: spell it so.
  const chars = json.pre_tokenizer === null && decoder?.type === 'Fuse' && model.merges.length === 0;
  let pre: string;
  if (chars) pre = 'gpt-2';
  else {
    try {
      pre = preTokenizerName(json.pre_tokenizer);
    } catch (err) {
      throw new Error(`this tokenizer cannot be written as GGUF: ${(err as Error).message}`);
    }
  }
  const tokens: string[] = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(GGUFTokenType.UNUSED);
  const place = (token: string, id: number, type: GGUFTokenType) => {
    if (id >= vocabSize) throw new Error(`the tokenizer's token ${JSON.stringify(token)} has id ${id}, past the model's vocabulary of ${vocabSize}`);
    tokens[id] = token;
    types[id] = type;
  };
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!chars) place(token, id, GGUFTokenType.NORMAL);
    else {
      const bytes = Buffer.from(token, 'utf8');
      if (bytes.length !== 1) throw new Error(`the character vocabulary's ${JSON.stringify(token)} (id ${id}) is several UTF-8 bytes; GGUF's byte-level BPE holds single-byte characters only without merges`);
      place(BYTE_TO_UNICODE[bytes[0]!]!, id, GGUFTokenType.NORMAL);
    }
  }
  for (const a of added) place(a.content, a.id, a.special ? GGUFTokenType.CONTROL : GGUFTokenType.USER_DEFINED);
  for (let id = 0; id < vocabSize; id++) if (tokens[id] === undefined) tokens[id] = `[PAD${id}]`;

  const idOf = (name: unknown): number | undefined => {
    const content = typeof name === 'string' ? name : (name as { content?: unknown } | null)?.content;
    if (typeof content !== 'string') return undefined;
    return added.find((a) => a.content === content)?.id ?? model.vocab[content];
  };
  const out: [string, GGUFMeta][] = [
    ['tokenizer.ggml.model', meta.str('gpt2')],
    ['tokenizer.ggml.pre', meta.str(pre)],
    ['tokenizer.ggml.tokens', meta.strings(tokens)],
    ['tokenizer.ggml.token_type', meta.i32s(types)],
    ['tokenizer.ggml.merges', meta.strings(model.merges.map((m) => (typeof m === 'string' ? m : m.join(' '))))],
  ];
  for (const [key, field] of [['bos', 'bos_token'], ['eos', 'eos_token'], ['unknown', 'unk_token'], ['padding', 'pad_token']] as const) {
    const id = idOf(config[field]);
    if (id !== undefined) out.push([`tokenizer.ggml.${key}_token_id`, meta.u32(id)]);
  }
  if (typeof config.add_bos_token === 'boolean') out.push(['tokenizer.ggml.add_bos_token', meta.bool(config.add_bos_token)]);
  if (typeof config.add_eos_token === 'boolean') out.push(['tokenizer.ggml.add_eos_token', meta.bool(config.add_eos_token)]);
  const template = config.chat_template;
  if (typeof template === 'string') out.push(['tokenizer.chat_template', meta.str(template)]);
  return out;
}

/** The tokenizer a GGUF file's tokenizer.ggml.* metadata describes (byte-level BPE only). */
export function tokenizerFromGGUF(gguf: GGUFFile): HFTokenizer {
  const fail = (message: string): never => {
    throw new GGUFError(gguf.file, message);
  };
  const kind = metaString(gguf, 'tokenizer.ggml.model');
  if (kind !== 'gpt2') fail(`tokenizer.ggml.model is '${kind}'; inkwell imports byte-level BPE vocabularies ('gpt2') only`);
  const pre = metaString(gguf, 'tokenizer.ggml.pre', 'gpt-2');
  if (!(pre in PRE_TOKENIZERS)) fail(`tokenizer.ggml.pre is '${pre}'; inkwell reads ${Object.keys(PRE_TOKENIZERS).join(', ')}`);
  const tokens = metaArray<string>(gguf, 'tokenizer.ggml.tokens', 'string') ?? fail("metadata 'tokenizer.ggml.tokens' is missing");
  const types = metaArray<number>(gguf, 'tokenizer.ggml.token_type', 'number') ?? tokens.map(() => GGUFTokenType.NORMAL);
  if (types.length !== tokens.length) fail(`tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  const merges = metaArray<string>(gguf, 'tokenizer.ggml.merges', 'string') ?? [];
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  tokens.forEach((token, id) => {
    const type = types[id]!;
    if (type === GGUFTokenType.CONTROL || type === GGUFTokenType.USER_DEFINED) {
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === GGUFTokenType.CONTROL });
    } else if (!(token in vocab)) vocab[token] = id; // padding names may repeat in some files; the first id keeps the name
  });
  const regex = PRE_TOKENIZERS[pre]!;
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  const special = (key: string): string | undefined => {
    const id = gguf.metadata.has(`tokenizer.ggml.${key}_token_id`) ? metaNumber(gguf, `tokenizer.ggml.${key}_token_id`) : undefined;
    if (id === undefined) return undefined;
    if (!(id >= 0 && id < tokens.length)) fail(`tokenizer.ggml.${key}_token_id ${id} is not a token id (the vocabulary has ${tokens.length})`);
    return tokens[id];
  };
  const bos = special('bos'), eos = special('eos');
  const flag = (key: string) => {
    const m = gguf.metadata.get(`tokenizer.ggml.${key}`);
    return m?.value === true;
  };
  const addBos = flag('add_bos_token') && bos !== undefined, addEos = flag('add_eos_token') && eos !== undefined;
  const wrapped = addBos || addEos
    ? {
      type: 'TemplateProcessing',
      single: [...(addBos ? [{ SpecialToken: { id: bos, type_id: 0 } }] : []), { Sequence: { id: 'A', type_id: 0 } }, ...(addEos ? [{ SpecialToken: { id: eos, type_id: 0 } }] : [])],
      pair: [],
      special_tokens: Object.fromEntries([bos, eos].filter((t) => t !== undefined).map((t) => [t, { id: t, ids: [tokens.indexOf(t!)], tokens: [t] }])),
    }
    : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: regex === null ? byteLevel(true) : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, byteLevel(false)] },
    post_processor: wrapped,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const template = gguf.metadata.has('tokenizer.chat_template') ? metaString(gguf, 'tokenizer.chat_template') : undefined;
  const config: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast', add_bos_token: addBos, add_eos_token: addEos, clean_up_tokenization_spaces: false,
    ...(bos === undefined ? {} : { bos_token: bos }),
    ...(eos === undefined ? {} : { eos_token: eos }),
    ...(special('unknown') === undefined ? {} : { unk_token: special('unknown') }),
    ...(special('padding') === undefined ? {} : { pad_token: special('padding') }),
    ...(template === undefined ? {} : { chat_template: template }),
  };
  return new HFTokenizer({ type: 'huggingface', tokenizer: json, config }, `${gguf.file} (tokenizer.ggml.*)`);
}
