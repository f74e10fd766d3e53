// `inkwell push` (issue 22) against a local HTTP server that speaks the hub calls @huggingface/hub makes
// for an upload (read from its src/lib/create-repo.ts and commit.ts): POST /api/repos/create, POST
// /api/models/{repo}/preupload/main (which files go through LFS), POST /{repo}.git/info/lfs/objects/batch
// (the basic transfer: a PUT per object), PUT of the LFS bytes, and POST /api/models/{repo}/commit/main
// (NDJSON: header, inline files base64, LFS pointers). The server keeps what it was sent, so the test
// checks that every file arrived byte for byte, authorised with HF_TOKEN, and the model card's figures.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelCard } from '../src/report/model-card.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { writeHuggingFaceTokenizer } from '../src/tokenizers/hf-export.js';
import { repoRoot, sharedDir } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'inkwell-push-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const MAIN = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const TOKEN = 'hf_test_token';

interface Hub {
  url: string;
  created: Set<string>;
  /** Files committed, by repo then path. */
  files: Map<string, Map<string, Buffer>>;
  /** Every request: method, path, authorization. */
  log: { method: string; path: string; auth: string | undefined }[];
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function startHub(): Promise<Hub> {
  const lfs = new Map<string, Buffer>();
  const hub: Omit<Hub, 'url' | 'close'> = { created: new Set(), files: new Map(), log: [] };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    hub.log.push({ method: req.method!, path, auth: req.headers.authorization });
    const data = await body(req);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}` && req.method !== 'PUT') return json(401, { error: 'Invalid credentials' });
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && path === '/api/repos/create') {
      const { name, organization, type } = JSON.parse(data.toString());
      const id = `${organization}/${name}`;
      if (type !== 'model') return json(400, { error: `type ${type}` });
      if (hub.created.has(id)) return json(409, { error: 'You already created this model repo' });
      hub.created.add(id);
      return json(200, { url: `${hubUrl}/${id}` });
    }
    if (req.method === 'POST' && (m = /^\/api\/models\/([^/]+\/[^/]+)\/preupload\/main$/.exec(path))) {
      if (!hub.created.has(m[1]!)) return json(404, { error: 'Repository not found' });
      const { files } = JSON.parse(data.toString()) as { files: { path: string; size: number }[] };
      return json(200, { files: files.map((f) => ({ path: f.path, uploadMode: f.path.endsWith('.safetensors') ? 'lfs' : 'regular' })) });
    }
    if (req.method === 'POST' && (m = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path))) {
      const { objects, transfers } = JSON.parse(data.toString()) as { objects: { oid: string; size: number }[]; transfers: string[] };
      assert.ok(transfers.includes('basic'));
      return json(200, { transfer: 'basic', objects: objects.map((o) => ({ ...o, actions: { upload: { href: `${hubUrl}/lfs-upload/${o.oid}` } } })) });
    }
    if (req.method === 'PUT' && (m = /^\/lfs-upload\/([0-9a-f]{64})$/.exec(path))) {
      if (createHash('sha256').update(data).digest('hex') !== m[1]) return json(400, { error: 'sha256 mismatch' });
      lfs.set(m[1]!, data);
      res.writeHead(200).end();
      return;
    }
    if (req.method === 'POST' && (m = /^\/api\/models\/([^/]+\/[^/]+)\/commit\/main$/.exec(path))) {
      const lines = data.toString().split('\n').map((l) => JSON.parse(l) as { key: string; value: Record<string, unknown> });
      assert.equal(lines[0]!.key, 'header');
      const files = hub.files.get(m[1]!) ?? new Map<string, Buffer>();
      for (const { key, value } of lines.slice(1)) {
        if (key === 'file') files.set(value.path as string, Buffer.from(value.content as string, 'base64'));
        else if (key === 'lfsFile') {
          const bytes = lfs.get(value.oid as string);
          if (!bytes) return json(400, { error: `LFS object ${value.oid} was never uploaded` });
          files.set(value.path as string, bytes);
        } else return json(400, { error: `unexpected ${key}` });
      }
      hub.files.set(m[1]!, files);
      return json(200, { commitOid: 'abc123', commitUrl: `${hubUrl}/${m[1]}/commit/abc123` });
    }
    json(404, { error: `no route ${req.method} ${path}` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { ...hub, url: hubUrl, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function inkwell(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** An HF folder (the gpt-tiny fixture with a char tokenizer) and a run folder with a report card. */
function modelFolder(): { dir: string; runDir: string } {
  const dir = join(tmp, `model-${Math.random().toString(36).slice(2)}`), runDir = join(dir, 'run');
  mkdirSync(runDir, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(sharedDir, 'fixtures', 'gpt-tiny', f), join(dir, f));
  writeHuggingFaceTokenizer(dir, CharTokenizer.fromText('hello world'));
  writeFileSync(join(runDir, 'run.json'), JSON.stringify({
    title: 'inkwell train', command: ['inkwell', 'train', 'shakespeare_char_cpu'], status: 'finished', started: '2026-12-05T06:00:00Z',
    wall_s: 312.5, settings: { learning_rate: 0.001, max_iters: 2000 }, data: { dataset: 'data/shakespeare_char', train_tokens: 1003854 },
    parameters: 25664, tokens_seen: 16384000, tokens_per_s: 52430, mfu: 0.123, results: { 'best val loss': 1.4697, iterations: 2000 },
    evaluations: [{ title: 'suite: tiny', columns: ['task', 'accuracy'], rows: [['hellaswag', 0.31]], summary: 'mean 0.31' }], samples: ['ROMEO: hi'],
    machine: { cpu: 'Intel Xeon', threads: 2, backend: 'native', path: 'amx', node: 'v20' }, version: '0.1.0', commit: 'deadbeef',
  }));
  return { dir, runDir };
}

describe('inkwell push', () => {
  it('creates the repository and uploads every file (LFS for weights), with a model card quoting the run', async () => {
    const hub = await startHub();
    try {
      const { dir, runDir } = modelFolder();
      const r = await inkwell(['push', dir, '--repo=alice/tiny-gpt', `--run=${runDir}`], { HF_TOKEN: TOKEN, HF_ENDPOINT: hub.url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /created alice\/tiny-gpt: README\.md, config\.json, model\.safetensors, tokenizer\.json, tokenizer_config\.json/);
      const got = hub.files.get('alice/tiny-gpt')!;
      assert.deepEqual([...got.keys()].sort(), ['README.md', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
      for (const [path, bytes] of got) assert.ok(bytes.equals(readFileSync(join(dir, path))), `${path} arrived intact`);
      assert.ok(hub.log.some((l) => l.method === 'PUT' && l.path.startsWith('/lfs-upload/')), 'the weights went through LFS');
      assert.ok(hub.log.filter((l) => l.path.startsWith('/api/')).every((l) => l.auth === `Bearer ${TOKEN}`));
      const card = got.get('README.md')!.toString();
      assert.match(card, /^---\nlibrary_name: transformers\npipeline_tag: text-generation\ntags: \[inkwell, gpt2\]\n---/);
      assert.match(card, /\| best val loss \| 1\.4697 \|/);
      assert.match(card, /\| tokens seen \| 16,384,000 \|/);
      assert.match(card, /\| MFU \| 12\.3% \|/);
      assert.match(card, /\| hellaswag \| 0\.31 \|/);
      assert.match(card, /from_pretrained\("alice\/tiny-gpt"\)/);
      // A second push updates the same repository (409 from create is not an error) and keeps the card.
      writeFileSync(join(dir, 'config.json'), readFileSync(join(dir, 'config.json'), 'utf8').replace('"n_layer": 2', '"n_layer": 2 '));
      const again = await inkwell(['push', dir, '--repo=alice/tiny-gpt'], { HF_TOKEN: TOKEN, HF_ENDPOINT: hub.url });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^updated alice\/tiny-gpt/);
      assert.ok(hub.files.get('alice/tiny-gpt')!.get('config.json')!.equals(readFileSync(join(dir, 'config.json'))));
    } finally {
      await hub.close();
    }
  });

  it('refuses without a token, a bad repo id or a folder that is not a model; the hub\'s refusal is reported', async () => {
    const hub = await startHub();
    try {
      const { dir } = modelFolder();
      const env = { HF_ENDPOINT: hub.url, HF_TOKEN: '' };
      assert.match((await inkwell(['push', dir, '--repo=alice/x'], env)).stderr, /HF_TOKEN is not set/);
      assert.match((await inkwell(['push', dir, '--repo=alice'], { ...env, HF_TOKEN: TOKEN })).stderr, /repository 'alice' must be owner\/name/);
      assert.match((await inkwell(['push', tmp, '--repo=alice/x'], { ...env, HF_TOKEN: TOKEN })).stderr, /no config\.json; push uploads an HF model folder/);
      const denied = await inkwell(['push', dir, '--repo=alice/x'], { ...env, HF_TOKEN: 'hf_wrong' });
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /creating alice\/x on http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\)/);
      assert.match((await inkwell(['push', dir], env)).stderr, /--repo=owner\/name is required/);
    } finally {
      await hub.close();
    }
  });

  it('the model card without a run names the model and how to use it', () => {
    const { dir } = modelFolder();
    const card = modelCard(dir, 'bob/m');
    assert.match(card, /\| n_layer \| 2 \|/);
    assert.match(card, /\| vocab_size \| 65 \|/);
    assert.doesNotMatch(card, /## Training/);
  });
});
