// Pretrained GPT-2 from the hub, against a local HTTP server (127.0.0.1) standing in for huggingface.co
// via HF_ENDPOINT: files in the hub's layout (bare tensor names, attn.bias/masked_bias buffers, Conv1D
// weights, vocab.json + merges.txt), bearer auth, resumed downloads, the cache, offline mode, local folders.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../src/generate/generate.js';
import { writeSafetensors, type NamedTensor } from '../src/io/safetensors.js';
import { GPT } from '../src/model/gpt.js';
import { configToHF } from '../src/model/hf.js';
import { fetchPretrained, loadPretrained, PRETRAINED_FILES } from '../src/model/pretrained.js';
import { repoRoot } from './helpers.js';

/** GPT-2's printable stand-ins for bytes (bytes_to_unicode), which vocab.json and merges.txt are written in. */
const byteChars = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++));
})();
const merges = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['Ġ', 'w'], ['hell', 'o']];
const vocab: Record<string, number> = Object.fromEntries(byteChars.map((c, i) => [c, i]));
merges.forEach(([a, b]) => (vocab[a! + b!] = Object.keys(vocab).length));
vocab['<|endoftext|>'] = Object.keys(vocab).length;

const config = { n_layer: 2, n_head: 2, n_embd: 16, block_size: 32, vocab_size: Object.keys(vocab).length, dropout: 0, bias: true };
const original = new GPT(config, { seed: 3 });
/** A file as the hub serves it: names without `transformer.`, plus the attention mask buffers. */
function hubSafetensors(path: string): void {
  const T = config.block_size;
  const tensors: [string, NamedTensor][] = original.namedParameters().map(([name, p]) => [name.replace(/^transformer\./, ''), { shape: [...p.shape], data: p.data }]);
  for (let i = 0; i < config.n_layer; i++) {
    const mask = new Float32Array(T * T);
    for (let r = 0; r < T; r++) mask.fill(1, r * T, r * T + r + 1);
    tensors.push([`h.${i}.attn.bias`, { shape: [1, 1, T, T], data: mask }], [`h.${i}.attn.masked_bias`, { shape: [], data: Float32Array.of(-1e4) }]);
  }
  writeSafetensors(path, tensors, { format: 'pt' });
}

const files = new Map<string, Buffer>();
const requests: { path: string; headers: IncomingHttpHeaders }[] = [];
let server: Server;
let endpoint = '';
const work = mkdtempSync(join(tmpdir(), 'inkwell-hub-'));

before(async () => {
  hubSafetensors(join(work, 'model.safetensors'));
  files.set('model.safetensors', readFileSync(join(work, 'model.safetensors')));
  files.set('config.json', Buffer.from(JSON.stringify(configToHF(config))));
  files.set('vocab.json', Buffer.from(JSON.stringify(vocab)));
  files.set('merges.txt', Buffer.from(['#version: 0.2', ...merges.map((m) => m.join(' '))].join('\n') + '\n'));
  server = createServer((req, res) => {
    requests.push({ path: req.url!, headers: req.headers });
    const match = /^\/openai-community\/gpt2\/resolve\/main\/(.+)$/.exec(req.url!);
    const body = match ? files.get(match[1]!) : undefined;
    if (!body) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start });
      return void res.end(body.subarray(start));
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

describe('pretrained GPT-2 from the hub', () => {
  const home = join(work, 'hf-home');
  const cached = join(home, 'inkwell', 'openai-community', 'gpt2');

  it('downloads the four files with the token, into $HF_HOME/inkwell/<repo>, and loads model and tokenizer', async () => {
    process.env.HF_ENDPOINT = endpoint;
    process.env.HF_HOME = home;
    process.env.HF_TOKEN = 'hf_secret';
    const progress = new Set<string>();
    try {
      const { model, tokenizer, dir } = await loadPretrained('gpt2', { onProgress: (file) => progress.add(file) });
      assert.equal(dir, cached);
      for (const file of PRETRAINED_FILES) assert.deepEqual(readFileSync(join(cached, file)), files.get(file));
      assert.deepEqual([...progress].sort(), [...PRETRAINED_FILES].sort());
      assert.ok(requests.length >= 4 && requests.every((r) => r.headers.authorization === 'Bearer hf_secret'));
      const params = new Map(original.namedParameters());
      for (const [name, p] of model.namedParameters()) assert.deepEqual(p.data, params.get(name)!.data, name);
      assert.deepEqual(tokenizer.encode('hello world'), [vocab.hello, vocab['Ġw'], ...'orld'.split('').map((c) => vocab[c])]);
      const [g] = generate(model, ['hello'], { tokenizer, temperature: 0, maxNewTokens: 5 });
      const [same] = generate(original, [[vocab.hello!]], { temperature: 0, maxNewTokens: 5 });
      assert.deepEqual(g!.tokens, same!.tokens);
    } finally {
      delete process.env.HF_ENDPOINT;
      delete process.env.HF_HOME;
      delete process.env.HF_TOKEN;
    }
  });

  it('uses the cache offline (option or HF_HUB_OFFLINE=1) and says when a file is missing', async () => {
    const before = requests.length;
    await fetchPretrained('gpt2', { endpoint, cacheDir: join(home, 'inkwell'), offline: true });
    process.env.HF_HUB_OFFLINE = '1';
    try {
      await fetchPretrained('gpt2', { endpoint, cacheDir: join(home, 'inkwell') });
      await assert.rejects(fetchPretrained('gpt2-medium', { endpoint, cacheDir: join(home, 'inkwell') }), /offline mode is on and it is not in the cache/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(requests.length, before);
  });

  it('resumes an interrupted download', async () => {
    const root = join(work, 'resume');
    const dir = join(root, 'openai-community', 'gpt2');
    mkdirSync(dir, { recursive: true });
    const full = files.get('model.safetensors')!;
    const half = Math.floor(full.length / 2);
    writeFileSync(join(dir, 'model.safetensors.part'), full.subarray(0, half));
    await fetchPretrained('gpt2', { endpoint, cacheDir: root });
    assert.deepEqual(readFileSync(join(dir, 'model.safetensors')), full);
    assert.ok(!existsSync(join(dir, 'model.safetensors.part')));
    assert.ok(requests.some((r) => r.path.endsWith('model.safetensors') && r.headers.range === `bytes=${half}-`));
  });

  it('loads a local folder instead of a name, and rejects unknown names', async () => {
    const before = requests.length;
    const { model } = await loadPretrained(cached, { offline: true });
    assert.equal(model.config.vocab_size, config.vocab_size);
    assert.equal(requests.length, before);
    await assert.rejects(fetchPretrained('gpt3', { endpoint }), /'gpt3' is neither a pretrained model \(gpt2, gpt2-medium, gpt2-large, gpt2-xl\)/);
  });

  it('inkwell sample --init=gpt2 samples from it', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'sample', '--init=gpt2', '--offline', '--temperature=0', '--num_samples=1', '--max_new_tokens=4', 'hello'], {
      encoding: 'utf8',
      env: { ...process.env, HF_HOME: home, HF_ENDPOINT: endpoint },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.startsWith('hello') && r.stdout.endsWith('\n---------------\n'), r.stdout);
  });

  it('inkwell train --init_from=gpt2 fine-tunes it (weights from the cache)', () => {
    const data = mkdtempSync(join(tmpdir(), 'inkwell-ft-data-'));
    const tokens = Uint16Array.from({ length: 400 }, (_, i) => (i * 7) % config.vocab_size);
    writeFileSync(join(data, 'train.bin'), tokens);
    writeFileSync(join(data, 'val.bin'), tokens.subarray(0, 100));
    writeFileSync(join(data, 'meta.json'), JSON.stringify({ vocab_size: config.vocab_size, dtype: 'uint16' }));
    const out = join(data, 'out');
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'train', '--init_from=gpt2', `--dataset=${data}`, `--out_dir=${out}`,
      '--block_size=16', '--batch_size=2', '--max_iters=4', '--eval_interval=2', '--eval_iters=1',
      '--always_save_checkpoint=true', '--no-progress'], { encoding: 'utf8', env: { ...process.env, HF_HOME: home, HF_ENDPOINT: endpoint, HF_HUB_OFFLINE: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /initializing from .*openai-community/);
    assert.match(r.stdout, /using the model's n_layer=2, n_head=2, n_embd=16, bias=true/);
    assert.ok(existsSync(join(out, 'ckpt.safetensors')));
  });
});
