// `prepareDataset`: nanoGPT's prepare.py for any text. The corpus (a file, a folder of files, or a URL) is
// split by characters, the first 90% train and the rest val, each encoded with the tokenizer and written
// as token files, train.bin and val.bin, beside meta.json (see DatasetMeta).
//
// Memory stays bounded whatever the corpus size: the text is read `chunkSize` bytes at a time (4 MiB by
// default) and tokens are written as each chunk is encoded, so memory holds a few chunks of text and
// their ids (on the order of 100 MB) plus the vocabulary. Up to three passes over the files: the first
// counts the characters (for char it also collects them: the char vocabulary is the whole text's, as in
// nanoGPT), a second learns a word or BPE vocabulary from the train split only (word counts every word,
// as WikiText's vocab is built; BPE training holds its text in memory, so it learns from a bounded
// sample: the first `bpeSample` characters, 16 Mi by default), and the last encodes. Outputs go to temp
// files renamed into place only once everything succeeded, so a failed run leaves an existing dataset
// as it was.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { download, isUrl, type DownloadOptions } from '../io/download.js';
import {
  CharTokenizer, END_OF_LINE, Gpt2Tokenizer, UNKNOWN_WORD, WordTokenizer, basicEnglishTokenize, trainBpe,
  type Tokenizer, type TokenizerType,
} from '../tokenizers/index.js';
import { DEFAULT_CHUNK_SIZE, corpusFiles, countCodePoints, cutRuleFor, readText, splitChunks } from './corpus.js';
import { DATASET_FORMAT, type DatasetMeta, type Split } from './dataset.js';
import type { TokenDtype } from './token-file.js';

/** nanoGPT's shakespeare_char corpus, the default source. */
export const SHAKESPEARE_URL = 'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt';
export const TOKENIZER_NAMES: readonly TokenizerType[] = ['char', 'gpt2', 'word', 'bpe'];
export const DEFAULT_BPE_VOCAB_SIZE = 512;
export const DEFAULT_BPE_SAMPLE = 16 * 1024 * 1024;

export type PrepareStage = 'download' | 'scan' | 'vocabulary' | 'encode';

export interface PrepareOptions {
  /** A text file, a folder (its files sorted by name, concatenated) or an http(s) URL; default SHAKESPEARE_URL. */
  source?: string;
  /** Default 'char'. */
  tokenizer?: TokenizerType;
  /** Default data/shakespeare_<tokenizer> for the default source, else data/<source name>. */
  outDir?: string;
  /** The share of characters at the end that becomes val; default 0.1 as in nanoGPT. */
  valFraction?: number;
  /** bpe only: 256 byte tokens plus the merges to learn; default 512. */
  vocabSize?: number;
  /** word only: words seen fewer times in the train split become <unk>; default 1. */
  minFreq?: number;
  /** Write uint32 tokens when the vocabulary exceeds uint16 instead of failing. */
  allowUint32?: boolean;
  /** Bytes read (and characters encoded) at a time; default 4 MiB. */
  chunkSize?: number;
  /** bpe only: merges are learned from this many characters at the start of the train split (rounded up to a chunk). */
  bpeSample?: number;
  /** Cache folder, offline mode and headers for a URL source. */
  download?: Omit<DownloadOptions, 'onProgress' | 'filename'>;
  /** Receives the lines nanoGPT's prepare.py prints. */
  log?: (line: string) => void;
  /** Bytes done in each stage; every pass over the corpus counts from 0 to its size. */
  onProgress?: (stage: PrepareStage, done: number, total: number | undefined) => void;
}

export interface PrepareResult {
  outDir: string;
  meta: DatasetMeta;
  /** Length of the corpus in characters (code points, as Python counts them). */
  characters: number;
}

export function isTokenizerName(name: string): name is TokenizerType {
  return (TOKENIZER_NAMES as readonly string[]).includes(name);
}

/** uint16 holds ids below 65,536, which is what nanoGPT's loaders read; larger vocabularies need uint32. */
export function tokenDtype(vocabSize: number, allowUint32 = false): TokenDtype {
  if (vocabSize <= 65536) return 'uint16';
  if (allowUint32) return 'uint32';
  throw new Error(`vocabulary of ${vocabSize} tokens does not fit uint16; pass --allow_uint32`);
}

export function defaultOutDir(source: string, tokenizer: TokenizerType): string {
  if (source === SHAKESPEARE_URL) return join('data', `shakespeare_${tokenizer}`);
  const path = isUrl(source) ? new URL(source).pathname : source;
  const name = basename(path, extname(path));
  return join('data', name === '' || name === '.' || name === '..' ? 'dataset' : name);
}

interface Settings {
  source: string;
  tokenizer: TokenizerType;
  valFraction: number;
  vocabSize: number;
  minFreq: number;
  allowUint32: boolean;
  chunkSize: number;
  bpeSample: number;
}

export async function prepareDataset(options: PrepareOptions = {}): Promise<PrepareResult> {
  const settings = checkOptions(options);
  const { source, tokenizer: tokenizerName, valFraction, chunkSize } = settings;
  const log = options.log ?? (() => {});
  const outDir = options.outDir ?? defaultOutDir(source, tokenizerName);

  const path = isUrl(source)
    ? await download(source, { ...options.download, onProgress: (done, total) => options.onProgress?.('download', done, total) })
    : source;
  const files = corpusFiles(path);
  const totalBytes = files.reduce((sum, file) => sum + statSync(file).size, 0);
  const progressOf = (stage: PrepareStage) => {
    let done = 0;
    return (bytes: number) => options.onProgress?.(stage, (done += bytes), totalBytes);
  };

  const { characters, distinctCharacters } = scanCorpus(files, tokenizerName === 'char', chunkSize, progressOf('scan'));
  if (characters === 0) throw new Error(`corpus ${source} is empty`);
  const trainCharacters = Math.floor(characters * (1 - valFraction));
  if (trainCharacters === 0 || trainCharacters === characters) {
    throw new Error(`corpus ${source} is too small to split: its ${characters === 1 ? '1 character leaves' : `${characters} characters leave`} the ` +
      `${trainCharacters === 0 ? 'train' : 'val'} split empty at val_fraction ${valFraction}`);
  }
  log(`length of dataset in characters: ${formatCount(characters)}`);
  if (tokenizerName === 'char') log(`all the unique characters: ${distinctCharacters}`);

  const tokenizer = buildTokenizer(settings, distinctCharacters, files, trainCharacters, progressOf('vocabulary'));
  log(`vocab size: ${formatCount(tokenizer.vocabSize)}`);
  const dtype = tokenDtype(tokenizer.vocabSize, settings.allowUint32);

  const { meta, unknowns } = writeDataset(outDir, tokenizer, dtype, files, trainCharacters, settings, progressOf('encode'));
  log(`train has ${formatCount(meta.train_tokens!)} tokens`);
  log(`val has ${formatCount(meta.val_tokens!)} tokens`);
  if (unknowns) reportUnknowns(unknowns, meta, settings, log);
  return { outDir, meta, characters };
}

function checkOptions(options: PrepareOptions): Settings {
  const tokenizer = options.tokenizer ?? 'char';
  if (!isTokenizerName(tokenizer)) throw new Error(`unknown tokenizer '${tokenizer}'; expected one of ${TOKENIZER_NAMES.join(', ')}`);
  const valFraction = options.valFraction ?? 0.1;
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`val_fraction must be between 0 and 1 (exclusive), got ${valFraction}`);
  const onlyFor = (name: string, value: unknown, only: TokenizerType) => {
    if (value !== undefined && tokenizer !== only) throw new Error(`${name} applies to the ${only} tokenizer only, not ${tokenizer}`);
  };
  onlyFor('vocab_size', options.vocabSize, 'bpe');
  onlyFor('min_freq', options.minFreq, 'word');
  const integerAtLeast = (name: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, got ${value}`);
    return value;
  };
  const settings: Settings = {
    source: options.source ?? SHAKESPEARE_URL,
    tokenizer,
    valFraction,
    vocabSize: integerAtLeast('vocab_size', options.vocabSize ?? DEFAULT_BPE_VOCAB_SIZE, 256),
    minFreq: integerAtLeast('min_freq', options.minFreq ?? 1, 1),
    allowUint32: options.allowUint32 ?? false,
    chunkSize: integerAtLeast('chunk size', options.chunkSize ?? DEFAULT_CHUNK_SIZE, 2),
    bpeSample: integerAtLeast('BPE sample size', options.bpeSample ?? DEFAULT_BPE_SAMPLE, 1),
  };
  // BPE's vocabulary size is known now: fail before training rather than after.
  if (tokenizer === 'bpe') tokenDtype(settings.vocabSize, settings.allowUint32);
  return settings;
}

/** Pass 1: the length in characters, and for char the distinct characters in code point order. */
function scanCorpus(files: readonly string[], collectCharacters: boolean, chunkSize: number, onRead: (bytes: number) => void) {
  const seen = collectCharacters ? new Uint8Array(0x110000) : undefined;
  let characters = 0;
  for (const text of readText(files, chunkSize, onRead)) {
    characters += countCodePoints(text);
    if (seen) for (const char of text) seen[char.codePointAt(0)!] = 1;
  }
  const distinct: string[] = [];
  seen?.forEach((flag, codePoint) => {
    if (flag) distinct.push(String.fromCodePoint(codePoint));
  });
  return { characters, distinctCharacters: distinct.join('') };
}

/** The corpus's characters, GPT-2's fixed vocabulary, or (pass 2) a vocabulary learned from the train split. */
function buildTokenizer(settings: Settings, distinctCharacters: string, files: readonly string[], trainCharacters: number,
  onRead: (bytes: number) => void): Tokenizer {
  const trainChunks = function* () {
    for (const { split, text } of splitChunks(files, trainCharacters, cutRuleFor(settings.tokenizer), settings.chunkSize, onRead)) {
      if (split === 'val') return;
      yield text;
    }
  };
  switch (settings.tokenizer) {
    case 'char':
      return CharTokenizer.fromText(distinctCharacters);
    case 'gpt2':
      return Gpt2Tokenizer.pretrained();
    case 'word': {
      const counts = new Map<string, number>();
      for (const chunk of trainChunks()) {
        for (const line of chunk.split('\n')) for (const word of basicEnglishTokenize(line)) counts.set(word, (counts.get(word) ?? 0) + 1);
      }
      return wordTokenizerFromCounts(counts, settings.minFreq);
    }
    case 'bpe': {
      let sample = '';
      for (const chunk of trainChunks()) {
        sample += chunk;
        if (sample.length >= settings.bpeSample) break;
      }
      return trainBpe(sample, { vocabSize: settings.vocabSize });
    }
  }
}

/** WordTokenizer.fromText's vocabulary from counts gathered chunk by chunk: specials, then by count, ties alphabetical. */
function wordTokenizerFromCounts(counts: Map<string, number>, minFreq: number): WordTokenizer {
  counts.delete(UNKNOWN_WORD);
  counts.delete(END_OF_LINE);
  const kept = [...counts].filter(([, count]) => count >= minFreq);
  kept.sort(([wordA, countA], [wordB, countB]) => countB - countA || (wordA < wordB ? -1 : wordA > wordB ? 1 : 0));
  return new WordTokenizer([UNKNOWN_WORD, END_OF_LINE, ...kept.map(([word]) => word)]);
}

/** Last pass: encode both splits into temp files, then rename them and meta.json into place. */
function writeDataset(outDir: string, tokenizer: Tokenizer, dtype: TokenDtype, files: readonly string[], trainCharacters: number,
  settings: Settings, onRead: (bytes: number) => void): { meta: DatasetMeta; unknowns: Record<Split, number> | null } {
  let created: string | undefined;
  try {
    created = mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw new Error(`cannot create output folder ${outDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const unknownId = tokenizer instanceof WordTokenizer ? tokenizer.unknownId : undefined;
  const writers: Record<Split, TokenWriter> = {
    train: new TokenWriter(join(outDir, 'train.bin'), dtype, unknownId),
    val: new TokenWriter(join(outDir, 'val.bin'), dtype, unknownId),
  };
  const metaPath = join(outDir, 'meta.json');
  const metaTemp = temporaryPath(metaPath);
  try {
    for (const { split, text } of splitChunks(files, trainCharacters, cutRuleFor(settings.tokenizer), settings.chunkSize, onRead)) {
      // Text that spells a special token (<|endoftext|>) is ordinary text here, as in nanoGPT's encode_ordinary.
      writers[split].write(tokenizer.encode(text, { allowedSpecial: 'none' }));
    }
    for (const split of ['train', 'val'] as const) {
      writers[split].close();
      if (writers[split].count === 0) throw new Error(`the ${split} split of ${settings.source} encodes to no tokens; use a larger corpus or val_fraction`);
    }
    const meta: DatasetMeta = {
      format: DATASET_FORMAT, tokenizer: tokenizer.toJSON(), vocab_size: tokenizer.vocabSize, dtype,
      train_tokens: writers.train.count, val_tokens: writers.val.count, source: settings.source,
    };
    writeFileAtomic(metaTemp, JSON.stringify(meta, null, 2) + '\n');
    writers.train.commit();
    writers.val.commit();
    renameSync(metaTemp, metaPath);
    const unknowns = unknownId === undefined ? null : { train: writers.train.unknowns, val: writers.val.unknowns };
    return { meta, unknowns };
  } catch (err) {
    writers.train.discard();
    writers.val.discard();
    rmSync(metaTemp, { force: true });
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    throw err;
  }
}

function temporaryPath(path: string): string {
  return `${path}.${process.pid}.tmp`;
}

/** Above this share of <unk> tokens in a split, prepare warns that the word vocabulary does not fit the text. */
const UNKNOWN_WARNING_SHARE = 0.05;

/** The word tokenizer maps words outside its vocabulary to <unk>: say how much of each split that is. */
function reportUnknowns(unknowns: Record<Split, number>, meta: DatasetMeta, settings: Settings, log: (line: string) => void): void {
  const share = (split: Split) => unknowns[split] / (split === 'train' ? meta.train_tokens! : meta.val_tokens!);
  log(`<unk> tokens: train ${percent(share('train'))}, val ${percent(share('val'))}`);
  const worst = Math.max(share('train'), share('val'));
  if (worst > UNKNOWN_WARNING_SHARE) {
    log(`warning: ${percent(worst)} of a split's tokens are <unk>: the word vocabulary (built from the train split` +
      `${settings.minFreq > 1 ? `, words seen at least ${settings.minFreq} times` : ''}) misses much of this text, which a model ` +
      'then cannot read or write. Text with many rare words, or without spaces between words (Chinese, Japanese), ' +
      'fits --tokenizer=bpe or --tokenizer=char better' + (settings.minFreq > 1 ? ', or lower --min_freq' : ''));
  }
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** Tokens appended to a temp file beside `path`; commit() renames it to `path`. Counts `unknownId` tokens if given. */
class TokenWriter {
  count = 0;
  unknowns = 0;
  private readonly temp: string;
  private fd: number | undefined;

  constructor(readonly path: string, private readonly dtype: TokenDtype, private readonly unknownId?: number) {
    this.temp = temporaryPath(path);
    this.fd = openSync(this.temp, 'w');
  }

  write(ids: readonly number[]): void {
    // Host byte order, which TokenFile reads back; little-endian, as numpy's tofile writes, on x86 and ARM.
    const bytes = new Uint8Array((this.dtype === 'uint16' ? Uint16Array.from(ids) : Uint32Array.from(ids)).buffer);
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(this.fd!, bytes, offset);
    this.count += ids.length;
    if (this.unknownId !== undefined) for (const id of ids) if (id === this.unknownId) this.unknowns++;
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  commit(): void {
    renameSync(this.temp, this.path);
  }

  discard(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.temp, { force: true });
  }
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
