// Shared by the dashboard and web-app tests: a tiny dataset and training config, headless Chromium
// (skipped with a message when it is not installed), and a PNG decoder to check screenshots' pixels.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { applySettings, defaultTrainConfig, type TrainConfig } from '../src/train/config.js';
import { Rng } from '../src/tensor/random.js';
import { CharTokenizer } from '../src/tokenizers/char.js';

export const ALPHABET = 'abcdefgh';

/** A noisy repeating pattern over 8 symbols, with a character tokenizer over ALPHABET in meta.json. */
export function tinyDataset(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-web-data-'));
  const rng = new Rng(9);
  const seq = (n: number) => Uint16Array.from({ length: n }, (_, i) => (rng.uniform() < 0.05 ? rng.int(8) : (i * 3) % 8));
  writeFileSync(join(dir, 'train.bin'), seq(4000));
  writeFileSync(join(dir, 'val.bin'), seq(800));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ vocab_size: 8, dtype: 'uint16', tokenizer: new CharTokenizer([...ALPHABET]).toJSON() }));
  return dir;
}

export function tinyConfig(dataset: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return applySettings(defaultTrainConfig, {
    dataset, out_dir: mkdtempSync(join(tmpdir(), 'inkwell-web-out-')), n_layer: 2, n_head: 2, n_embd: 32, block_size: 16,
    batch_size: 8, eval_interval: 10, eval_iters: 3, log_interval: 1, learning_rate: 3e-3, min_lr: 3e-4, warmup_iters: 5,
    lr_decay_iters: 30, max_iters: 30, dropout: 0.1, progress: false, ...overrides,
  }, 'test');
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function browserSkipReason(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH): browser tests skipped`;
}

export interface Image {
  width: number;
  height: number;
  /** RGBA, row-major. */
  pixels: Uint8Array;
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are). */
export function decodePng(png: Buffer): Image {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let offset = 8, width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset), type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colorType, , , interlace] = data.subarray(8);
      channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
      if (depth !== 8 || !channels || interlace) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colorType}, interlace ${interlace}`);
    } else if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels, rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!, line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? rows[y * stride + x - channels]! : 0;
      const b = y > 0 ? rows[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? rows[(y - 1) * stride + x - channels]! : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
      if (predictor === undefined) throw new Error(`PNG row ${y}: unknown filter ${filter}`);
      rows[y * stride + x] = (line[x]! + predictor) & 255;
    }
  }
  const pixels = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) pixels[i * 4 + k] = rows[i * channels + k]!;
    pixels[i * 4 + 3] = channels === 4 ? rows[i * channels + 3]! : 255;
  }
  return { width, height, pixels };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Pixels within `tolerance` (per channel) of the colour '#rrggbb'. */
export function countColour(image: Image, hex: string, tolerance = 40): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < image.pixels.length; i += 4) {
    if (Math.abs(image.pixels[i]! - r!) <= tolerance && Math.abs(image.pixels[i + 1]! - g!) <= tolerance && Math.abs(image.pixels[i + 2]! - b!) <= tolerance) n++;
  }
  return n;
}

/** Share of pixels that are not (near) white. */
export function inkFraction(image: Image): number {
  let n = 0;
  for (let i = 0; i < image.pixels.length; i += 4) if (image.pixels[i]! < 235 || image.pixels[i + 1]! < 235 || image.pixels[i + 2]! < 235) n++;
  return n / (image.width * image.height);
}
