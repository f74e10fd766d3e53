// A Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), giving the ids of HF's own `tokenizers`:
// added tokens cut out of the raw text, normalizer, added tokens again on the normalized text,
// pre-tokenizer, BPE model, then the post-processor's special tokens; decoding through the decoder.
import { AddedTokenMatcher, parseAddedTokens, type AddedToken, type SpecialFilter } from './hf-added-tokens.js';
import { BpeModel, type BpeModelJSON } from './hf-bpe.js';
import { parseDecoder, type Decoder } from './hf-decoders.js';
import { parseNormalizer, type Normalizer } from './hf-normalizers.js';
import { bosEosProcessor, parsePostProcessor, type PostProcessor } from './hf-post-processor.js';
import { parsePreTokenizer, type PreTokenizer } from './hf-pre-tokenizers.js';
import { UnsupportedTokenizerError } from './hf-regex.js';
import { checkTokenId } from './token-ids.js';
import type { TokenizerFile } from './tokenizer-json.js';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizer.js';

export interface HFTokenizerJSON {
  type: 'huggingface';
  /** The contents of tokenizer.json. */
  tokenizer: Record<string, unknown>;
  /** The contents of tokenizer_config.json, when there is one. */
  config?: Record<string, unknown> | null;
}

/** What inkwell uses of tokenizer_config.json. */
export interface HFTokenizerConfig {
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  unkToken: string | null;
  /** The default chat template (Jinja), or null. */
  chatTemplate: string | null;
  /** Every named template (a config may list several, e.g. `default` and `tool_use`). */
  chatTemplates: Readonly<Record<string, string>>;
}

// transformers' Llama and Gemma tokenizers rebuild the post-processor from add_bos_token /
// add_eos_token (default true / false) whatever tokenizer.json says; other classes keep it.
// In unicode mode a paired surrogate is one astral character, so only lone ones are category Cs.
const LONE_SURROGATE = /\p{Cs}/gu;

const BOS_EOS_CLASSES = /^(Llama|CodeLlama|Gemma)Tokenizer(Fast)?$/;

export class HFTokenizer implements Tokenizer {
  readonly type = 'huggingface';
  readonly vocabSize: number;
  readonly config: HFTokenizerConfig;
  readonly addedTokens: readonly AddedToken[];
  /** Special added tokens (content -> id): the ones skipSpecialTokens drops and allowedSpecial governs. */
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly json: HFTokenizerJSON;
  private readonly model: BpeModel;
  private readonly normalizer: Normalizer | null;
  private readonly preTokenize: PreTokenizer;
  private readonly postProcess: PostProcessor | null;
  private readonly decoder: Decoder | null;
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;
  /** The token string of each added token's id (a normalized one as its normalized form). */
  private readonly addedTokenOfId = new Map<number, string>();
  private readonly specialIds: Set<number>;
  private readonly addedIds: Map<string, number>;

  /**
   * `file`: how tokenizer-json.ts read tokenizer.json, when it read model.vocab and model.merges apart
   * (`json.tokenizer` then lacks them).
   */
  constructor(json: HFTokenizerJSON, source = 'tokenizer.json', private readonly file?: Pick<TokenizerFile, 'bpe' | 'whole'>) {
    const t = json.tokenizer;
    if (t === null || typeof t !== 'object') throw new Error(`${source}: not a tokenizer.json object`);
    this.json = json;
    const model = t.model as Record<string, unknown> | undefined;
    if (model?.type !== 'BPE' && !(model?.type === undefined && model?.merges !== undefined)) {
      throw new UnsupportedTokenizerError(`${source}: model type ${JSON.stringify(model?.type)} is not supported (supported: BPE)`);
    }
    const pre = parsePreTokenizer(t.pre_tokenizer, `${source}: pre_tokenizer`);
    this.preTokenize = pre.run;
    this.model = new BpeModel(model as unknown as BpeModelJSON, pre.byteLevel, `${source}: model`, file?.bpe ?? undefined);
    this.normalizer = parseNormalizer(t.normalizer, `${source}: normalizer`);
    this.decoder = parseDecoder(t.decoder, `${source}: decoder`);
    if (t.truncation !== null && t.truncation !== undefined) throw new UnsupportedTokenizerError(`${source}: truncation is not supported (set it to null)`);

    this.addedTokens = parseAddedTokens(t.added_tokens, `${source}: added_tokens`);
    const normalizeToken = (token: AddedToken) => (this.normalizer === null ? token.content : this.normalizer(token.content));
    this.rawMatcher = new AddedTokenMatcher(this.addedTokens.filter((a) => !a.normalized));
    this.normalizedMatcher = new AddedTokenMatcher(this.addedTokens.filter((a) => a.normalized), normalizeToken);
    this.vocabSize = Math.max(this.model.size, ...this.addedTokens.map((a) => a.id + 1));
    this.specialTokens = new Map(this.addedTokens.filter((a) => a.special).map((a) => [a.content, a.id]));
    this.specialIds = new Set(this.specialTokens.values());
    this.addedIds = new Map(this.addedTokens.map((a) => [a.content, a.id]));
    // As `tokenizers` does, a normalized added token decodes as its normalized form.
    for (const a of this.addedTokens) this.addedTokenOfId.set(a.id, a.normalized && this.normalizer !== null ? this.normalizer(a.content) : a.content);

    this.config = parseTokenizerConfig(json.config ?? null, `${source.replace(/tokenizer\.json$/, '')}tokenizer_config.json`);
    const cfg = json.config ?? {};
    if (typeof cfg.tokenizer_class === 'string' && BOS_EOS_CLASSES.test(cfg.tokenizer_class)) {
      const id = (name: 'add_bos_token' | 'add_eos_token', token: string | null, fallback: boolean) => {
        const on = typeof cfg[name] === 'boolean' ? (cfg[name] as boolean) : fallback;
        return on && token !== null ? this.tokenToId(token) ?? null : null;
      };
      this.postProcess = bosEosProcessor(id('add_bos_token', this.config.bosToken, true), id('add_eos_token', this.config.eosToken, false));
    } else {
      this.postProcess = parsePostProcessor(t.post_processor, `${source}: post_processor`);
    }
  }

  static fromJSON(json: HFTokenizerJSON): HFTokenizer {
    return new HFTokenizer(json);
  }

  toJSON(): HFTokenizerJSON {
    return this.file === undefined ? this.json : { ...this.json, tokenizer: this.file.whole() };
  }

  /** The id of a token string (added tokens first, then the model's vocabulary). */
  tokenToId(token: string): number | undefined {
    return this.addedIds.get(token) ?? this.model.idOf(token);
  }

  /** The token string of an id, as tokenizer.json spells it. */
  idToToken(id: number): string | undefined {
    return this.addedTokenOfId.get(id) ?? this.model.token(id);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    // `tokenizers` receives Rust strings, in which a lone surrogate has become U+FFFD.
    const input = text.replace(LONE_SURROGATE, '\uFFFD');
    const allow = specialFilter(options.allowedSpecial ?? 'all', this.specialTokens);
    const ids: number[] = [];
    this.rawMatcher.split(input, allow, (segment, start, id) => {
      if (id !== undefined) {
        ids.push(id);
        return;
      }
      const normalized = this.normalizer === null ? segment : this.normalizer(segment);
      this.normalizedMatcher.split(normalized, allow, (piece, offset, innerId) => {
        if (innerId !== undefined) ids.push(innerId);
        else this.preTokenize(piece, start === 0 && offset === 0, (word) => this.model.tokenize(word, ids));
      });
    });
    return (options.addSpecialTokens ?? true) && this.postProcess !== null ? this.postProcess(ids) : ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      checkTokenId(id, this.vocabSize);
      const token = this.idToToken(id);
      if (token === undefined) throw new RangeError(`Token id ${id} is not assigned in this vocabulary (vocab size ${this.vocabSize})`);
      if (options.skipSpecialTokens && this.specialIds.has(id)) continue;
      tokens.push(token);
    }
    return this.decoder === null ? tokens.join(' ') : this.decoder(tokens).join('');
  }
}

function specialFilter(allowed: NonNullable<EncodeOptions['allowedSpecial']>, specials: ReadonlyMap<string, number>): SpecialFilter {
  if (allowed === 'all') return () => true;
  if (allowed === 'none') return () => false;
  for (const name of allowed) {
    if (!specials.has(name)) throw new Error(`Unknown special token ${JSON.stringify(name)}; this tokenizer's special tokens include ${JSON.stringify([...specials.keys()].slice(0, 20))}`);
  }
  const names = new Set(allowed);
  return (token) => names.has(token.content);
}

/** A special token field of tokenizer_config.json: a string or an AddedToken object with `content`. */
function tokenSpelling(value: unknown, field: string, where: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  const content = (value as { content?: unknown }).content;
  if (typeof content === 'string') return content;
  throw new Error(`${where}: ${field} must be a string or {"content": …}, got ${JSON.stringify(value)}`);
}

/** What inkwell uses of a tokenizer_config.json's contents; `where` names the file in errors. */
export function parseTokenizerConfig(config: Record<string, unknown> | null, where = 'tokenizer_config.json'): HFTokenizerConfig {
  const c = config ?? {};
  const templates: Record<string, string> = {};
  const chat = c.chat_template;
  if (typeof chat === 'string') templates.default = chat;
  else if (Array.isArray(chat)) {
    for (const entry of chat) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== 'string' || typeof template !== 'string') throw new Error(`${where}: chat_template entries must be {"name": …, "template": …}`);
      templates[name] = template;
    }
  } else if (chat !== undefined && chat !== null) {
    throw new Error(`${where}: chat_template must be a string or a list of {name, template}`);
  }
  return {
    bosToken: tokenSpelling(c.bos_token, 'bos_token', where),
    eosToken: tokenSpelling(c.eos_token, 'eos_token', where),
    padToken: tokenSpelling(c.pad_token, 'pad_token', where),
    unkToken: tokenSpelling(c.unk_token, 'unk_token', where),
    chatTemplate: templates.default ?? null,
    chatTemplates: templates,
  };
}
