// tokenizer.json components on small hand-made vocabularies: exact ids written out here (so the test runs
// without the dev packages), the same configurations checked against HF's Rust `tokenizers` when it is
// installed, unsupported components named in errors, streaming decode, loading from folders and the hub.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextStream } from '../src/generate/stream.js';
import { HFTokenizer, loadTokenizer, UnsupportedTokenizerError, type HFTokenizerJSON } from '../src/tokenizers/index.js';
import { repoRoot } from './helpers.js';
import { rustTokenizers } from './tokenizer-texts.js';

const rust = rustTokenizers();

/** A SentencePiece-style vocabulary: ▁-words, byte fallback, a few merges. */
function sentencePiece(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', '1', '2', '3', 'he', 'll', 'hell', 'hello', '▁hello', '▁w', 'or', '▁wor', '▁world', 'ld'];
  for (const p of pieces) vocab[p] = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true,
      vocab,
      merges: ['h e', 'l l', 'he ll', 'hell o', '▁ hello', '▁ w', 'o r', '▁w or', 'l d', '▁wor ld'],
    },
    ...overrides,
  };
}

/** A byte-level vocabulary (bytes as GPT-2's stand-in characters) with a Split regex and added tokens. */
function byteLevel(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  const chars = Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++));
  const vocab: Record<string, number> = Object.fromEntries(chars.map((c, i) => [c, i]));
  const merges = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['Ġ', 'Ġ'], ['1', '2']];
  for (const [a, b] of merges) vocab[a! + b!] = Object.keys(vocab).length;
  const added = (id: number, content: string, special: boolean, extra: Record<string, boolean> = {}) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...extra });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      added(261, '<|end|>', true),
      added(262, '<mask>', true, { lstrip: true, rstrip: true }),
      added(263, 'cat', false, { single_word: true }),
      added(264, 'DOG', false),
    ],
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map((m) => m.join(' ')) },
    ...overrides,
  };
}

const build = (tokenizer: Record<string, unknown>, config: Record<string, unknown> | null = null) => new HFTokenizer({ type: 'huggingface', tokenizer, config });

/** Checks our ids against the Rust reference for the same tokenizer.json, when it is installed. */
async function sameAsReference(tokenizer: Record<string, unknown>, texts: readonly string[]): Promise<void> {
  if (rust === null) return;
  const ref = rust.Tokenizer.fromString(JSON.stringify(tokenizer));
  const ours = build(tokenizer);
  for (const text of texts) {
    assert.deepEqual(ours.encode(text), (await ref.encode(text)).getIds(), `ids of ${JSON.stringify(text)}`);
    assert.equal(ours.decode(ours.encode(text)), await ref.decode((await ref.encode(text)).getIds(), false), `decode of ${JSON.stringify(text)}`);
  }
}

describe('tokenizer.json: SentencePiece-style BPE', () => {
  const tok = build(sentencePiece());

  it('prepends ▁, merges, falls back to bytes and adds BOS', () => {
    // ▁hello ▁world, then "!" which is not in the vocabulary: its byte <0x21> (id 3 + 0x21).
    assert.deepEqual(tok.encode('hello world!'), [1, 274, 278, 3 + 0x21]);
    assert.deepEqual(tok.encode('hello world!', { addSpecialTokens: false }), [274, 278, 3 + 0x21]);
    assert.equal(tok.decode(tok.encode('hello world!')), '<s> hello world!'); // as HF: Strip only trims the first token
    assert.equal(tok.decode(tok.encode('hello world!'), { skipSpecialTokens: true }), 'hello world!');
    assert.equal(tok.decode([1, 274]), '<s> hello');
  });

  it('cuts special tokens out before normalizing, so each stretch gets its own ▁', () => {
    assert.deepEqual(tok.encode('hello</s>world', { addSpecialTokens: false }), [274, 2, 278]);
    assert.deepEqual(tok.encode('hello</s>world', { addSpecialTokens: false, allowedSpecial: 'none' }).includes(2), false);
  });

  it('decodes a 4-byte character split over byte tokens only once it is whole, in a stream', () => {
    const ids = tok.encode('😀', { addSpecialTokens: false });
    assert.deepEqual(ids, [259, 3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80]); // ▁ then the emoji's four bytes
    const stream = new TextStream(tok);
    const pieces = ids.map((id) => stream.push(id));
    assert.deepEqual(pieces, ['', '', '', '', '😀']);
    assert.equal(stream.finish(), '');
  });

  it('matches the reference', () => sameAsReference(sentencePiece(), ['hello world', 'hello</s>world', '  hello  ', '😀 héllo', '', 'he<s>ll']));

  it('Metaspace pre-tokenizer with prepend_scheme first', async () => {
    const json = sentencePiece({ normalizer: null, pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }, decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true } });
    const t = build(json);
    // "first": only the start of the text gets ▁, not the stretch after a special token.
    assert.deepEqual(t.encode('hello</s>world', { addSpecialTokens: false }), [274, 2, 264, 276, 279]); // w or ld
    await sameAsReference(json, ['hello world', 'hello</s>world', ' hello', 'hello  world ']);
  });
});

describe('tokenizer.json: byte-level BPE', () => {
  const tok = build(byteLevel());

  it('splits with the regex, maps bytes, merges', () => {
    // "the" → t h e (no leading space: no Ġt merge), " the" → Ġthe, "12" → 12
    assert.deepEqual(tok.encode(' the the'), [258, 258]);
    assert.deepEqual(tok.encode('12'), [260]);
    assert.equal(tok.decode(tok.encode('Héllo wörld 👋')), 'héllo wörld 👋'); // Lowercase normalizer
  });

  it('added tokens: lstrip/rstrip swallow spaces, single_word needs word boundaries, normalized tokens match normalized text', () => {
    assert.deepEqual(tok.encode('a  <mask>  b'), [97, 262, 98]);
    assert.deepEqual(tok.encode('cat'), [263]);
    assert.ok(!tok.encode('concat').includes(263));
    assert.deepEqual(tok.encode('Dog'), [264]); // "DOG" is normalized (lowercased) before matching "dog"
  });

  it('matches the reference', () => sameAsReference(byteLevel(), [' the the', 'a  <mask>  b', 'cat concat cats', 'DOG Dog dog', "IT'S 12345", '<|end|>x', 'x\n\n  y']));

  it('Split behaviors and Digits match the reference', async () => {
    const behaviors = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];
    for (const behavior of behaviors) {
      for (const invert of [false, true]) {
        const json = byteLevel({
          pre_tokenizer: {
            type: 'Sequence',
            pretokenizers: [
              { type: 'Digits', individual_digits: behavior === 'Isolated' },
              { type: 'Split', pattern: { String: ' ' }, behavior, invert },
              { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
            ],
          },
        });
        assert.ok(build(json).encode('a b  c123 the').length > 0);
        await sameAsReference(json, ['a b  c123 the', '  x  ', 'the 12 the']);
      }
    }
  });
});

describe('tokenizer.json: configuration and errors', () => {
  it('names an unsupported component and where it is', () => {
    assert.throws(() => build(byteLevel({ normalizer: { type: 'BertNormalizer' } })), (err: Error) => err instanceof UnsupportedTokenizerError && /normalizer: normalizer type "BertNormalizer" is not supported/.test(err.message));
    assert.throws(() => build(byteLevel({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }] } })), /pre_tokenizer\.pretokenizers\[0\]: pre-tokenizer type "Whitespace" is not supported/);
    assert.throws(() => build(byteLevel({ decoder: { type: 'CTC' } })), /decoder type "CTC" is not supported/);
    assert.throws(() => build(byteLevel({ model: { type: 'Unigram', vocab: [] } })), /model type "Unigram" is not supported \(supported: BPE\)/);
    assert.throws(() => build(byteLevel({ post_processor: { type: 'Weird' } })), /post-processor type "Weird"/);
    assert.throws(() => build(byteLevel({ pre_tokenizer: { type: 'Split', pattern: { Regex: 'a++' }, behavior: 'Isolated', invert: false } })), /possessive quantifier/);
    const bad = byteLevel();
    (bad.model as { merges: string[] }).merges.push('zz q');
    assert.throws(() => build(bad), /model\.merges\[5\]: "zz" is not in the vocabulary/);
  });

  it("add_bos_token / add_eos_token rebuild a Llama tokenizer's BOS/EOS as transformers does", () => {
    const json = sentencePiece();
    const config = { tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: { content: '</s>' }, add_bos_token: false, add_eos_token: true };
    assert.deepEqual(build(json, config).encode('hello'), [274, 2]);
    assert.deepEqual(build(json, { ...config, tokenizer_class: 'Qwen2Tokenizer' }).encode('hello'), [1, 274]);
    assert.equal(build(json, config).config.eosToken, '</s>');
  });

  it('survives toJSON / tokenizerFromJSON (checkpoints keep it that way)', async () => {
    const { tokenizerFromJSON } = await import('../src/tokenizers/index.js');
    const tok = build(byteLevel(), { chat_template: '{{ messages }}' });
    const copy = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())) as HFTokenizerJSON);
    assert.deepEqual(copy.encode('the cat'), tok.encode('the cat'));
    assert.equal((copy as HFTokenizer).config.chatTemplate, '{{ messages }}');
  });
});

describe('loadTokenizer', () => {
  let server: Server;
  let endpoint = '';
  const requests: string[] = [];
  const cacheDir = mkdtempSync(join(tmpdir(), 'inkwell-tok-hub-'));
  before(async () => {
    const files: Record<string, string> = { 'tokenizer.json': JSON.stringify(sentencePiece()), 'tokenizer_config.json': JSON.stringify({ chat_template: 'T', eos_token: '</s>' }) };
    server = createServer((req, res) => {
      requests.push(req.url!);
      const match = /^\/acme\/tiny\/resolve\/main\/(.+)$/.exec(req.url!);
      const body = match ? files[match[1]!] : undefined;
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('reads a folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-tok-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(sentencePiece()));
    writeFileSync(join(dir, 'chat_template.jinja'), '{{ bos_token }}');
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    assert.deepEqual(tok.encode('hello'), [1, 274]);
    assert.equal(tok.config.chatTemplate, '{{ bos_token }}');
    await assert.rejects(loadTokenizer(mkdtempSync(join(tmpdir(), 'inkwell-empty-'))), /no tokenizer\.json \(nor vocab\.json \+ merges\.txt\)/);
  });

  it('fetches a hub repository through the cache (optional files may be missing), then works offline', async () => {
    const tok = (await loadTokenizer('acme/tiny', { endpoint, cacheDir })) as HFTokenizer;
    assert.deepEqual(tok.encode('hello world'), [1, 274, 278]);
    assert.equal(tok.config.chatTemplate, 'T');
    assert.ok(requests.includes('/acme/tiny/resolve/main/chat_template.jinja'), 'asked for the optional template file');
    const before = requests.length;
    const again = await loadTokenizer('acme/tiny', { endpoint, cacheDir, offline: true });
    assert.deepEqual(again.encode('hello world'), [1, 274, 278]);
    assert.equal(requests.length, before);
    await assert.rejects(loadTokenizer('acme/missing', { endpoint, cacheDir }), /HTTP 404/);
  });
});

describe('inkwell tokenize --tokenizer=DIR', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-tok-cli-'));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(sentencePiece()));
  const inkwell = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'dist/src/cli/main.js'), 'tokenize', ...args], { encoding: 'utf8' });

  it('prints the ids (BOS included unless --no_special_tokens) and decodes them', () => {
    assert.deepEqual([inkwell(`--tokenizer=${dir}`, '--json', 'hello world').stdout, inkwell(`--tokenizer=${dir}`, '--no_special_tokens', 'hello world').stdout], ['[1,274,278]\n', '[274,278]\n']);
    assert.equal(inkwell(`--tokenizer=${dir}`, '--decode', '1 274 278').stdout, '<s> hello world\n');
    assert.equal(inkwell(`--tokenizer=${dir}`, '--decode', '--skip_special_tokens', '1 274 278').stdout, 'hello world\n');
  });

  it('names an unsupported component and exits non-zero', () => {
    const bad = mkdtempSync(join(tmpdir(), 'inkwell-tok-bad-'));
    writeFileSync(join(bad, 'tokenizer.json'), JSON.stringify(sentencePiece({ normalizer: { type: 'Precompiled', precompiled_charsmap: '' } })));
    const run = inkwell(`--tokenizer=${bad}`, 'hi');
    assert.equal(run.status, 1);
    assert.match(run.stderr, /tokenizer\.json: normalizer: normalizer type "Precompiled" is not supported/);
  });
});
