// A prepared dataset folder: train.bin and val.bin (token files) and meta.json (tokenizer, vocabulary
// size, token dtype, counts), as `inkwell prepare` writes it. Batches are random windows, as nanoGPT's
// get_batch draws them.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IndexSource } from '../tensor/random.js';
import { TokenFile, type TokenDtype } from './token-file.js';
import { readJsonObject } from '../io/json.js';

export const DATASET_FORMAT = 'inkwell-dataset/1';

export interface DatasetMeta {
  format?: string;
  /** The tokenizer in its JSON form (see src/tokenizers). */
  tokenizer?: unknown;
  vocab_size: number;
  dtype: TokenDtype;
  train_tokens?: number;
  val_tokens?: number;
  source?: string;
}

export type Split = 'train' | 'val';

export interface Batch {
  x: Int32Array;
  y: Int32Array;
  B: number;
  T: number;
}

/** A dataset folder's meta.json, checked. */
export function readDatasetMeta(dir: string): DatasetMeta {
  if (!existsSync(dir)) {
    // Name the datasets that do exist beside it: `inkwell prepare FILE` writes data/<FILE's name>.
    const parent = dirname(dir);
    const siblings = existsSync(parent) ? readdirSync(parent).filter((d) => existsSync(join(parent, d, 'meta.json'))) : [];
    const hint = siblings.length ? `; prepared datasets in ${parent}: ${siblings.join(', ')} (choose one with --dataset=${join(parent, siblings[0]!)})` : '';
    throw new Error(`dataset folder ${dir} does not exist (run \`inkwell prepare\` first, or \`inkwell prepare FILE --out=${dir}\`${hint})`);
  }
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath)) throw new Error(`${metaPath} is missing (run \`inkwell prepare\` to make the dataset)`);
  const meta = readJsonObject(metaPath) as unknown as DatasetMeta;
  if (!Number.isInteger(meta.vocab_size) || meta.vocab_size < 1) throw new Error(`${metaPath}: vocab_size must be a positive integer, got ${meta.vocab_size}`);
  const dtype = meta.dtype ?? 'uint16';
  if (dtype !== 'uint16' && dtype !== 'uint32') throw new Error(`${metaPath}: dtype must be uint16 or uint32, got ${dtype}`);
  return meta;
}

export class Dataset {
  readonly meta: DatasetMeta;
  readonly files: Record<Split, TokenFile>;

  constructor(readonly dir: string) {
    this.meta = readDatasetMeta(dir);
    const dtype = this.meta.dtype ?? 'uint16';
    const open = (name: string) => new TokenFile(join(dir, name), dtype, this.meta.vocab_size);
    this.files = { train: open('train.bin'), val: open('val.bin') };
  }

  /** Throws unless a model with `vocabSize` rows in its embedding can read every id of this dataset. */
  checkVocabulary(vocabSize: number): void {
    if (vocabSize < this.meta.vocab_size) {
      throw new Error(`the model's vocabulary (${vocabSize}) is smaller than the dataset's (${this.meta.vocab_size} in ${join(this.dir, 'meta.json')}): ` +
        'prepare the data with the model\'s tokenizer');
    }
  }

  /** Throws unless both splits hold at least one window of T + 1 tokens. */
  checkBlockSize(T: number): void {
    for (const split of ['train', 'val'] as const) {
      const n = this.files[split].length;
      if (n < T + 1) {
        throw new Error(`${this.files[split].path}: the ${split} split has ${n} tokens, fewer than block_size + 1 = ${T + 1}; ` +
          (split === 'val' ? 'use a larger val fraction or a smaller block_size' : 'use a longer corpus or a smaller block_size'));
      }
    }
  }

  /** B random windows of T + 1 tokens: inputs x and targets y = x shifted by one. */
  batch(split: Split, B: number, T: number, rng: IndexSource): Batch {
    const file = this.files[split];
    const x = new Int32Array(B * T), y = new Int32Array(B * T), window = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) {
      file.read(rng.int(file.length - T), T + 1, window);
      x.set(window.subarray(0, T), b * T);
      y.set(window.subarray(1), b * T);
    }
    return { x, y, B, T };
  }

  close(): void {
    this.files.train.close();
    this.files.val.close();
  }
}
