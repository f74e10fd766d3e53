// `inkwell prepare` and `inkwell tokenize` as a user runs them: output, exit codes (0 done, 1 bad input,
// 2 bad usage) and the one-line error messages.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { GPT } from '../src/model/gpt.js';
import { CharTokenizer } from '../src/tokenizers/index.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'inkwell-cli-data-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in `root` with a private cache; `input` is its standard input (closed at once otherwise). */
function inkwell(args: string[], input = '', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { INKWELL_OFFLINE: _offline, INKWELL_DEBUG: _debug, ...inherited } = process.env;
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: root, env: { ...inherited, INKWELL_CACHE: join(root, 'cache'), ...env } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

function write(name: string, text: string): string {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
}

const CORPUS = 'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n'.repeat(10);

test('the built CLI runs as a program (what `npx inkwell` executes on a fresh checkout)', () => {
  const r = spawnSync(MAIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.error, undefined, `${MAIN}: ${r.error?.message}`);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /usage: inkwell <command>/);
});

describe('inkwell prepare', () => {
  test('prepares a text file and prints what nanoGPT prints', async () => {
    const source = write('citizens.txt', CORPUS);
    const run = await inkwell(['prepare', source, '--out=data/citizens_char']);
    assert.equal(run.stderr, '');
    assert.equal(run.code, 0);
    assert.equal(run.stdout, [
      'length of dataset in characters: 810',
      "all the unique characters: \n ,.:ABCFSacdefhiklmnoprstuwyz",
      'vocab size: 30',
      'train has 729 tokens',
      'val has 81 tokens',
      `wrote ${join('data', 'citizens_char')}: train.bin, val.bin, meta.json`,
      '',
    ].join('\n'));
    const meta = JSON.parse(readFileSync(join(root, 'data', 'citizens_char', 'meta.json'), 'utf8'));
    assert.equal(meta.vocab_size, 30);
  });

  test('writes to data/<name> by default, with any tokenizer and its options', async () => {
    const source = write('speech.txt', CORPUS);
    const run = await inkwell(['prepare', source, '--tokenizer', 'word', '--min_freq=2', '--val_fraction=0.2']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^vocab size: \d+$/m);
    assert.match(run.stdout, /wrote data\/speech: train\.bin, val\.bin, meta\.json/);
    assert.equal(JSON.parse(readFileSync(join(root, 'data', 'speech', 'meta.json'), 'utf8')).tokenizer.type, 'word');
  });

  test('downloads a URL source once, then works offline from the cache', async () => {
    let requests = 0;
    const server = createServer((_request, response) => {
      requests++;
      response.end(CORPUS);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/corpora/input.txt`;
    try {
      const first = await inkwell(['prepare', url, '--tokenizer=gpt2']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /wrote data\/input: /);
      assert.equal(JSON.parse(readFileSync(join(root, 'data', 'input', 'meta.json'), 'utf8')).source, url);
    } finally {
      server.close();
    }
    const offline = await inkwell(['prepare', url, '--tokenizer=gpt2', '--out=data/input_again', '--offline']);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(requests, 1);
    const missing = await inkwell(['prepare', `${url}?other`], '', { INKWELL_OFFLINE: '1' });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^inkwell: cannot download .*\?other: offline mode is on and it is not in the cache/m);
  });

  const failures: [string, string[], number, RegExp][] = [
    ['a missing file', ['prepare', 'nowhere.txt'], 1, /^inkwell: corpus nowhere\.txt does not exist$/m],
    ['an empty corpus', ['prepare', 'empty.txt'], 1, /^inkwell: corpus empty\.txt is empty$/m],
    ['an unknown tokenizer', ['prepare', 'citizens.txt', '--tokenizer=sentencepiece'], 2, /^inkwell: usage: --tokenizer must be one of char, gpt2, word, bpe, got 'sentencepiece'$/m],
    ['a BPE vocabulary over uint16', ['prepare', 'citizens.txt', '--tokenizer=bpe', '--vocab_size=70000'], 1, /^inkwell: vocabulary of 70000 tokens does not fit uint16; pass --allow_uint32$/m],
    ['a misspelt option', ['prepare', 'citizens.txt', '--vocab-size=300'], 2, /^inkwell: usage: unknown option --vocab-size/m],
    ['a non-numeric option', ['prepare', 'citizens.txt', '--val_fraction=tenth'], 2, /^inkwell: usage: --val_fraction must be a number, got 'tenth'$/m],
    ['two sources', ['prepare', 'a.txt', 'b.txt'], 2, /^inkwell: usage: prepare takes one SOURCE, got 2: a\.txt b\.txt$/m],
  ];
  for (const [what, args, code, message] of failures) {
    test(`fails on ${what} with exit code ${code}, leaving the dataset as it was`, async () => {
      write('empty.txt', '');
      const before = readFileSync(join(root, 'data', 'citizens_char', 'train.bin'));
      const run = await inkwell([...args, '--out=data/citizens_char']);
      assert.equal(run.code, code);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
      assert.deepEqual(readFileSync(join(root, 'data', 'citizens_char', 'train.bin')), before);
    });
  }

  test('--help shows the options', async () => {
    const run = await inkwell(['prepare', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^usage: inkwell prepare \[SOURCE\]/);
    assert.match(run.stdout, /--allow_uint32/);
  });
});

describe('inkwell tokenize', () => {
  const checkpoint = join(root, 'ckpt.safetensors');
  const charData = join(root, 'data', 'tokenize_char');

  before(async () => {
    const prepared = await inkwell(['prepare', write('hello.txt', 'hello world, hello there\n'.repeat(4)), `--out=${charData}`]);
    assert.equal(prepared.code, 0, prepared.stderr);
    const tokenizer = CharTokenizer.fromText('abc ');
    const model = new GPT({ n_layer: 1, n_head: 1, n_embd: 8, block_size: 8, vocab_size: tokenizer.vocabSize, dropout: 0, bias: false });
    saveCheckpoint(checkpoint, model, null, { iter_num: 0, best_val_loss: Infinity, tokenizer: tokenizer.toJSON() });
  });

  test('prints GPT-2 ids as a JSON array by default', async () => {
    const run = await inkwell(['tokenize', 'Hello world']);
    assert.deepEqual([run.code, run.stdout, run.stderr], [0, '[15496,995]\n', '']);
  });

  test('--decode takes a JSON array or ids separated by spaces or commas', async () => {
    for (const args of [['--decode', '[15496, 995]'], ['--decode=15496,995'], ['--decode', '15496', '995'], ['--decode', '15496 995']]) {
      const run = await inkwell(['tokenize', ...args]);
      assert.deepEqual([run.code, run.stdout], [0, 'Hello world\n'], args.join(' '));
    }
  });

  test('reads the text from standard input or FILE:path', async () => {
    const piped = await inkwell(['tokenize', '--tokenizer=gpt2'], 'Hello world');
    assert.deepEqual([piped.code, piped.stdout], [0, '[15496,995]\n']);
    const fromFile = await inkwell(['tokenize', `FILE:${write('prompt.txt', 'Hello world')}`]);
    assert.deepEqual([fromFile.code, fromFile.stdout], [0, '[15496,995]\n']);
    const decoded = await inkwell(['tokenize', '--decode'], '[15496, 995]\n');
    assert.deepEqual([decoded.code, decoded.stdout], [0, 'Hello world\n']);
  });

  test("uses a dataset's tokenizer with --data", async () => {
    const meta = JSON.parse(readFileSync(join(charData, 'meta.json'), 'utf8'));
    const ids = [...'hello'].map((char) => meta.tokenizer.chars.indexOf(char));
    const encoded = await inkwell(['tokenize', 'hello', `--data=${charData}`, '--tokenizer=char']);
    assert.deepEqual([encoded.code, encoded.stdout], [0, `${JSON.stringify(ids)}\n`]);
    const decoded = await inkwell(['tokenize', '--decode', JSON.stringify(ids), `--data=${charData}`]);
    assert.deepEqual([decoded.code, decoded.stdout], [0, 'hello\n']);
  });

  test("uses a checkpoint's tokenizer with --checkpoint", async () => {
    const encoded = await inkwell(['tokenize', 'cab a', `--checkpoint=${checkpoint}`]);
    assert.deepEqual([encoded.code, encoded.stdout], [0, '[3,1,2,0,1]\n']);
    const decoded = await inkwell(['tokenize', '--decode=3,1,2', `--checkpoint=${checkpoint}`]);
    assert.deepEqual([decoded.code, decoded.stdout], [0, 'cab\n']);
  });

  const failures: [string, string[], number, RegExp][] = [
    ['char without a vocabulary', ['--tokenizer=char', 'hi'], 1, /^inkwell: the char tokenizer has no fixed vocabulary: pass --data=DIR/m],
    ['a tokenizer that does not match the dataset', ['--tokenizer=word', 'hi', '--data=data/tokenize_char'], 1, /^inkwell: --tokenizer=word does not match .*meta\.json, whose tokenizer is char$/m],
    ['a missing dataset', ['hi', '--data=data/none'], 1, /^inkwell: dataset folder data\/none does not exist/m],
    ['a character outside the vocabulary', ['xyz', '--data=data/tokenize_char'], 1, /^inkwell: Character "x" \(U\+0078\) at string index 0 is not in the char tokenizer's vocabulary/m],
    ['ids that are not numbers', ['--decode', '[1, two]'], 1, /^inkwell: cannot decode 'two': token ids are non-negative integers$/m],
    ['an id outside the vocabulary', ['--decode', '50257'], 1, /^inkwell: Token id 50257 is outside the vocabulary \(vocab size 50257/m],
    ['a missing FILE:', ['FILE:missing.txt'], 1, /^inkwell: cannot read missing\.txt \(ENOENT\)$/m],
    ['both --data and --checkpoint', ['hi', '--data=x', '--checkpoint=y'], 2, /^inkwell: usage: give --data or --checkpoint, not both$/m],
    ['an unknown tokenizer', ['hi', '--tokenizer=t5'], 2, /^inkwell: usage: --tokenizer must be one of char, gpt2, word, bpe, a folder with tokenizer\.json or a hub repository \(owner\/name\), got 't5'$/m],
  ];
  for (const [what, args, code, message] of failures) {
    test(`fails on ${what} with exit code ${code}`, async () => {
      const run = await inkwell(['tokenize', ...args]);
      assert.equal(run.code, code, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
    });
  }
});
