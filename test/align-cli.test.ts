// `inkwell finetune reward`, `inkwell reward` and `inkwell rlhf ppo|dpo` as a user runs them, on a tiny
// character-level checkpoint: outputs, files written, and the one-line errors for bad input and
// divergent runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { GPT } from '../src/model/gpt.js';
import { CharTokenizer } from '../src/tokenizers/index.js';
import { loadModel, saveCheckpoint } from '../src/train/checkpoint.js';
import { loadRewardModel } from '../src/align/reward-model.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'inkwell-align-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

function inkwell(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: root });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const write = (name: string, text: string) => {
  writeFileSync(join(root, name), text);
  return join(root, name);
};

const prompts = ['a?', 'b?', 'ab?', 'ba?', 'aa?', 'bb?'];
const pairLines = prompts.flatMap((prompt) => [
  JSON.stringify({ prompt, chosen: 'xxa', rejected: 'yyb' }),
  JSON.stringify({ prompt, responses: ['yx', 'xx', 'yy'], ranking: [1, 0, 2] }),
]).join('\n');

before(() => {
  const tokenizer = new CharTokenizer([...'abxy: ?\n']);
  const model = new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 16, vocab_size: tokenizer.vocabSize, dropout: 0, bias: true }, { seed: 1 });
  saveCheckpoint(join(root, 'sft.safetensors'), model, null, { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON() });
  write('prefs.jsonl', `${pairLines}\n`);
  write('prompts.txt', `${prompts.join('\n')}\n`);
  write('no-y.json', JSON.stringify({ rules: [{ forbid: 'y', per_match: true }] }));
});

describe('inkwell finetune reward and inkwell reward', () => {
  test('trains a reward model, reports held-out accuracy and margin; reward scores answers with it', async () => {
    const run = await inkwell(['finetune', 'reward', '--checkpoint=sft.safetensors', '--data=prefs.jsonl', '--val_fraction=0.34', '--epochs=2', '--out_dir=rm']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /epoch 2 held-out: pairwise accuracy \d+\.\d% on \d+ pairs, mean margin -?\d+\.\d{3}/);
    assert.ok(existsSync(join(root, 'rm', 'ckpt.safetensors')));
    assert.match(readFileSync(join(root, 'rm', 'report.md'), 'utf8'), /^# inkwell finetune reward → rm[\s\S]*\| held-out pairwise accuracy \| [\d.]+ \|[\s\S]*## Samples\n\n```text\n".*": chosen ".*" -?[\d.]+, rejected/);
    const one = await inkwell(['reward', '--model=rm/ckpt.safetensors', 'a?', 'xxa']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^-?\d+\.\d{4}\n$/);
    // The output folder works as well as the file, as --checkpoint=DIR does elsewhere.
    assert.equal((await inkwell(['reward', '--model=rm', 'a?', 'xxa'])).stdout, one.stdout);
    const noModel = await inkwell(['reward', '--model=.', 'a?', 'xxa']);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /^inkwell: \.: a folder without a reward model \(looked for ckpt\.safetensors, reward\.safetensors/m);
    const pairs = await inkwell(['reward', '--model=no-y.json', '--data=prefs.jsonl']);
    assert.equal(pairs.stdout, '24 pairs: pairwise accuracy 100.0%, mean margin 1.5000\n');
    const notModel = await inkwell(['reward', '--model=prefs.jsonl', 'a?', 'xxa']);
    assert.equal(notModel.code, 1);
    assert.match(notModel.stderr, /prefs\.jsonl: not a reward source: give a reward model \(the folder or \.safetensors file from `inkwell finetune reward`\) or rules/);
    assert.match((await inkwell(['reward', '--model=no-y.json', '--data=missing.jsonl'])).stderr, /^inkwell: missing\.jsonl: cannot read the data file \(ENOENT\)$/m);
    write('blank.jsonl', '\n  \n');
    const blank = await inkwell(['reward', '--model=no-y.json', '--data=blank.jsonl']);
    assert.equal(blank.code, 1);
    assert.match(blank.stderr, /^inkwell: blank\.jsonl: the file is empty/m);
  });

  test('bad comparison rows and over-long prompts stop with the file and line named', async () => {
    write('same.jsonl', `${JSON.stringify({ prompt: 'a?', chosen: 'x', rejected: 'y' })}\n${JSON.stringify({ prompt: 'a?', chosen: 'x', rejected: 'x' })}\n`);
    const same = await inkwell(['finetune', 'reward', '--checkpoint=sft.safetensors', '--data=same.jsonl']);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /^inkwell: .*same\.jsonl:2: chosen and rejected are the same text/m);
    write('empty.jsonl', `${JSON.stringify({ prompt: 'a?', chosen: '', rejected: 'y' })}\n`);
    assert.match((await inkwell(['rlhf', 'dpo', '--checkpoint=sft.safetensors', '--data=empty.jsonl'])).stderr, /empty\.jsonl:1: field 'chosen' is an empty answer/);
    write('long.jsonl', `${JSON.stringify({ prompt: 'a'.repeat(15), chosen: 'xx', rejected: 'yy' })}\n`);
    const long = await inkwell(['rlhf', 'dpo', '--checkpoint=sft.safetensors', '--data=long.jsonl', '--val_fraction=0']);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /long\.jsonl:1: chosen: prompt \+ answer is 17 tokens \(prompt 15\) but the model's context \(block_size\) is 16.*--skip_bad_lines/);
  });

  test('--skip_bad_lines lists bad rows and pairs longer than the context, and trains on the rest', async () => {
    write('mixed.jsonl', [
      pairLines,
      JSON.stringify({ prompt: 'a?', chosen: 'x', rejected: 'x' }),
      '{"prompt": "b?", "chosen":',
      JSON.stringify({ prompt: 'a'.repeat(15), chosen: 'xx', rejected: 'yy' }),
    ].join('\n') + '\n');
    const stop = await inkwell(['finetune', 'reward', '--checkpoint=sft.safetensors', '--data=mixed.jsonl']);
    assert.equal(stop.code, 1);
    assert.match(stop.stderr, /^inkwell: mixed\.jsonl:13: chosen and rejected are the same text; the pair carries no preference \(skip bad lines with --skip_bad_lines\)$/m);
    for (const command of [['finetune', 'reward', '--out_dir=rm-skip'], ['rlhf', 'dpo', '--out_dir=dpo-skip']]) {
      const run = await inkwell([...command, '--checkpoint=sft.safetensors', '--data=mixed.jsonl', '--val_fraction=0', '--epochs=1', '--skip_bad_lines']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /mixed\.jsonl: skipped 2 lines:\n {2}line 13: chosen and rejected are the same text.*\n {2}line 14: invalid JSON/);
      assert.match(run.stdout, /mixed\.jsonl: left out \(longer than the context\) 1 line:\n {2}line 15: chosen: prompt \+ answer is 17 tokens/);
      assert.match(run.stdout, /\b24 training pairs/);
    }
  });
});

describe('inkwell rlhf', () => {
  test('ppo logs reward, KL, entropy, clip fraction and value loss; writes the policy, log and chart', async () => {
    const run = await inkwell(['rlhf', 'ppo', '--checkpoint=sft.safetensors', '--reward=no-y.json', '--prompts=prompts.txt', '--steps=2', '--batch_size=4', '--minibatch_size=2', '--max_new_tokens=4', '--eval_interval=1', '--out_dir=ppo']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /step 2: reward -?\d+\.\d{4}, kl -?\d+\.\d{4} \(k3 \d+\.\d{4}\), entropy \d+\.\d{3}, clipfrac \d\.\d{3}, value loss \d+\.\d{4}/);
    assert.match(run.stdout, /held-out at step 2: mean reward/);
    for (const file of ['ckpt.safetensors', 'log.jsonl', 'ppo.svg', 'report.md', 'report.html']) assert.ok(existsSync(join(root, 'ppo', file)), file);
    assert.match(readFileSync(join(root, 'ppo', 'report.md'), 'utf8'), /^# inkwell rlhf ppo → ppo[\s\S]*\| held-out reward after \| -?[\d.]+ \|[\s\S]*## Curves[\s\S]*## Samples/);
    assert.match(readFileSync(join(root, 'ppo', 'ppo.svg'), 'utf8'), /KL to reference/);
    // The card's curves include the reward and the KL to the reference (issue 20, item 6).
    const card = readFileSync(join(root, 'ppo', 'report.md'), 'utf8');
    for (const group of ['reward', 'kl']) {
      const chart = new RegExp(`!\\[(report-\\d+-${group}\\.svg)\\]\\(\\1\\)`).exec(card)?.[1];
      assert.ok(chart && existsSync(join(root, 'ppo', chart)), `${group} chart`);
    }
  });

  test('ppo stops on a NaN reward from a user rule, on a prompt too long for the context, and on a runaway KL', async () => {
    write('nan.mjs', 'export default () => NaN;\n');
    const nan = await inkwell(['rlhf', 'ppo', '--checkpoint=sft.safetensors', '--reward=nan.mjs', '--prompts=prompts.txt', '--steps=1', '--batch_size=2', '--max_new_tokens=4', '--out_dir=nan']);
    assert.equal(nan.code, 1);
    assert.match(nan.stderr, /^inkwell: rules nan\.mjs: reward for answer 1 is NaN, not a finite number/m);
    write('long.txt', 'a'.repeat(14));
    const long = await inkwell(['rlhf', 'ppo', '--checkpoint=sft.safetensors', '--reward=no-y.json', '--prompts=long.txt', '--max_new_tokens=4']);
    assert.match(long.stderr, /^inkwell: long\.txt: prompt 1 is 14 tokens; with max_new_tokens 4 that exceeds the model's context \(block_size\) of 16/m);
    const longVal = await inkwell(['rlhf', 'ppo', '--checkpoint=sft.safetensors', '--reward=no-y.json', '--prompts=prompts.txt', '--val_prompts=long.txt', '--max_new_tokens=4']);
    assert.equal(longVal.code, 1);
    assert.match(longVal.stderr, /^inkwell: long\.txt: prompt 1 is 14 tokens/m);
    const runaway = await inkwell(['rlhf', 'ppo', '--checkpoint=sft.safetensors', '--reward=no-y.json', '--prompts=prompts.txt', '--steps=3', '--batch_size=4', '--minibatch_size=2', '--max_new_tokens=4', '--learning_rate=0.05', '--max_kl=1e-9', '--out_dir=runaway']);
    assert.equal(runaway.code, 1);
    // Step 2's rollout shows step 1's update ran away: the policy kept is the one before it.
    assert.match(runaway.stderr, /ppo step 2: the KL to the reference is .* stopped, and the last good policy \(the starting model, step 0\) is kept in runaway\/ckpt\.safetensors/);
    assert.equal(loadModel(join(root, 'runaway', 'ckpt.safetensors')).state?.iter_num, 0);
  });

  test('ppo stops with an error and exit 1 when the reward code hangs, exits or backtracks for ever', async () => {
    // Fine for the first two calls (held-out evaluation, step 1), then never settles: before the
    // worker, the event loop emptied and the run ended after step 1 with exit code 0.
    write('hang.mjs', 'let calls = 0;\nexport default async () => (++calls > 10 ? new Promise(() => {}) : 0);\n');
    const common = ['rlhf', 'ppo', '--checkpoint=sft.safetensors', '--prompts=prompts.txt', '--steps=3', '--batch_size=4', '--minibatch_size=2', '--max_new_tokens=4', '--eval_interval=5', '--reward_timeout=0.5'];
    const hang = await inkwell([...common, '--reward=hang.mjs', '--out_dir=hang']);
    assert.equal(hang.code, 1, hang.stdout);
    assert.match(hang.stdout, /step 1: reward/);
    assert.match(hang.stderr, /^inkwell: rules hang\.mjs: call 3 \(4 answers\) did not finish within 0\.5 s, on answer 1 \(".*"\); its worker was stopped \(raise the limit with --reward_timeout=SECONDS\)$/m);
    write('exit.mjs', 'export default () => process.exit(0);\n');
    const exit = await inkwell([...common, '--reward=exit.mjs', '--out_dir=exit']);
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /^inkwell: rules exit\.mjs: the reward code ended its worker \(exit code 0, e\.g\. process\.exit\(\)\) during call 1 \(\d+ answers?\)/m);
    write('redos.json', JSON.stringify({ rules: [{ require: '(a+)+$' }] }));
    const redos = await inkwell(['reward', '--model=redos.json', '--reward_timeout=0.5', 'p', `${'a'.repeat(40)}!`]);
    assert.equal(redos.code, 1);
    assert.match(redos.stderr, /^inkwell: rules redos\.json: call 1 \(1 answer\) did not finish within 0\.5 s/m);
    const bad = await inkwell(['reward', '--model=redos.json', '--reward_timeout=0', 'p', 'a']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--reward_timeout must be a number of seconds > 0, got 0/);
  });

  test('ppo and dpo use the template the SFT checkpoint recorded and record it in the aligned checkpoint', async () => {
    const tokenizer = new CharTokenizer([...'abxyQA: ?\n']);
    const model = new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 16, vocab_size: tokenizer.vocabSize, dropout: 0, bias: true }, { seed: 1 });
    const sftState = { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON(), finetune: { task: 'sft', template: 'qa' } };
    saveCheckpoint(join(root, 'sft-qa.safetensors'), model, null, sftState);
    const template = (dir: string) => (loadModel(join(root, dir, 'ckpt.safetensors')).state as unknown as { finetune: { task: string; template?: string } }).finetune;
    const ppo = await inkwell(['rlhf', 'ppo', '--checkpoint=sft-qa.safetensors', '--reward=no-y.json', '--prompts=prompts.txt', '--steps=1', '--batch_size=2', '--minibatch_size=2', '--max_new_tokens=4', '--out_dir=ppo-qa']);
    assert.equal(ppo.code, 0, ppo.stderr);
    assert.match(ppo.stderr, /using the 'qa' template the checkpoint was fine-tuned with/);
    assert.deepEqual(template('ppo-qa'), { task: 'ppo', template: 'qa', base: 'sft-qa.safetensors' });
    const dpo = await inkwell(['rlhf', 'dpo', '--checkpoint=sft-qa.safetensors', '--data=prefs.jsonl', '--val_fraction=0', '--out_dir=dpo-qa']);
    assert.equal(dpo.code, 0, dpo.stderr);
    assert.equal(template('dpo-qa').template, 'qa');
    const raw = await inkwell(['rlhf', 'dpo', '--checkpoint=sft-qa.safetensors', '--data=prefs.jsonl', '--val_fraction=0', '--template=none', '--out_dir=dpo-raw']);
    assert.equal(raw.code, 0, raw.stderr);
    assert.doesNotMatch(raw.stderr, /template/);
    assert.equal(template('dpo-raw').template, undefined);
    // The reward model trains in the same layout, records it, and `reward` scores with it.
    const rm = await inkwell(['finetune', 'reward', '--checkpoint=sft-qa.safetensors', '--data=prefs.jsonl', '--val_fraction=0', '--epochs=1', '--out_dir=rm-qa']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stderr, /using the 'qa' template the checkpoint was fine-tuned with/);
    const { layout } = loadRewardModel(join(root, 'rm-qa', 'ckpt.safetensors'));
    assert.equal(layout.template, 'qa');
    assert.deepEqual(layout.end, [...'\n\n'].map((c) => tokenizer.encode(c)[0]));
    assert.equal((await inkwell(['reward', '--model=rm-qa', 'a?', 'xx'])).code, 0);
  });

  test('dpo reports held-out loss and implicit-reward accuracy before and after, and writes the policy', async () => {
    const run = await inkwell(['rlhf', 'dpo', '--checkpoint=sft.safetensors', '--data=prefs.jsonl', '--val_fraction=0.34', '--epochs=2', '--learning_rate=1e-3', '--beta=0.5', '--out_dir=dpo']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /before held-out \(\d+ pairs\): loss 0\.6931/);
    assert.match(run.stdout, /after held-out \(\d+ pairs\): loss \d\.\d{4}, implicit-reward accuracy/);
    assert.ok(existsSync(join(root, 'dpo', 'ckpt.safetensors')));
    assert.match(readFileSync(join(root, 'dpo', 'report.md'), 'utf8'), /^# inkwell rlhf dpo → dpo[\s\S]*\| held-out implicit-reward accuracy \| [\d.]+ \|[\s\S]*## Curves[\s\S]*## Samples/);
  });
});
