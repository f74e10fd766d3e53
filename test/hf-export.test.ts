// Writing tokenizer.json: inkwell's byte-level BPE tokenizers (trained ones with each split, and GPT-2's)
// as HF files that HF's Rust `tokenizers` loads and encodes to the same ids (when installed), and that
// inkwell's own tokenizer.json loader reads back to the same ids.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharTokenizer, Gpt2Tokenizer, HFTokenizer, readTokenizerFolder, trainBpe, WordTokenizer, type Tokenizer } from '../src/tokenizers/index.js';
import { toHuggingFaceFiles, writeHuggingFaceTokenizer } from '../src/tokenizers/hf-export.js';
import { prepareDataset } from '../src/data/prepare.js';
import { GPT } from '../src/model/gpt.js';
import { saveHFModel } from '../src/model/hf.js';
import { loadModelAndTokenizer } from '../src/model/load.js';
import { parityTexts, rustTokenizers } from './tokenizer-texts.js';

const rust = rustTokenizers();
const texts = parityTexts(1500).map((t) => t.text);
const corpus = texts.join('\n');

async function sameIds(ours: Tokenizer, what: string, samples = [...texts, 'a<|endoftext|>b']): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-export-'));
  writeHuggingFaceTokenizer(dir, ours);
  const reloaded = readTokenizerFolder(dir);
  assert.ok(reloaded instanceof HFTokenizer);
  const ref = rust?.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
  for (const text of samples) {
    assert.equal(reloaded.decode(reloaded.encode(text)), ours.decode(ours.encode(text)), `${what}: decode`);
    const expected = ours.encode(text);
    assert.deepEqual(reloaded.encode(text), expected, `${what}: inkwell's reload of ${JSON.stringify(text.slice(0, 40))}`);
    if (ref) assert.deepEqual((await ref.encode(text)).getIds(), expected, `${what}: HF tokenizers on ${JSON.stringify(text.slice(0, 40))}`);
  }
  assert.equal(JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')).tokenizer_class, 'PreTrainedTokenizerFast');
}

describe('tokenizer.json export', () => {
  for (const split of ['gpt2', 'gpt4', 'none'] as const) {
    it(`a trained BPE (split ${split}) gives the same ids`, () => sameIds(trainBpe(corpus, { vocabSize: 400, split, specialTokens: ['<|endoftext|>'] }), `bpe/${split}`));
  }

  it("GPT-2's tiktoken vocabulary gives the same ids (its merges recovered from the ranks)", { skip: rust === null ? 'the dev dependency `tokenizers` is not installed' : false }, () => sameIds(Gpt2Tokenizer.pretrained(), 'gpt2'));

  it('prepare --tokenizer=bpe writes tokenizer.json beside meta.json, encoding the corpus to train.bin\'s ids', async () => {
    const work = mkdtempSync(join(tmpdir(), 'inkwell-prepare-bpe-'));
    const text = texts.slice(0, 12).join('\n');
    writeFileSync(join(work, 'corpus.txt'), text);
    const { meta } = await prepareDataset({ source: join(work, 'corpus.txt'), tokenizer: 'bpe', vocabSize: 300, outDir: join(work, 'data'), valFraction: 0.5 });
    const tokenizer = readTokenizerFolder(join(work, 'data'));
    assert.equal(meta.dtype, 'uint16');
    const bytes = readFileSync(join(work, 'data', 'train.bin'));
    const train = Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2));
    const trainText = [...text].slice(0, Math.ceil([...text].length / 2)).join('');
    assert.deepEqual(tokenizer.encode(trainText).slice(0, 200), train.slice(0, 200));
  });

  it('saveHFModel with a tokenizer writes a folder that loads back with the same ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-save-hf-'));
    const bpe = trainBpe(corpus, { vocabSize: 300, specialTokens: ['<|endoftext|>'] });
    saveHFModel(new GPT({ n_layer: 1, n_head: 1, n_embd: 8, block_size: 16, vocab_size: bpe.vocabSize, dropout: 0, bias: true }), dir, {}, bpe);
    const { tokenizer } = await loadModelAndTokenizer({ checkpoint: dir });
    assert.ok(tokenizer instanceof HFTokenizer);
    assert.deepEqual(tokenizer.encode(texts[0]!), bpe.encode(texts[0]!));
  });

  it('a char vocabulary (astral characters included) gives the same ids', () => {
    const sample = texts.slice(0, 6).join('\n').replace(/\p{Cs}/gu, '') + ' 😀🇫🇷';
    return sameIds(CharTokenizer.fromText(sample), 'char', [sample, sample.slice(100, 300)]);
  });

  it('refuses tokenizers that are not byte-level BPE, by name', () => {
    assert.throws(() => toHuggingFaceFiles(WordTokenizer.fromText('a b c')), /a word tokenizer cannot be written as tokenizer\.json \(only char and byte-level BPE ones/);
  });
});
