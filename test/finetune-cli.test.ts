// `inkwell finetune classify|sft` and `inkwell classify` end to end on tiny data in a temp dir, and
// what they say about bad input.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Options, parseArgs } from '../src/cli/args.js';
import { FINETUNE_BOOLEAN_FLAGS, loopConfigFromOptions } from '../src/cli/finetune-options.js';
import { DEFAULTS as SFT_DEFAULTS } from '../src/cli/finetune-sft.js';
import { loadClassifier } from '../src/finetune/classifier.js';
import { GPT } from '../src/model/gpt.js';
import { Rng } from '../src/tensor/random.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'inkwell-finetune-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

function inkwell(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, INKWELL_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const path = (name: string) => join(root, name);
const tok = CharTokenizer.fromText('\n :ABQabcdefghijklmnopqrstuvwxyz');
const rng = new Rng(3);
const word = () => Array.from({ length: 3 + rng.int(3) }, () => 'abcdefgh'[rng.int(8)]).join('');

before(() => {
  const model = new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 24, vocab_size: tok.vocabSize, dropout: 0, bias: true }, { seed: 1 });
  saveCheckpoint(path('base.safetensors'), model, null, { iter_num: 0, best_val_loss: 0, tokenizer: tok.toJSON() });
  // Label: does the text contain the letter "a"?
  const rows = Array.from({ length: 80 }, () => {
    const w = word();
    return { text: w, label: w.includes('a') ? 'has_a' : 'no_a' };
  });
  writeFileSync(path('cls.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(path('cls.csv'), 'text,label\n' + rows.map((r) => `${r.text},${r.label}`).join('\n') + '\n');
  writeFileSync(path('sft.jsonl'), Array.from({ length: 60 }, () => {
    const w = word();
    return JSON.stringify({ prompt: w, completion: w.slice(0, 1) });
  }).join('\n') + '\n');
});

describe('inkwell finetune', () => {
  it('classify: trains, reports held-out metrics, saves a classifier that `inkwell classify` uses', () => {
    const r = inkwell('finetune', 'classify', '--checkpoint=base.safetensors', '--data=cls.csv', '--max_iters=20', '--eval_interval=10', '--batch_size=8', '--out_dir=clf');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /72 training and 8 held-out examples, 2 labels: has_a, no_a/);
    assert.match(r.stdout, /trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: 100\.0000/);
    assert.match(r.stdout, /confusion matrix/);
    // The report card (issue 20: every finetune run ends with one): the held-out result, curves and samples.
    assert.match(r.stdout, /report: clf\/report\.md/);
    assert.match(readFileSync(path('clf/report.md'), 'utf8'), /^# inkwell finetune classify → clf[\s\S]*\| best held-out score \| [\d.]+ \|[\s\S]*## Curves[\s\S]*## Samples/);
    assert.ok(existsSync(path('clf/report.html')));
    const { classifier } = loadClassifier(path('clf/ckpt.safetensors'));
    assert.deepEqual(classifier.labels, ['has_a', 'no_a']);

    const one = inkwell('classify', '--checkpoint=clf/ckpt.safetensors', 'abc', 'dfg');
    assert.equal(one.code, 0, one.stderr);
    const lines = one.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^(has_a|no_a)\t(has_a|no_a) \d\.\d{3}, (has_a|no_a) \d\.\d{3}\tabc$/);
    const file = inkwell('classify', '--checkpoint=clf/ckpt.safetensors', '--file=cls.jsonl');
    assert.equal(file.code, 0, file.stderr);
    assert.match(file.stdout, /accuracy [\d.]+% on 80 held-out examples/);
  });

  it('classify with LoRA trains the LoRA matrices and the new head only', () => {
    const r = inkwell('finetune', 'classify', '--checkpoint=base.safetensors', '--data=cls.jsonl', '--max_iters=4', '--eval_interval=2', '--lora', '--lora_r=2', '--out_dir=clf-lora');
    assert.equal(r.code, 0, r.stderr);
    // LoRA r=2 on c_attn [16 → 48]: 2·(16 + 48) = 128, plus the head 2·16 = 32.
    assert.match(r.stdout, /trainable params: 160 \|\|/);
    assert.ok(existsSync(path('clf-lora/peft/adapter_config.json')));
    assert.equal(loadClassifier(path('clf-lora/ckpt.safetensors')).classifier.labels.length, 2, 'merged checkpoint loads as a plain classifier');
  });

  it('sft: trains with the qa template and saves a checkpoint `inkwell sample` loads, template recorded', () => {
    const r = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=sft.jsonl', '--max_iters=10', '--eval_interval=5', '--packing', '--eval_samples=4', '--max_new_tokens=4', '--out_dir=sft');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /54 training and 6 held-out examples, template 'qa', packed into \d+ rows of up to 25 tokens/);
    assert.match(r.stdout, /held-out exact match: [\d.]+% of 4/);
    // The report card: the loop's curves, the held-out result and samples.
    assert.match(r.stdout, /report: sft\/report\.md/);
    const log = readFileSync(path('sft/log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
    assert.ok(log.some((row) => row.kind === 'train') && log.some((row) => row.kind === 'eval'));
    const card = readFileSync(path('sft/report.md'), 'utf8');
    assert.match(card, /^# inkwell finetune sft → sft/);
    assert.match(card, /\| held-out exact match \(4, greedy\) \| [\d.]+ \|/);
    assert.match(card, /## Curves[\s\S]*## Samples/);
    const { state } = loadCheckpoint(path('sft/ckpt.safetensors'));
    assert.equal((state as unknown as { finetune: { template: string } }).finetune.template, 'qa');
    // sample wraps the prompt in the recorded template; --template=none continues the text as given
    const s = inkwell('sample', '--checkpoint=sft/ckpt.safetensors', 'abc', '--num_samples=1', '--max_new_tokens=3', '--temperature=0');
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /using the 'qa' template the checkpoint was fine-tuned with/);
    const raw = inkwell('sample', '--checkpoint=sft/ckpt.safetensors', 'Q: abc\nA: ', '--template=none', '--num_samples=1', '--max_new_tokens=3', '--temperature=0');
    assert.equal(raw.code, 0, raw.stderr);
    assert.ok(s.stdout.startsWith('Q: abc\nA: ') && raw.stdout.startsWith('Q: abc\nA: '), `${JSON.stringify(s.stdout)} ${JSON.stringify(raw.stdout)}`);
    assert.equal(s.stdout.slice(0, s.stdout.indexOf('\n---')).length <= raw.stdout.slice(0, raw.stdout.indexOf('\n---')).length, true, 'the template run may stop at the end of turn');
    assert.match(inkwell('sample', '--checkpoint=sft/ckpt.safetensors', '--num_samples=1').stderr, /the 'qa' template needs a prompt/);
  });

  it('--dtype=bfloat16 fine-tunes in mixed precision: its losses move off float32\'s, a little', () => {
    const args = ['finetune', 'classify', '--checkpoint=base.safetensors', '--data=cls.jsonl', '--max_iters=10', '--eval_interval=10', '--batch_size=8'];
    const full = inkwell(...args, '--out_dir=clf-f32'), mixed = inkwell(...args, '--out_dir=clf-bf16', '--dtype=bfloat16');
    assert.equal(mixed.code, 0, mixed.stderr);
    assert.match(mixed.stdout, /matmul products in bfloat16/);
    const losses = (out: string) => [...out.matchAll(/^iter \d+: loss ([\d.]+)/gm)].map((m) => Number(m[1]));
    const [f32, bf16] = [losses(full.stdout), losses(mixed.stdout)];
    assert.ok(f32.length > 0 && f32.length === bf16.length, `${f32} / ${bf16}`);
    assert.notDeepEqual(bf16, f32);
    f32.forEach((loss, i) => assert.ok(Math.abs(loss - bf16[i]!) < 0.05, `iter ${i}: ${loss} vs ${bf16[i]}`));
  });

  it('sft with adapters: the adapter folder samples as --checkpoint, on the base it records', () => {
    const r = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=sft.jsonl', '--max_iters=6', '--eval_interval=3', '--eval_samples=0', '--adapters', '--adapter_size=4', '--out_dir=sft-adapters');
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(readFileSync(path('sft-adapters/peft/adapter_config.json'), 'utf8')) as { base_model_name_or_path: string };
    assert.equal(config.base_model_name_or_path, path('base.safetensors'), 'the base is recorded by absolute path');
    const args = ['abc', '--template=qa', '--num_samples=1', '--max_new_tokens=4', '--temperature=0'];
    const adapted = inkwell('sample', '--checkpoint=sft-adapters/peft', ...args);
    assert.equal(adapted.code, 0, adapted.stderr);
    assert.match(adapted.stderr, /adapter loaded onto .*base\.safetensors/);
    assert.ok(adapted.stdout.startsWith('Q: abc\nA: '));
    const missingBase = JSON.stringify({ ...config, base_model_name_or_path: path('nowhere.safetensors') });
    mkdirSync(path('orphan'), { recursive: true });
    writeFileSync(path('orphan/adapter_config.json'), missingBase);
    const orphan = inkwell('sample', '--checkpoint=orphan', ...args);
    assert.equal(orphan.code, 1);
    assert.match(orphan.stderr, /orphan\/adapter_config\.json: the base model .*nowhere\.safetensors is not found/);
  });
});

describe('inkwell finetune sft --lora defaults', () => {
  it('--lora brings its own steps, batch and learning rate; explicit flags still win; --help says so', () => {
    const config = (...argv: string[]) => {
      const c = loopConfigFromOptions(new Options(parseArgs(argv, new Set(FINETUNE_BOOLEAN_FLAGS))), SFT_DEFAULTS);
      return [c.max_iters, c.batch_size, c.learning_rate, c.min_lr, c.warmup_iters];
    };
    assert.deepEqual(config(), [500, 16, 1e-3, 1e-4, 50]);
    assert.deepEqual(config('--lora'), [2000, 32, 5e-3, 5e-3 / 10, 200]);
    assert.deepEqual(config('--lora', '--learning_rate=3e-3', '--max_iters=10', '--batch_size=4'), [10, 4, 3e-3, 3e-3 / 10, 1]);
    const help = inkwell('finetune', 'sft', '--help').stdout;
    assert.match(help, /--max_iters=500 +optimizer steps \(with --lora: 2000\)/);
    assert.match(help, /--learning_rate=0\.001 +.*\(with --lora: 0\.005\)/);
    assert.doesNotMatch(inkwell('finetune', 'classify', '--help').stdout, /with --lora/);
    assert.match(help, /--lora_targets=c_attn,c_fc /);
    // LoRA on c_attn and c_fc by default (1 layer, 16 wide, r 8: 8·16 + 48·8 + 8·16 + 64·8 = 1,152), c_attn alone when asked.
    const run = (...extra: string[]) => inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=sft.jsonl', '--max_iters=1', '--eval_interval=1', '--eval_samples=0', '--lora', ...extra, '--out_dir=sft-lora');
    assert.match(run().stdout, /trainable params: 1,152 \|\|/);
    assert.match(run('--lora_targets=c_attn').stdout, /trainable params: 512 \|\|/);
  });
});

describe('inkwell finetune: bad input', () => {
  it('names the line of malformed JSONL and stops, or skips it with --skip_bad_lines', () => {
    writeFileSync(path('bad.jsonl'), '{"prompt":"ab","completion":"a"}\n{"prompt": "x", \n' + '{"prompt":"cd","completion":"c"}\n'.repeat(4));
    const r = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=bad.jsonl', '--max_iters=1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^inkwell: bad\.jsonl:2: invalid JSON .*--skip_bad_lines/m);
    const skip = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=bad.jsonl', '--max_iters=1', '--eval_samples=0', '--skip_bad_lines', '--out_dir=skip');
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stdout, /bad\.jsonl: skipped 1 line:\n {2}line 2: invalid JSON/);
  });

  it('stops on a held-out label never seen in training, naming file, line and label', () => {
    writeFileSync(path('val-unknown.jsonl'), '{"text":"abc","label":"has_a"}\n{"text":"bcd","label":"maybe"}\n');
    const r = inkwell('finetune', 'classify', '--checkpoint=base.safetensors', '--data=cls.jsonl', '--val=val-unknown.jsonl', '--max_iters=1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /val-unknown\.jsonl:2: label "maybe" never occurs in the training data \(labels: has_a, no_a\)/);
  });

  it('counts and reports examples truncated to the context', () => {
    writeFileSync(path('long.jsonl'), `{"text":"${'ab'.repeat(20)}","label":"has_a"}\n` + '{"text":"bcd","label":"no_a"}\n{"text":"abd","label":"has_a"}\n'.repeat(3));
    const r = inkwell('finetune', 'classify', '--checkpoint=base.safetensors', '--data=long.jsonl', '--val=long.jsonl', '--max_iters=1', '--out_dir=long');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /truncated to the last 24 tokens: 1 training and 1 held-out examples/);
  });

  it('LoRA on a module the model lacks and a freeze glob matching nothing are usage errors naming the flag', () => {
    const lora = inkwell('finetune', 'classify', '--checkpoint=base.safetensors', '--data=cls.jsonl', '--max_iters=1', '--lora', '--lora_targets=q_proj', '--out_dir=bad-lora');
    assert.equal(lora.code, 2);
    assert.match(lora.stderr, /^inkwell: usage: --lora_targets: LoRA target 'q_proj' matches no module \(modules: c_attn, c_proj, c_fc;/m);
    const freeze = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=sft.jsonl', '--max_iters=1', '--freeze=pattern:*.q_proj.*', '--out_dir=bad-freeze');
    assert.equal(freeze.code, 2);
    assert.match(freeze.stderr, /--freeze: freeze pattern '\*\.q_proj\.\*' matches no parameter/);
    assert.ok(!existsSync(path('bad-lora')) && !existsSync(path('bad-freeze')), 'nothing written');
  });

  it('an SFT example the tokenizer cannot encode names its file and line', () => {
    writeFileSync(path('unencodable.jsonl'), '{"prompt":"ab","completion":"a"}\n{"prompt":"ab","completion":"Z!"}\n');
    const r = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=unencodable.jsonl', '--val=unencodable.jsonl', '--max_iters=1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^inkwell: unencodable\.jsonl:2: cannot render the example with the 'qa' template: .*"Z"/m);
    assert.doesNotMatch(r.stderr, /try --template=qa/, 'no advice to use the template already in use');
  });

  it('a diverging run (NaN loss) stops with a message naming the best model kept', () => {
    const r = inkwell('finetune', 'sft', '--checkpoint=base.safetensors', '--data=sft.jsonl', '--max_iters=20', '--eval_interval=1', '--learning_rate=1e30', '--grad_clip=0', '--eval_samples=0', '--out_dir=diverged');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^inkwell: fine-tuning diverged: (loss|gradient norm) is (NaN|-?Infinity) at step \d+ \(try a lower learning_rate\); stopped, and the best model so far \(step 0\) is kept in diverged\/ckpt\.safetensors$/m);
    const { model, state } = loadCheckpoint(path('diverged/ckpt.safetensors'));
    assert.equal(state.iter_num, 0);
    assert.ok(model.parameters().every((p) => p.data.every(Number.isFinite)));
  });

  it('a run killed with SIGTERM mid-training leaves its best checkpoint whole', async () => {
    const child = spawn(process.execPath, [MAIN, 'finetune', 'sft', '--checkpoint=base.safetensors', '--data=sft.jsonl', '--max_iters=1000000', '--eval_interval=5', '--eval_samples=0', '--out_dir=killed'], { cwd: root });
    let stdout = '';
    const savedStep = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.setEncoding('utf8').on('data', (t: string) => {
        stdout += t;
        // Kill after an improvement past step 0, while the run goes on.
        const steps = [...stdout.matchAll(/^step (\d+): .*\(best so far: saved\)$/gm)].map((m) => Number(m[1]));
        if (steps.some((n) => n > 0) && /^iter \d+/m.test(stdout.slice(stdout.lastIndexOf('saved)')))) {
          child.kill('SIGTERM');
          resolve(Math.max(...steps));
        }
      });
    });
    await new Promise((resolve) => child.on('close', resolve));
    const { model, state } = loadCheckpoint(path('killed/ckpt.safetensors'));
    assert.ok(state!.iter_num >= savedStep, `checkpoint of step ${state!.iter_num}, last saved step ${savedStep}`);
    assert.ok(model.parameters().every((p) => p.data.every(Number.isFinite)));
    assert.deepEqual(readdirSync(path('killed')).filter((f) => f.endsWith('.safetensors')), ['ckpt.safetensors']);
  });

  it('usage errors exit 2', () => {
    assert.equal(inkwell('finetune', 'reward-ish').code, 2);
    // --help after a task shows that task's options only
    const help = inkwell('finetune', 'sft', '--help');
    assert.ok(help.stdout.startsWith('usage: inkwell finetune sft') && !help.stdout.includes('inkwell finetune classify'), help.stdout.slice(0, 80));
    assert.match(inkwell('finetune', '--help').stdout, /^usage: inkwell finetune <task>/);
    assert.match(inkwell('finetune', 'sft', '--checkpoint=base.safetensors').stderr, /give the training data: --data=FILE\.jsonl/);
    assert.match(inkwell('finetune', 'sft', '--data=sft.jsonl', '--checkpoint=base.safetensors', '--template=alpaca').stderr, /--template: unknown template 'alpaca'/);
    assert.equal(inkwell('classify', '--checkpoint=base.safetensors', 'abc').code, 1, 'a plain checkpoint is not a classifier');
    // Bad training settings stop before any data or model is loaded.
    const iters = inkwell('finetune', 'classify', '--checkpoint=missing.safetensors', '--data=cls.jsonl', '--max_iters=0');
    assert.equal(iters.code, 2);
    assert.match(iters.stderr, /--max_iters must be an integer ≥ 1, got 0/);
    const dtype = inkwell('finetune', 'classify', '--checkpoint=missing.safetensors', '--data=cls.jsonl', '--dtype=float16');
    assert.equal(dtype.code, 2);
    assert.match(dtype.stderr, /--dtype must be float32 or bfloat16, got "float16" \(float16 needs a GPU's loss scaling; on CPU use bfloat16\)/);
    const tokens = inkwell('finetune', 'sft', '--checkpoint=missing.safetensors', '--data=sft.jsonl', '--max_new_tokens=0');
    assert.equal(tokens.code, 2);
    assert.match(tokens.stderr, /--max_new_tokens must be an integer ≥ 1, got 0/);
  });

  it('a CSV without the needed columns is refused once, naming the columns it has', () => {
    writeFileSync(path('no-text.csv'), 'sentence,label\nabc,has_a\n');
    const r = inkwell('finetune', 'classify', '--checkpoint=base.safetensors', '--data=no-text.csv', '--max_iters=1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^inkwell: no-text\.csv:1: the header has no 'text' column \(columns: sentence, label\)$/m);
  });
});
