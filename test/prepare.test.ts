// `prepareDataset` and the corpus reading under it: nanoGPT's split and counts, every tokenizer, chunked
// encoding equal to whole-text encoding, folders, uint16/uint32, llm.c token files, and failures that
// leave an existing dataset untouched.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import {
  TextChunker, codePointIndex, corpusFiles, countCodePoints, cutBetweenCharacters, cutBetweenPieces, readText,
} from '../src/data/corpus.js';
import { Dataset } from '../src/data/dataset.js';
import {
  SHAKESPEARE_URL, defaultOutDir, prepareDataset, tokenDtype, type PrepareOptions, type PrepareResult,
} from '../src/data/prepare.js';
import { LLMC_MAGIC, TokenFile } from '../src/data/token-file.js';
import { Rng } from '../src/tensor/random.js';
import {
  CharTokenizer, Gpt2Tokenizer, WordTokenizer, tokenizerFromJSON, trainBpe, type Tokenizer, type TokenizerJSON, type TokenizerType,
} from '../src/tokenizers/index.js';

// Compiled to dist/test/, so the repository's sibling shared/ folder is three levels up.
const SHAKESPEARE_PATH = fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));
const NO_SHAKESPEARE = existsSync(SHAKESPEARE_PATH) ? false : `tinyshakespeare not found at ${SHAKESPEARE_PATH}`;

const root = mkdtempSync(join(tmpdir(), 'inkwell-prepare-'));
after(() => rmSync(root, { recursive: true, force: true }));
let fileCount = 0;
function tempPath(name: string): string {
  return join(root, `${fileCount++}-${name}`);
}
function writeCorpus(text: string | Uint8Array, name = 'corpus.txt'): string {
  const path = tempPath(name);
  writeFileSync(path, text);
  return path;
}

/**
 * Deterministic text with what chunking has to get right: words and punctuation with multi-byte and
 * astral characters, contractions and `<br />`, separated by runs of spaces, tabs, CRLF, blank lines,
 * odd whitespace, or nothing.
 */
function generateText(seed: number, words: number): string {
  const wordLike = [
    'the', 'The', 'king', 'queen', "don't", "we'll", 'Ünïcödé', 'Ελληνικά', '中文字符', '😀', '👍🏽', 'ΟΔΟΣ', '42', '3.14',
    '.', ',', '!?', '.\n', ':', ';', '"', "'", '<br />', '<BR />', '(', ')', '\ufeff',
  ];
  const separators = [' ', ' ', ' ', ' ', '  ', '   ', '', '\t', '\n', '\n', '\n\n', '\r\n', ' \n', '\n ', '\u00a0', '\u3000', '\u0085'];
  let state = seed;
  const pick = (list: string[]) => {
    // mulberry32
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return list[Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * list.length)]!;
  };
  let text = '';
  for (let i = 0; i < words; i++) text += pick(wordLike) + pick(separators);
  return text;
}

function readTokens(path: string, dtype: 'uint16' | 'uint32' = 'uint16'): number[] {
  const file = new TokenFile(path, dtype);
  try {
    return [...file.read(0, file.length)];
  } finally {
    file.close();
  }
}

/** nanoGPT's split of a whole text: the first int(n * 0.9) characters (code points) are train. */
function nanoGptSplit(text: string, valFraction = 0.1): [string, string] {
  const at = codePointIndex(text, Math.floor(countCodePoints(text) * (1 - valFraction)));
  return [text.slice(0, at), text.slice(at)];
}

async function prepare(options: PrepareOptions): Promise<PrepareResult & { lines: string[] }> {
  const lines: string[] = [];
  const result = await prepareDataset({ outDir: tempPath('dataset'), ...options, log: (line) => lines.push(line) });
  return { ...result, lines };
}

describe('prepare on tinyshakespeare (nanoGPT shakespeare_char and shakespeare)', { skip: NO_SHAKESPEARE }, () => {
  test('char: 65 characters, train 1,003,854 and val 111,540 tokens, as nanoGPT prints', async () => {
    const { outDir, meta, lines } = await prepare({ source: SHAKESPEARE_PATH });
    assert.deepEqual(lines, [
      'length of dataset in characters: 1,115,394',
      "all the unique characters: \n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
      'vocab size: 65',
      'train has 1,003,854 tokens',
      'val has 111,540 tokens',
    ]);
    assert.deepEqual({ ...meta, tokenizer: undefined }, {
      format: 'inkwell-dataset/1', tokenizer: undefined, vocab_size: 65, dtype: 'uint16', train_tokens: 1_003_854, val_tokens: 111_540, source: SHAKESPEARE_PATH,
    });
    assert.deepEqual(JSON.parse(readFileSync(join(outDir, 'meta.json'), 'utf8')), meta);
    assert.equal(statSync(join(outDir, 'train.bin')).size, 2 * 1_003_854);
    assert.equal(statSync(join(outDir, 'val.bin')).size, 2 * 111_540);
    const text = readFileSync(SHAKESPEARE_PATH, 'utf8');
    const tokenizer = tokenizerFromJSON(meta.tokenizer as TokenizerJSON);
    const val = new Dataset(outDir).files.val;
    assert.equal(tokenizer.decode([...val.read(0, 20)]), text.slice(1_003_854, 1_003_874));
    val.close();
  });

  test('gpt2: train 301,966 and val 36,059 tokens (nanoGPT data/shakespeare)', async () => {
    const { meta } = await prepare({ source: SHAKESPEARE_PATH, tokenizer: 'gpt2' });
    assert.equal(meta.vocab_size, 50257);
    assert.deepEqual([meta.train_tokens, meta.val_tokens], [301_966, 36_059]);
    assert.deepEqual(meta.tokenizer, { type: 'gpt2', source: 'tiktoken' });
  });
});

describe('prepare on small corpora', () => {
  const text = generateText(1, 1500);
  const source = writeCorpus(text);
  const [trainText, valText] = nanoGptSplit(text);
  const expectedTokenizers: Record<TokenizerType, () => Tokenizer> = {
    char: () => CharTokenizer.fromText(text),
    gpt2: () => Gpt2Tokenizer.pretrained(),
    word: () => WordTokenizer.fromText(trainText),
    bpe: () => trainBpe(trainText, { vocabSize: 300 }),
  };

  for (const tokenizerName of ['char', 'gpt2', 'word', 'bpe'] as const) {
    test(`${tokenizerName}: chunked encoding equals encoding the whole train and val texts`, async () => {
      const options: PrepareOptions = { source, tokenizer: tokenizerName, ...(tokenizerName === 'bpe' ? { vocabSize: 300 } : {}) };
      const whole = await prepare(options);
      const chunked = await prepare({ ...options, chunkSize: 64 });
      const expected = expectedTokenizers[tokenizerName]();
      assert.deepEqual(whole.meta.tokenizer, expected.toJSON());
      assert.deepEqual(chunked.meta, whole.meta);
      const ordinary = { allowedSpecial: 'none' } as const;
      for (const [split, splitText] of [['train', trainText], ['val', valText]] as const) {
        const ids = readTokens(join(whole.outDir, `${split}.bin`));
        assert.deepEqual(ids, expected.encode(splitText, ordinary), `${split} ids`);
        assert.deepEqual(readTokens(join(chunked.outDir, `${split}.bin`)), ids, `${split} ids with 64-byte chunks`);
      }
      assert.equal(whole.meta.vocab_size, expected.vocabSize);
      assert.equal(whole.characters, countCodePoints(text));
    });
  }

  test('characters are code points, as Python counts them, and a byte-order mark is one of them', async () => {
    const { meta, characters } = await prepare({ source: writeCorpus('\ufeff' + '😀'.repeat(9)), chunkSize: 5 });
    assert.equal(characters, 10);
    assert.deepEqual([meta.train_tokens, meta.val_tokens, meta.vocab_size], [9, 1, 2]);
    assert.deepEqual((meta.tokenizer as { chars: string[] }).chars, ['\ufeff', '😀']);
  });

  test('val_fraction sets the split', async () => {
    const { meta } = await prepare({ source: writeCorpus('abcdefghij'.repeat(10)), valFraction: 0.25 });
    assert.deepEqual([meta.train_tokens, meta.val_tokens], [75, 25]);
  });

  test('a folder is its visible files sorted by name, a newline between files that lack one', async () => {
    const folder = tempPath('folder');
    mkdirSync(join(folder, 'sub'), { recursive: true });
    writeFileSync(join(folder, 'b.txt'), 'gamma delta\n');
    writeFileSync(join(folder, 'a.txt'), 'alpha beta');
    writeFileSync(join(folder, 'c.txt'), '');
    writeFileSync(join(folder, 'd.txt'), 'epsilon');
    writeFileSync(join(folder, '.hidden'), 'never read');
    writeFileSync(join(folder, 'sub', 'nested.txt'), 'nor this');
    assert.deepEqual(corpusFiles(folder), ['a.txt', 'b.txt', 'c.txt', 'd.txt'].map((name) => join(folder, name)));
    const { outDir, meta } = await prepare({ source: folder, chunkSize: 4 });
    const tokenizer = tokenizerFromJSON(meta.tokenizer as TokenizerJSON);
    const decoded = tokenizer.decode(readTokens(join(outDir, 'train.bin'))) + tokenizer.decode(readTokens(join(outDir, 'val.bin')));
    assert.equal(decoded, 'alpha beta\ngamma delta\nepsilon');
  });

  test('default output folders', () => {
    assert.equal(defaultOutDir(SHAKESPEARE_URL, 'char'), join('data', 'shakespeare_char'));
    assert.equal(defaultOutDir(SHAKESPEARE_URL, 'gpt2'), join('data', 'shakespeare_gpt2'));
    assert.equal(defaultOutDir(join('corpora', 'wiki.train.txt'), 'word'), join('data', 'wiki.train'));
    assert.equal(defaultOutDir('corpora/books/', 'char'), join('data', 'books'));
    assert.equal(defaultOutDir('https://example.com/files/novel.txt?x=1', 'bpe'), join('data', 'novel'));
  });
});

describe('token dtype', () => {
  test('uint16 up to 65,536 tokens; uint32 beyond only when allowed', () => {
    assert.equal(tokenDtype(65), 'uint16');
    assert.equal(tokenDtype(65_536), 'uint16');
    assert.throws(() => tokenDtype(65_537), { message: 'vocabulary of 65537 tokens does not fit uint16; pass --allow_uint32' });
    assert.equal(tokenDtype(65_537, true), 'uint32');
  });

  test('a word vocabulary over 65,536 needs allowUint32, and is then written and read back as uint32', async () => {
    // 80,000 distinct words put about 72,000 in the train split, whose words make the vocabulary.
    const source = writeCorpus(Array.from({ length: 80_000 }, (_, i) => `w${i}`).join(' '));
    const outDir = tempPath('wide');
    await assert.rejects(prepare({ source, tokenizer: 'word', outDir }), /^Error: vocabulary of 7\d{4} tokens does not fit uint16; pass --allow_uint32$/);
    assert.ok(!existsSync(outDir));
    const { meta } = await prepare({ source, tokenizer: 'word', outDir, allowUint32: true });
    assert.equal(meta.dtype, 'uint32');
    assert.ok(meta.vocab_size > 65_536);
    const dataset = new Dataset(outDir);
    const train = [...dataset.files.train.read(0, dataset.files.train.length)];
    dataset.close();
    assert.equal(train.length, meta.train_tokens);
    // Ids follow frequency then alphabetical order; every word occurs once, so the last id is the largest word.
    assert.equal(Math.max(...train), meta.vocab_size - 1);
    assert.equal(statSync(join(outDir, 'train.bin')).size, 4 * train.length);
  });
});

describe('llm.c token files', () => {
  function writeLlmc(path: string, tokens: number[]): void {
    const header = new Int32Array(256);
    header.set([LLMC_MAGIC, 1, tokens.length]);
    writeFileSync(path, Buffer.concat([Buffer.from(header.buffer), Buffer.from(Uint16Array.from(tokens).buffer)]));
  }

  test('TokenFile reads an llm.c .bin past its 1,024-byte header, and a Dataset folder of them works', () => {
    const dir = tempPath('llmc');
    mkdirSync(dir);
    const train = Array.from({ length: 500 }, (_, i) => (i * 97) % 50257);
    const val = Array.from({ length: 100 }, (_, i) => 50256 - i);
    writeLlmc(join(dir, 'train.bin'), train);
    writeLlmc(join(dir, 'val.bin'), val);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ vocab_size: 50257, dtype: 'uint16' }));

    const file = new TokenFile(join(dir, 'train.bin'));
    assert.equal(file.length, 500);
    assert.deepEqual([...file.read(0, 500)], train);
    file.close();

    const dataset = new Dataset(dir);
    assert.equal(dataset.files.val.length, 100);
    dataset.checkBlockSize(64);
    const batch = dataset.batch('val', 4, 8, new Rng(1));
    for (let b = 0; b < 4; b++) {
      const start = val.indexOf(batch.x[b * 8]!);
      assert.deepEqual([...batch.x.subarray(b * 8, b * 8 + 8)], val.slice(start, start + 8));
      assert.deepEqual([...batch.y.subarray(b * 8, b * 8 + 8)], val.slice(start + 1, start + 9));
    }
    dataset.close();
  });
});

describe('reading and chunking a corpus', () => {
  test('readText decodes UTF-8 split across reads of any size, and keeps a byte-order mark', () => {
    const text = '\ufeffhé 中文 😀👍🏽 end\n';
    const path = writeCorpus(text);
    for (const chunkSize of [1, 2, 3, 5, 7, 64]) assert.equal([...readText([path], chunkSize)].join(''), text, `chunk size ${chunkSize}`);
  });

  test('readText names a file that is not UTF-8', () => {
    const path = writeCorpus(Uint8Array.of(0x61, 0x62, 0xff, 0x63));
    assert.throws(() => [...readText([path], 2)], { message: `${path} is not UTF-8 text (invalid bytes at or before byte 4)` });
  });

  test('the char rule never splits a surrogate pair', () => {
    const text = '😀a😀😀b'.repeat(5);
    const chunker = new TextChunker(3, cutBetweenCharacters);
    const chunks = [...chunker.push(text), chunker.flush()];
    assert.equal(chunks.join(''), text);
    for (const chunk of chunks) {
      assert.ok(chunk.length <= 3);
      assert.equal(chunk, [...chunk].join(''));
      assert.ok(!/^[\udc00-\udfff]/.test(chunk), `chunk starts inside a pair: ${JSON.stringify(chunk)}`);
    }
  });

  test('text with no place to cut is cut anyway, so memory stays bounded', () => {
    const text = 'x'.repeat(50) + '😀'.repeat(20);
    const chunker = new TextChunker(8, cutBetweenPieces);
    const chunks = [...chunker.push(text), chunker.flush()];
    assert.equal(chunks.join(''), text);
    assert.ok(chunks.every((chunk) => chunk.length <= 8 && !/^[\udc00-\udfff]/.test(chunk)));
  });

  test('cutting at every place the piece rule allows leaves word, gpt2 and bpe tokens unchanged', () => {
    const sample = generateText(7, 2000);
    const tokenizers: [string, Tokenizer][] = [
      ['word', WordTokenizer.fromText(sample)],
      ['gpt2', Gpt2Tokenizer.pretrained()],
      ['bpe (gpt4 split)', trainBpe(sample, { vocabSize: 320 })],
      ['bpe (gpt2 split)', trainBpe(sample, { vocabSize: 320, split: 'gpt2' })],
    ];
    for (const seed of [2, 3, 4]) {
      const text = generateText(seed, 800);
      const pieces: string[] = [];
      let start = 0;
      for (let index = 1; index < text.length; index++) {
        if (cutBetweenPieces(text, index)) {
          pieces.push(text.slice(start, index));
          start = index;
        }
      }
      pieces.push(text.slice(start));
      assert.ok(pieces.length > 100, `only ${pieces.length} pieces`);
      for (const [name, tokenizer] of tokenizers) {
        const ordinary = { allowedSpecial: 'none' } as const;
        assert.deepEqual(pieces.flatMap((piece) => tokenizer.encode(piece, ordinary)), tokenizer.encode(text, ordinary), `${name}, seed ${seed}`);
      }
    }
  });
});

describe('bad input: clear errors, and an existing dataset left as it was', () => {
  const dataset = tempPath('existing');
  const snapshot = () => Object.fromEntries(readdirSync(dataset).sort().map((name) => [name, readFileSync(join(dataset, name))]));
  let before: ReturnType<typeof snapshot>;

  const cases: [string, () => PrepareOptions, RegExp][] = [
    ['missing file', () => ({ source: join(root, 'no-such-file.txt') }), /^corpus .*no-such-file\.txt does not exist$/],
    ['empty corpus', () => ({ source: writeCorpus('', 'empty.txt') }), /^corpus .*empty\.txt is empty$/],
    ['corpus too small to split', () => ({ source: writeCorpus('a', 'tiny.txt') }), /^corpus .*tiny\.txt is too small to split: its 1 character leaves the train split empty at val_fraction 0\.1$/],
    ['val split without tokens', () => ({ source: writeCorpus('aaaa bbbb cccc dddd eeee      ', 'blank-end.txt'), tokenizer: 'word' }), /^the val split of .*blank-end\.txt encodes to no tokens/],
    ['not UTF-8', () => ({ source: writeCorpus(Uint8Array.of(0x68, 0x69, 0xc3), 'latin.txt') }), /latin\.txt is not UTF-8 text/],
    ['empty folder', () => ({ source: mkdirSync(tempPath('empty-folder'), { recursive: true })! }), /^folder .*empty-folder has no files to read$/],
    ['unknown tokenizer', () => ({ source: writeCorpus('hello world'), tokenizer: 'sentencepiece' as TokenizerType }), /^unknown tokenizer 'sentencepiece'; expected one of char, gpt2, word, bpe$/],
    ['bad val_fraction', () => ({ source: writeCorpus('hello world'), valFraction: 1 }), /^val_fraction must be between 0 and 1/],
    ['option for another tokenizer', () => ({ source: writeCorpus('hello world'), vocabSize: 1000 }), /^vocab_size applies to the bpe tokenizer only, not char$/],
    ['bpe vocabulary over uint16', () => ({ source: writeCorpus('hello world'), tokenizer: 'bpe', vocabSize: 70_000 }), /^vocabulary of 70000 tokens does not fit uint16; pass --allow_uint32$/],
  ];

  test('setup: an existing dataset', async () => {
    await prepare({ source: writeCorpus('an existing dataset, made first\n'.repeat(20)), outDir: dataset });
    before = snapshot();
    assert.deepEqual(Object.keys(before), ['meta.json', 'train.bin', 'val.bin']);
  });

  for (const [name, options, message] of cases) {
    test(name, async () => {
      await assert.rejects(prepare({ ...options(), outDir: dataset }), (err: Error) => {
        assert.match(err.message, message);
        return true;
      });
      assert.deepEqual(snapshot(), before, 'the existing dataset changed (or temp files were left)');
      // Into a new folder, a failure leaves no folder behind.
      const fresh = tempPath('fresh');
      await assert.rejects(prepare({ ...options(), outDir: join(fresh, 'nested') }), { message });
      assert.ok(!existsSync(fresh));
    });
  }

  test('unreadable folder', { skip: process.getuid?.() === 0 ? 'running as root, which can read any folder' : false }, async () => {
    const folder = tempPath('locked');
    mkdirSync(folder, { mode: 0o000 });
    await assert.rejects(prepare({ source: folder, outDir: dataset }), /^Error: cannot read folder .*locked \(EACCES\)$/);
    assert.deepEqual(snapshot(), before);
  });
});
