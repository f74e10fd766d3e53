// Issue 15's hardening, each failure mode a user or an attacker hit: damaged files fail with their name
// before any work, divergence never costs the best model, interrupted writes and runs leave nothing
// behind, and the rough edges of a first session (version, usage, offline hub, Ctrl-C, output folders).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset } from '../src/data/dataset.js';
import { validateSamplingOptions, MAX_NO_REPEAT_NGRAM } from '../src/generate/sampling.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { loadModelAndTokenizer } from '../src/model/load.js';
import { fetchPretrained } from '../src/model/pretrained.js';
import { createOpenAIServer } from '../src/serve/openai-server.js';
import { createWebHandler } from '../src/serve/web/handler.js';
import { serveWeb } from '../src/serve/web-server.js';
import { CharTokenizer } from '../src/tokenizers/index.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { applySettings, defaultTrainConfig, type TrainConfig } from '../src/train/config.js';
import { hasDiverged, train, TrainingDiverged } from '../src/train/trainer.js';
import { chooseTemplate } from '../src/cli/template-option.js';
import { getTemplate } from '../src/finetune/template.js';
import { Rng } from '../src/tensor/random.js';
import { runInkwell } from './helpers.js';
import { asciiTokenizer, tinyModel } from './tiny-model.js';

const root = mkdtempSync(join(tmpdir(), 'inkwell-hardening-'));
after(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const folder = (name: string) => {
  const dir = join(root, `${name}-${folders++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** A noisy repeating pattern over 8 symbols (learnable well below ln 8), as a prepared dataset folder. */
function makeDataset(vocab = 8, maxId = 7): string {
  const dir = folder('data');
  const rng = new Rng(9);
  const seq = (n: number) => Uint16Array.from({ length: n }, (_, i) => (rng.uniform() < 0.05 ? rng.int(8) : (i * 3) % 8));
  const train = seq(6000);
  train[4321] = maxId;
  writeFileSync(join(dir, 'train.bin'), train);
  writeFileSync(join(dir, 'val.bin'), seq(1000));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ vocab_size: vocab, dtype: 'uint16', tokenizer: new CharTokenizer([...'abcdefgh']).toJSON() }));
  return dir;
}

function config(dataset: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return applySettings(defaultTrainConfig, {
    dataset, out_dir: folder('out'), n_layer: 2, n_head: 2, n_embd: 32, block_size: 16,
    batch_size: 8, eval_interval: 20, eval_iters: 5, log_interval: 1, learning_rate: 3e-3, min_lr: 3e-4, warmup_iters: 5,
    lr_decay_iters: 60, max_iters: 60, dropout: 0, progress: false, ...overrides,
  }, 'test');
}

describe('damaged files fail with their name', () => {
  it('a token file with ids outside the vocabulary, when the dataset is opened', () => {
    const dir = makeDataset(8, 65535);
    assert.throws(() => new Dataset(dir), new RegExp(`${join(dir, 'train.bin')}: token 4321 is id 65535, outside the vocabulary of 8`));
  });

  it('eval --data on a dataset with more token ids than the model has rows, naming its meta.json', async () => {
    const model = tinyModel();
    const dir = makeDataset(model.vocabSize + 100, model.vocabSize + 99);
    const checkpoint = join(folder('ckpt'), 'ckpt.safetensors');
    saveCheckpoint(checkpoint, model, null, { iter_num: 1, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
    const run = await runInkwell(['eval', `--checkpoint=${checkpoint}`, `--data=${dir}`]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, new RegExp(`the model's vocabulary \\(${model.vocabSize}\\) is smaller than the dataset's \\(${model.vocabSize + 100} in ${join(dir, 'meta.json')}\\)`));
  });

  it('text the tokenizer cannot encode names its file (eval --file) or its item (eval --task)', async () => {
    const dir = folder('unencodable');
    const checkpoint = join(dir, 'ckpt.safetensors');
    saveCheckpoint(checkpoint, tinyModel(), null, { iter_num: 1, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
    const text = join(dir, 'text.txt'), task = join(dir, 'task.jsonl');
    writeFileSync(text, 'plain ASCII, then a euro sign: €');
    writeFileSync(task, `${JSON.stringify({ context: 'a', choices: ['b', 'c'], label: 0 })}\n${JSON.stringify({ context: 'price in €', choices: ['b', 'c'], label: 0 })}\n`);
    const file = await runInkwell(['eval', `--checkpoint=${checkpoint}`, `--file=${text}`]);
    assert.equal(file.code, 1);
    assert.match(file.stderr, new RegExp(`^inkwell: ${text}: Character "€" \\(U\\+20AC\\) at string index 31 is not in`, 'm'));
    const item = await runInkwell(['eval', `--checkpoint=${checkpoint}`, `--task=${task}`]);
    assert.equal(item.code, 1);
    assert.match(item.stderr, new RegExp(`^inkwell: ${task}:2: Character "€"`, 'm'));
  });

  it('a checkpoint whose tokenizer is garbage, naming the field', async () => {
    const path = join(folder('ckpt'), 'ckpt.safetensors');
    saveCheckpoint(path, tinyModel(), null, { iter_num: 1, best_val_loss: 1, tokenizer: { type: 'char', chars: 5 } });
    await assert.rejects(loadModelAndTokenizer({ checkpoint: path }), new RegExp(`${path} \\(checkpoint state\\): tokenizer.chars must be an array of characters, got 5`));
    saveCheckpoint(path, tinyModel(), null, { iter_num: 1, best_val_loss: 1, tokenizer: 'garbage' });
    await assert.rejects(loadModelAndTokenizer({ checkpoint: path }), new RegExp(`${path} \\(checkpoint state\\): tokenizer is not valid JSON \\(Unexpected token`));
  });

  it('a checkpoint with iter_num "abc" does not resume into NaN', () => {
    const dir = folder('ckpt');
    const path = join(dir, 'ckpt.safetensors');
    saveCheckpoint(path, tinyModel(), null, { iter_num: 1, best_val_loss: 1 });
    const file = readSafetensors(path);
    const state = JSON.parse(file.metadata.inkwell!);
    state.iter_num = 'abc';
    writeSafetensors(path, [...file.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]), { ...file.metadata, inkwell: JSON.stringify(state) });
    assert.throws(() => loadCheckpoint(path), new RegExp(`${path}: checkpoint state field iter_num must be a whole number ≥ 0, got "abc"`));
  });

  it('sample on a checkpoint holding NaN or Infinity fails naming the tensor instead of printing noise', async () => {
    for (const bad of [NaN, -Infinity]) {
      const model = tinyModel();
      const [name, param] = model.namedParameters()[4]!;
      param.data[9] = bad;
      const path = join(folder('nan'), 'ckpt.safetensors');
      saveCheckpoint(path, model, null, { iter_num: 1, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
      const run = await runInkwell(['sample', `--checkpoint=${path}`, '--num_samples=1', '--max_new_tokens=4']);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, new RegExp(`^inkwell: ${path}: tensor '${name.replace(/\./g, '\\.')}' holds ${bad} at element 9`, 'm'));
    }
  });

  it('a full disk (ENOSPC) names the file it could not write and leaves the old one whole', (t) => {
    const mount = folder('tmpfs');
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]).status !== 0) {
      t.skip('cannot mount a small tmpfs here (needs root): ENOSPC not tested');
      return;
    }
    try {
      const path = join(mount, 'ckpt.safetensors');
      writeFileAtomic(path, 'good');
      assert.throws(() => writeFileAtomic(path, new Uint8Array(1 << 20)), new RegExp(`cannot write ${path}: no space left on the device`));
      assert.equal(readFileSync(path, 'utf8'), 'good');
      assert.deepEqual(readdirSync(mount), ['ckpt.safetensors']);
    } finally {
      spawnSync('umount', [mount]);
    }
  });
});

describe('divergence never costs the best model', () => {
  const dataset = makeDataset();

  it('keeps best.safetensors apart from the resume state, and stops a run that blows up', () => {
    const c = config(dataset, { always_save_checkpoint: true });
    const good = train(c);
    assert.equal(good.best, join(c.out_dir, 'best.safetensors'));
    const best = loadCheckpoint(good.best!);
    assert.equal(best.state.best_val_loss, good.bestValLoss);
    assert.equal(best.state.iter_num, best.state.best_iter);
    const bestBytes = readFileSync(good.best!);
    // A learning rate far too high, from the good checkpoint: the loss climbs far above its best.
    const lines: string[] = [];
    const blowUp = { ...c, init_from: 'resume', learning_rate: 3, min_lr: 3, warmup_iters: 0, max_iters: 200, grad_clip: 0 };
    assert.throws(() => train(blowUp, { print: (l) => lines.push(l) }), (err: Error) => {
      assert.ok(err instanceof TrainingDiverged, err.message);
      assert.match(err.message, /training diverged: (val loss rose to [\d.]+ at iter \d+, from its best [\d.]+ at iter \d+|.*is (NaN|Infinity))/);
      assert.match(err.message, new RegExp(`the best model so far is in ${join(c.out_dir, 'best.safetensors')}`));
      return true;
    });
    assert.deepEqual(readFileSync(join(c.out_dir, 'best.safetensors')), bestBytes);
  });

  it('counts a val loss far above the best as divergence, not a rise from overfitting', () => {
    assert.equal(hasDiverged(4.2, 4.12), false);
    assert.equal(hasDiverged(223, 4.12), true);
    assert.equal(hasDiverged(1.6, 1.47), false);
    assert.equal(hasDiverged(2.6, 1.47), true);
    assert.equal(hasDiverged(50, Infinity), false);
  });

  it('hints once when a learning rate leaves the loss unmoved, and not otherwise', () => {
    const hints = (lr: number) => {
      const lines: string[] = [];
      train(config(dataset, { learning_rate: lr, min_lr: lr / 10, warmup_iters: 0, max_iters: 60 }), { print: (l) => lines.push(l) });
      return lines.filter((l) => l.startsWith('hint:'));
    };
    const slow = hints(1e-7);
    assert.equal(slow.length, 1);
    assert.match(slow[0]!, /the loss has not fallen in the 50 iterations since warmup .* learning_rate 1e-7 may be too low/);
    assert.deepEqual(hints(3e-3), []);
  });

  it('removes temp files that killed writes left behind, and only those', () => {
    const dir = folder('orphans');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const orphan = join(dir, `ckpt.safetensors.${dead}.1700000000000.tmp`);
    const live = join(dir, `ckpt.safetensors.${process.pid}.1700000000000.tmp`);
    const other = join(dir, `log.jsonl.${dead}.1700000000000.tmp`);
    for (const f of [orphan, live, other]) writeFileSync(f, 'partial');
    writeFileAtomic(join(dir, 'ckpt.safetensors'), 'whole');
    assert.equal(existsSync(orphan), false);
    assert.equal(existsSync(live), true, 'a write in progress (a live process) is left alone');
    assert.equal(existsSync(other), true, 'only temp files of the file being written are touched');
  });
});

describe('the CLI for a newcomer', () => {
  it('--version prints the version; no command prints usage and fails', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
    const v = await runInkwell(['--version']);
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), version);
    const none = await runInkwell([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /usage: inkwell <command>/);
  });

  it('Ctrl-C during train says which iteration the last checkpoint holds and how to resume', async () => {
    const dataset = makeDataset();
    const out = folder('interrupted');
    const args = ['train', `--dataset=${dataset}`, `--out_dir=${out}`, '--n_layer=1', '--n_head=2', '--n_embd=16', '--block_size=16',
      '--batch_size=4', '--eval_interval=10', '--eval_iters=2', '--max_iters=100000', '--log_interval=1000', '--no-progress'];
    let sent = false;
    const run = await runInkwell(args, {
      onStdout: (text, child) => {
        if (!sent && /saving checkpoint/.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /interrupted: the last checkpoint is from iter (\d+); continue with:\n {2}inkwell train .*--out_dir=\S+ .*--init_from=resume/);
    const iter = Number(/from iter (\d+)/.exec(run.stderr)![1]);
    assert.equal(loadCheckpoint(join(out, 'ckpt.safetensors')).state.iter_num, iter);
  });

  it('--init=gpt2 without network says how to work offline', async () => {
    await assert.rejects(fetchPretrained('gpt2', { endpoint: 'http://127.0.0.1:9', cacheDir: folder('hub') }),
      /--init=DIR.*HF_ENDPOINT.*HF_HUB_OFFLINE=1/);
  });

  it('markov writes its graph under an output folder, not the working directory', async () => {
    const cwd = folder('markov');
    const run = await runInkwell(['markov', '--steps=2'], { cwd });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(readdirSync(cwd), ['out-markov']);
    assert.ok(existsSync(join(cwd, 'out-markov', 'markov.svg')));
  });

  it('prepare --tokenizer=word tells the <unk> share of each split and warns when it is high', async () => {
    const cwd = folder('word');
    const words = Array.from({ length: 4000 }, (_, i) => (i % 3 === 0 ? `rare${i}` : ['the', 'king', 'said'][i % 3])).join(' ');
    writeFileSync(join(cwd, 'corpus.txt'), words);
    const run = await runInkwell(['prepare', 'corpus.txt', '--tokenizer=word', '--min_freq=2', '--out=data/w'], { cwd });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /<unk> tokens: train 33\.\d%, val 3\d\.\d%/);
    assert.match(run.stdout, /warning: 3\d\.\d% of a split's tokens are <unk>.*--tokenizer=bpe or --tokenizer=char/);
  });
});

describe('serving', () => {
  it('a client that drops its request body costs one log line, not a stack trace', async () => {
    const server = createOpenAIServer({ model: tinyModel(), tokenizer: asciiTokenizer, modelName: 'tiny' });
    const address = await server.listen(0, '127.0.0.1');
    const logged: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((text: string) => (logged.push(String(text)), true)) as typeof process.stderr.write;
    try {
      await new Promise<void>((resolve) => {
        const socket = connect(address.port, '127.0.0.1', () => {
          socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":');
          setTimeout(() => socket.destroy(), 50);
        });
        socket.on('close', () => setTimeout(resolve, 100));
      });
    } finally {
      process.stderr.write = write;
      await server.close();
    }
    assert.equal(logged.length, 1, logged.join(''));
    assert.match(logged[0]!, /^inkwell serve: the client went away before sending the whole request body \(POST \/v1\/completions\)\n$/);
  });

  it('a character-level model gets a template its vocabulary can spell, or an error naming one', () => {
    const chars = new CharTokenizer([...'\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:?!., ']);
    const notes: string[] = [];
    const picked = chooseTemplate(null, null, chars, (m) => notes.push(m));
    assert.notEqual(picked.name, 'chat');
    assert.match(notes[0]!, new RegExp(`cannot spell the chat template .*using --template=${picked.name}`));
    assert.throws(() => chooseTemplate(getTemplate('chat'), null, chars), new RegExp(`the 'chat' template cannot be used with this model: .*pass --template=${picked.name}`));
  });

  it('no_repeat_ngram_size has an upper bound', () => {
    const sampling = { temperature: 1, topP: 1, repetitionPenalty: 1, noRepeatNgramSize: MAX_NO_REPEAT_NGRAM };
    validateSamplingOptions(sampling);
    assert.throws(() => validateSamplingOptions({ ...sampling, noRepeatNgramSize: 1e9 }), /no_repeat_ngram_size must be an integer from 0 \(off\) to 256, got 1000000000/);
  });

  it('the web pages have a favicon', async () => {
    const web = await serveWeb(createWebHandler({ playground: { modelName: 'tiny' } }), { port: 0 });
    try {
      for (const path of ['/favicon.ico', '/favicon.svg']) {
        const res = await fetch(`${web.url}${path}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'image/svg+xml');
        assert.match(await res.text(), /^<svg/);
      }
      assert.match(await (await fetch(`${web.url}/playground`)).text(), /<link rel="icon" type="image\/svg\+xml" href="\/favicon.svg">/);
    } finally {
      await web.close();
    }
  });
});
