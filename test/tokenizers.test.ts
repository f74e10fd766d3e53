import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import {
  BpeTokenizer,
  CharTokenizer,
  END_OF_TEXT,
  Gpt2Tokenizer,
  SPLIT_PATTERNS,
  WordTokenizer,
  basicEnglishTokenize,
  tokenizerFromJSON,
  trainBpe,
  type SplitName,
  type Tokenizer,
} from '../src/tokenizers/index.js';

// Compiled to dist/test/, so the repository's sibling shared/ folder is three levels up.
const SHAKESPEARE_PATH = fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));
const shakespeare = existsSync(SHAKESPEARE_PATH) ? readFileSync(SHAKESPEARE_PATH, 'utf8') : undefined;
const NO_SHAKESPEARE = shakespeare === undefined ? `tinyshakespeare not found at ${SHAKESPEARE_PATH}` : false;

/** Deterministic PRNG (mulberry32) so the random-string tests are reproducible. */
function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = [
  ' ', '  ', '   ', '\n', '\n\n', '\t', '\r\n', ' \n ', '\u00a0', '\u3000', '\u2028',
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "don't", "we'll", "'", '"',
  'hello', 'Hello', ' world', 'GPT', 'ünïcödé', 'Ελληνικά', 'русский', 'العربية', 'हिन्दी', '中文字符', '日本語', '한국어',
  '0', '7', '42', '2024', '3.14159', '1,000,000', '٣٤٥', '½', '²',
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '🦄', '\u0301', 'e\u0301', '\u200b', '\u200d',
  '!', '?!', '...', '--', '<|', '|>', '#', '$%', '(', ')', '[]', '{}', '\\', '~', '`', '@',
];

/**
 * Random strings: fragments that exercise the pre-tokenisation regex, mixed with arbitrary code points
 * (never lone surrogates, which have no UTF-8 encoding). `exclude` drops code points a reference can't handle.
 */
function randomStrings(count: number, seed: number, exclude: ReadonlySet<number> = new Set()): string[] {
  const random = seededRandom(seed);
  const strings: string[] = [];
  for (let n = 0; n < count; n++) {
    let text = '';
    const parts = Math.floor(random() * 16);
    for (let i = 0; i < parts; i++) {
      if (random() < 0.35) {
        let codePoint: number;
        do codePoint = random() < 0.5 ? Math.floor(random() * 0x3000) : Math.floor(random() * 0x30000);
        while ((codePoint >= 0xd800 && codePoint <= 0xdfff) || exclude.has(codePoint));
        text += String.fromCodePoint(codePoint);
      } else {
        text += FRAGMENTS[Math.floor(random() * FRAGMENTS.length)];
      }
    }
    strings.push(text);
  }
  return strings;
}

function assertRoundTrip(tokenizer: Tokenizer, texts: readonly string[]): void {
  for (const text of texts) assert.equal(tokenizer.decode(tokenizer.encode(text)), text, `round trip of ${JSON.stringify(text)}`);
}

function assertSavesAndLoads(tokenizer: Tokenizer, sample: string): Tokenizer {
  const loaded = tokenizerFromJSON(JSON.stringify(tokenizer.toJSON()));
  assert.equal(loaded.type, tokenizer.type);
  assert.equal(loaded.vocabSize, tokenizer.vocabSize);
  assert.deepEqual(loaded.encode(sample), tokenizer.encode(sample));
  assert.deepEqual(loaded.toJSON(), tokenizer.toJSON());
  return loaded;
}

describe('char tokenizer', () => {
  test('tinyshakespeare: 65 characters, 90/10 split of 1,003,854 / 111,540 tokens', { skip: NO_SHAKESPEARE }, () => {
    const text = shakespeare!;
    const tokenizer = CharTokenizer.fromText(text);
    assert.equal(tokenizer.vocabSize, 65);
    assert.equal(tokenizer.decode([0, 1, 2]), '\n !');
    const ids = tokenizer.encode(text);
    const trainSize = Math.floor(ids.length * 0.9);
    assert.deepEqual([trainSize, ids.length - trainSize], [1_003_854, 111_540]);
    assert.equal(tokenizer.decode(ids), text);
  });

  test('vocabulary is sorted by code point, with astral characters as single tokens', () => {
    const tokenizer = CharTokenizer.fromText('b😀a\uffffb');
    assert.deepEqual(tokenizer.toJSON().chars, ['a', 'b', '\uffff', '😀']);
    assert.deepEqual(tokenizer.encode('😀ab\uffff'), [3, 0, 1, 2]);
    assert.equal(tokenizer.decode([3, 0]), '😀a');
  });

  test('unknown characters and out-of-range ids are reported clearly', () => {
    const tokenizer = CharTokenizer.fromText('abc');
    assert.throws(() => tokenizer.encode('ab😀c'), /Character "😀" \(U\+1F600\) at string index 2 is not in the char tokenizer's vocabulary of 3 characters/);
    assert.throws(() => tokenizer.encode('a\u0007'), /"\\u0007" \(U\+0007\) at string index 1/);
    assert.throws(() => tokenizer.decode([0, 3]), /Token id 3 is outside the vocabulary \(vocab size 3/);
    assert.throws(() => tokenizer.decode([1.5]), /Token id 1\.5 is outside/);
  });

  test('saves and loads', () => {
    const tokenizer = CharTokenizer.fromText('hello, wörld 😀\n');
    assertSavesAndLoads(tokenizer, 'world 😀, hello\n');
  });
});

describe('GPT-2 tokenizer', () => {
  const gpt2 = Gpt2Tokenizer.pretrained();
  const tiktoken = new Tiktoken(gpt2Ranks);

  test('matches the known ids', () => {
    assert.equal(gpt2.vocabSize, 50257);
    assert.deepEqual(gpt2.encode('Not all heroes wear capes.'), [3673, 477, 10281, 5806, 1451, 274, 13]);
    assert.equal(gpt2.decode([3673, 477, 10281, 5806, 1451, 274, 13]), 'Not all heroes wear capes.');
    assert.deepEqual(gpt2.encode(''), []);
  });

  test('<|endoftext|> is a special token unless specials are disallowed', () => {
    const text = `Hello${END_OF_TEXT} world<|endoftext|>`;
    assert.equal(gpt2.specialTokens.get(END_OF_TEXT), 50256);
    assert.deepEqual(gpt2.encode(text), tiktoken.encode(text, 'all'));
    assert.deepEqual(gpt2.encode(text), [15496, 50256, 995, 50256]);
    assert.deepEqual(gpt2.encode(text, { allowedSpecial: [END_OF_TEXT] }), [15496, 50256, 995, 50256]);
    const ordinary = gpt2.encode(text, { allowedSpecial: 'none' });
    assert.deepEqual(ordinary, tiktoken.encode(text, [], []));
    assert.ok(!ordinary.includes(50256));
    assert.equal(gpt2.decode(ordinary), text);
    assert.equal(gpt2.decode(gpt2.encode(text)), text);
    assert.throws(() => gpt2.encode(text, { allowedSpecial: ['<|im_start|>'] }), /Unknown special token "<\|im_start\|>"/);
  });

  test('matches js-tiktoken on the whole of tinyshakespeare', { skip: NO_SHAKESPEARE }, () => {
    const ids = gpt2.encode(shakespeare!);
    const expected = tiktoken.encode(shakespeare!);
    assert.equal(ids.length, expected.length);
    assert.ok(ids.every((id, i) => id === expected[i]), 'ids differ from js-tiktoken');
    assert.equal(gpt2.decode(ids), shakespeare);
  });

  test('matches js-tiktoken on thousands of random strings and round-trips them', () => {
    // js-tiktoken uses JavaScript's \s, which differs from tiktoken's on U+0085 and U+FEFF (tested below).
    const texts = randomStrings(4000, 1, new Set([0x85, 0xfeff]));
    for (const text of texts) assert.deepEqual(gpt2.encode(text), tiktoken.encode(text), `encoding ${JSON.stringify(text)}`);
    assertRoundTrip(gpt2, texts);
  });

  test('treats U+0085 as whitespace and U+FEFF not, as tiktoken itself does', () => {
    // Expected ids come from tiktoken's Rust core (the `tiktoken` package), whose \s is Unicode White_Space.
    assert.deepEqual(gpt2.encode(' \u0085b'), [220, 126, 227, 65]);
    assert.deepEqual(gpt2.encode(' \ufeffb'), [27332, 119, 123, 65]);
    assertRoundTrip(gpt2, ['\ufeff', '\ufeffhello', 'a\u0085\u0085 b']);
  });

  test('long pre-tokens are encoded exactly', () => {
    // js-tiktoken's merge loop is quadratic in a pre-token's length, so the comparison uses modest runs.
    for (const text of [' '.repeat(1000) + 'x', '1'.repeat(1000), 'ab'.repeat(500), '😀'.repeat(300)]) {
      assert.deepEqual(gpt2.encode(text), tiktoken.encode(text));
    }
    assertRoundTrip(gpt2, ['ab'.repeat(100_000), '9'.repeat(100_000)]);
  });

  test('decodeBytes keeps a character split across tokens', () => {
    const ids = gpt2.encode('😀');
    assert.ok(ids.length > 1);
    assert.deepEqual([...gpt2.decodeBytes(ids)], [...Buffer.from('😀')]);
    assert.equal(gpt2.decode(ids.slice(0, 1)), '\ufffd');
  });

  test('rejects ids outside the vocabulary', () => {
    assert.throws(() => gpt2.decode([50257]), /Token id 50257 is outside the vocabulary \(vocab size 50257, valid ids 0\.\.50256\)/);
    assert.throws(() => gpt2.decode([-1]), /Token id -1 is outside/);
  });

  test('saves and loads', () => {
    assert.deepEqual(gpt2.toJSON(), { type: 'gpt2', source: 'tiktoken' });
    assertSavesAndLoads(gpt2, 'Not all heroes wear capes.<|endoftext|>');
  });
});

describe('GPT-2 tokenizer from Hugging Face vocab.json + merges.txt', () => {
  // bytes_to_unicode from OpenAI's encoder.py, written out independently of the implementation.
  function bytesToUnicode(): string[] {
    const printable = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
    const chars: string[] = [];
    let extra = 0;
    for (let byte = 0; byte < 256; byte++) chars[byte] = String.fromCharCode(printable.includes(byte) ? byte : 256 + extra++);
    return chars;
  }
  function range(from: number, to: number): number[] {
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  }

  // GPT-2's layout: the 256 byte characters (in bytes_to_unicode's printable-first order), one token per merge, then specials.
  const byteChars = bytesToUnicode();
  const order = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
  for (let byte = 0; byte < 256; byte++) if (!order.includes(byte)) order.push(byte);
  const vocab: Record<string, number> = {};
  order.forEach((byte, id) => (vocab[byteChars[byte]] = id));
  const mergeLines = ['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ in', 'Ã ©'];
  for (const line of mergeLines) vocab[line.replace(' ', '')] = Object.keys(vocab).length;
  vocab[END_OF_TEXT] = Object.keys(vocab).length;
  const vocabJson = JSON.stringify(vocab);
  const mergesText = `#version: 0.2\n${mergeLines.join('\n')}\n`;

  test('encodes with the given merges and specials', () => {
    const tokenizer = Gpt2Tokenizer.fromHuggingFace(vocabJson, mergesText);
    assert.equal(tokenizer.vocabSize, 263);
    const id = (token: string) => vocab[token]!;
    assert.deepEqual(tokenizer.encode(' the'), [id('Ġthe')]);
    assert.deepEqual(tokenizer.encode('the in'), [id('t'), id('he'), id('Ġin')]);
    assert.deepEqual(tokenizer.encode('é'), [id('Ã©')]);
    assert.deepEqual(tokenizer.encode('x<|endoftext|>'), [id('x'), 262]);
    assert.deepEqual(tokenizer.encode('\n'), [id('Ċ')]);
    assertRoundTrip(tokenizer, [' the thin théâtre\n', 'x<|endoftext|>y', ...randomStrings(300, 2)]);
  });

  test('reports malformed files clearly', () => {
    assert.throws(() => Gpt2Tokenizer.fromHuggingFace(vocabJson, 'Ġ q'), /merges\.txt line 1 uses "Ġq", which is not in vocab\.json/);
    assert.throws(() => Gpt2Tokenizer.fromHuggingFace(vocabJson, 'Ġ t h'), /line 1 should be two tokens separated by a space/);
    assert.throws(() => Gpt2Tokenizer.fromHuggingFace({ a: 0 }, ''), /no token for byte character/);
  });

  test('saves and loads', () => {
    assertSavesAndLoads(Gpt2Tokenizer.fromHuggingFace(vocabJson, mergesText), ' the thin theatre<|endoftext|>');
  });
});

describe('word tokenizer', () => {
  test('basic_english splits like torchtext', () => {
    assert.deepEqual(basicEnglishTokenize('You can now install TorchText using pip!'), ['you', 'can', 'now', 'install', 'torchtext', 'using', 'pip', '!']);
    assert.deepEqual(basicEnglishTokenize(`It's "one" (small) test: a;b, done.<br />Next?`), [
      'it', "'", 's', 'one', '(', 'small', ')', 'test', 'a', 'b', ',', 'done', '.', 'next', '?',
    ]);
  });

  test('builds the vocabulary by frequency with a minimum count', () => {
    const tokenizer = WordTokenizer.fromText('the cat. The dog!\nthe end, the cat', { minFreq: 2 });
    assert.deepEqual(tokenizer.toJSON().words, ['<unk>', '<eos>', 'the', 'cat']);
    assert.equal(tokenizer.unknownId, 0);
    assert.equal(tokenizer.endOfLineId, 1);
    // Equal counts sort alphabetically, not by first appearance.
    const all = WordTokenizer.fromText('c b a c a');
    assert.deepEqual(all.toJSON().words, ['<unk>', '<eos>', 'a', 'c', 'b']);
  });

  test('unknown words map to <unk>, lines end with <eos>, decode joins with spaces', () => {
    const tokenizer = WordTokenizer.fromText('the cat sat\non the mat.');
    const ids = tokenizer.encode('The dog sat.\nthe cat');
    assert.deepEqual(ids.map((id) => tokenizer.toJSON().words[id]), ['the', '<unk>', 'sat', '.', '<eos>', 'the', 'cat']);
    assert.equal(tokenizer.decode(ids), 'the <unk> sat .\nthe cat');
    assert.deepEqual(tokenizer.encode('<unk> cat\n'), [tokenizer.unknownId, tokenizer.encode('cat')[0], tokenizer.endOfLineId]);
    assert.throws(() => tokenizer.decode([tokenizer.vocabSize]), new RegExp(`Token id ${tokenizer.vocabSize} is outside the vocabulary \\(vocab size ${tokenizer.vocabSize}`));
  });

  test('tinyshakespeare round-trips through its normalised form', { skip: NO_SHAKESPEARE }, () => {
    const text = shakespeare!.slice(0, 50_000);
    const tokenizer = WordTokenizer.fromText(text);
    const ids = tokenizer.encode(text);
    assert.ok(!ids.includes(tokenizer.unknownId));
    assert.deepEqual(tokenizer.encode(tokenizer.decode(ids)), ids);
  });

  test('saves and loads', () => {
    assertSavesAndLoads(WordTokenizer.fromText('to be or not to be\nthat is the question'), 'to be, or not?\nmaybe');
  });
});

/** minbpe's training and encoding, recounting every pair each step: slow but obviously right. */
function referenceBpe(text: string, merges: number, split: SplitName): { merges: [number, number][]; encode(text: string): number[] } {
  const source = SPLIT_PATTERNS[split];
  const pattern = source === null ? null : new RegExp(source, 'gu');
  const pieces = (t: string) => (pattern === null ? [t] : [...t.matchAll(pattern)].map((m) => m[0]));
  const chunks = pieces(text).map((piece) => [...Buffer.from(piece)]);
  const replace = (ids: number[], [a, b]: [number, number], id: number) => {
    const out: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
        out.push(id);
        i++;
      } else out.push(ids[i]);
    }
    return out;
  };
  const learned: [number, number][] = [];
  for (let step = 0; step < merges; step++) {
    const counts = new Map<string, number>();
    for (const ids of chunks) for (let i = 0; i + 1 < ids.length; i++) counts.set(`${ids[i]},${ids[i + 1]}`, (counts.get(`${ids[i]},${ids[i + 1]}`) ?? 0) + 1);
    let best: string | undefined;
    for (const [pair, count] of counts) if (best === undefined || count > counts.get(best)!) best = pair;
    if (best === undefined) break;
    const pair = best.split(',').map(Number) as [number, number];
    learned.push(pair);
    chunks.forEach((ids, i) => (chunks[i] = replace(ids, pair, 255 + learned.length)));
  }
  const rank = new Map(learned.map(([a, b], i) => [`${a},${b}`, i]));
  return {
    merges: learned,
    encode(t: string) {
      return pieces(t).flatMap((piece) => {
        let ids = [...Buffer.from(piece)];
        for (;;) {
          let best = -1;
          for (let i = 0; i + 1 < ids.length; i++) {
            const r = rank.get(`${ids[i]},${ids[i + 1]}`);
            if (r !== undefined && (best < 0 || r < best)) best = r;
          }
          if (best < 0) return ids;
          ids = replace(ids, learned[best]!, 256 + best);
        }
      });
    },
  };
}

describe('trained byte-level BPE', () => {
  test("reproduces minbpe's example", () => {
    const tokenizer = trainBpe('aaabdaaabac', { vocabSize: 256 + 3, split: 'none' });
    assert.deepEqual(tokenizer.merges, [[97, 97], [256, 97], [257, 98]]);
    assert.deepEqual(tokenizer.encode('aaabdaaabac'), [258, 100, 258, 97, 99]);
    assert.equal(tokenizer.decode([258, 100, 258, 97, 99]), 'aaabdaaabac');
    assert.equal(tokenizer.vocabSize, 259);
  });

  test('learns the same merges as a from-scratch recount, ties included', () => {
    const corpora = [
      'abcabcabd abd xyxyxy yxyx ab ab ba ba cd dc cd',
      "The quick brown fox jumps over the lazy dog. It's the dog's day; the fox'll run!\n\n  1234567 + 89 = ?",
      ...(shakespeare === undefined ? [] : [shakespeare.slice(0, 20_000)]),
    ];
    for (const corpus of corpora) {
      for (const split of ['gpt4', 'gpt2', 'none'] as const) {
        const reference = referenceBpe(corpus, 120, split);
        const tokenizer = trainBpe(corpus, { vocabSize: 256 + 120, split });
        assert.deepEqual(tokenizer.merges, reference.merges, `merges for split ${split}`);
        for (const text of [corpus.slice(0, 500), ...randomStrings(50, 3)]) assert.deepEqual(tokenizer.encode(text), reference.encode(text));
      }
    }
  });

  test('stops early when the text runs out of pairs', () => {
    const tokenizer = trainBpe('ab', { vocabSize: 300, split: 'none' });
    assert.deepEqual(tokenizer.merges, [[97, 98]]);
    assert.equal(tokenizer.vocabSize, 257);
  });

  test('round-trips arbitrary Unicode with every split', () => {
    const texts = randomStrings(1000, 4);
    for (const split of ['gpt4', 'gpt2', 'none'] as const) {
      const tokenizer = trainBpe(texts.slice(0, 300).join(''), { vocabSize: 256 + 200, split });
      assertRoundTrip(tokenizer, texts);
    }
  });

  test('registers special tokens after the merges and keeps them out of training', () => {
    const tokenizer = trainBpe('<|endoftext|>hello<|endoftext|>hello world', { vocabSize: 256 + 5, specialTokens: ['<|endoftext|>', '<|pad|>'] });
    assert.deepEqual(Object.fromEntries(tokenizer.specialTokens), { '<|endoftext|>': 261, '<|pad|>': 262 });
    assert.equal(tokenizer.vocabSize, 263);
    // Training never saw the special's characters, so no merge involves '<' or '|'.
    assert.ok(tokenizer.merges.flat().every((id) => id !== 60 && id !== 124));
    const ids = tokenizer.encode('hello<|endoftext|><|pad|>');
    assert.deepEqual(ids.slice(-2), [261, 262]);
    assert.equal(tokenizer.decode(ids), 'hello<|endoftext|><|pad|>');
    assert.ok(!tokenizer.encode('<|pad|>', { allowedSpecial: 'none' }).includes(262));
  });

  test('tinyshakespeare: 1,000 merges compress the text and round-trip it', { skip: NO_SHAKESPEARE }, () => {
    const tokenizer = trainBpe(shakespeare!, { vocabSize: 256 + 1000 });
    assert.equal(tokenizer.vocabSize, 1256);
    const ids = tokenizer.encode(shakespeare!);
    assert.ok(ids.length < shakespeare!.length / 2.5, `only ${ids.length} tokens for ${shakespeare!.length} characters`);
    assert.equal(tokenizer.decode(ids), shakespeare);
  });

  test('reports bad ids and options clearly', () => {
    const tokenizer = trainBpe('aaabdaaabac', { vocabSize: 259, split: 'none' });
    assert.throws(() => tokenizer.decode([259]), /Token id 259 is outside the vocabulary \(vocab size 259/);
    assert.throws(() => trainBpe('abc', { vocabSize: 100 }), /vocabSize must be an integer from 256/);
    assert.throws(() => trainBpe('abc', { vocabSize: 300, split: 'toString' as SplitName }), /Unknown split "toString"; expected one of gpt2, gpt4, none/);
    assert.throws(() => new BpeTokenizer([[97, 300]], 'gpt4'), /Merge 0 \(97, 300\) uses a token that does not exist before it/);
  });

  test('saves and loads', () => {
    const tokenizer = trainBpe("hello world, it's a small world\nhello again", { vocabSize: 256 + 20, specialTokens: ['<|endoftext|>'] });
    const loaded = assertSavesAndLoads(tokenizer, 'hello small world<|endoftext|>again');
    assert.ok(loaded instanceof BpeTokenizer);
    assertSavesAndLoads(trainBpe('aaabdaaabac', { vocabSize: 259, split: 'none' }), 'aaab');
  });
});

test('tokenizerFromJSON rejects unknown types', () => {
  assert.throws(() => tokenizerFromJSON('{"type":"sentencepiece"}'), /Unknown tokenizer type "sentencepiece"; expected one of 'char', 'gpt2', 'word', 'bpe'/);
});
