// Generation: the sampling functions against hand-computed cases, streaming text (split UTF-8, stop
// strings), generate() itself (fixture greedy continuation, KV cache against recomputation step by step,
// batching of uneven prompts, seeds, penalties, EOS and stop strings, errors) and the `inkwell sample` CLI.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePrompt, generate, type Generation, type GenerateOptions } from '../src/generate/generate.js';
import { applyRepetitionPenalty, argmax, banRepeatedNgrams, Sampler, validateSamplingOptions, defaultSamplingOptions } from '../src/generate/sampling.js';
import { TextStream } from '../src/generate/stream.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { loadHFModel } from '../src/model/hf.js';
import { Rng } from '../src/tensor/random.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { Gpt2Tokenizer } from '../src/tokenizers/gpt2.js';
import { WordTokenizer } from '../src/tokenizers/word.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { maxAbsDiff, repoRoot, sharedDir } from './helpers.js';
import { randomizeWeights } from './tiny-model.js';

const fixtureDir = join(sharedDir, 'fixtures', 'gpt-tiny');
const fixturePresent = existsSync(join(fixtureDir, 'model.safetensors'));
/** The 65 characters of tinyshakespeare, so the fixture's 65 token ids have text. */
const shakespeareChars = CharTokenizer.fromText("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

const f32 = (values: number[]) => Float32Array.from(values);
const near = (actual: number[], expected: number[], tol = 1e-6) =>
  assert.ok(actual.length === expected.length && actual.every((v, i) => Math.abs(v - expected[i]!) < tol), `${actual} vs ${expected}`);

/** A random GPT with the fixture's large weights (N(0, 0.3²)): small GPT-2-init models barely prefer any token. */
function randomModel(config: Partial<GPTConfig> = {}, seed = 7): GPT {
  return randomizeWeights(new GPT({ n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, vocab_size: 65, dropout: 0, bias: true, ...config }, { init: false }), seed);
}

/** Per (sequence, step) copies of the raw logits generate() computed. */
function withLogits(model: GPT, prompts: number[][], options: GenerateOptions): { results: Generation[]; logits: Map<string, Float32Array> } {
  const logits = new Map<string, Float32Array>();
  const results = generate(model, prompts, { ...options, onLogits: (l, index, step) => logits.set(`${index}:${step}`, l.slice()) });
  return { results, logits };
}

describe('sampling', () => {
  const sampler = (V: number) => new Sampler(V);
  const greedy = { temperature: 0, topP: 1 };

  it('argmax picks the lowest index among equal maxima', () => {
    assert.equal(argmax(f32([1, 3, 3, 2])), 1);
    assert.equal(argmax(f32([-1, -1])), 0);
    assert.equal(sampler(4).sample(f32([0, 5, 5, 1]), greedy, new Rng(1)), 1);
  });

  it('repetition penalty divides positive logits and multiplies negative ones, once per distinct token', () => {
    const logits = f32([2, -2, 1, 0.5]);
    applyRepetitionPenalty(logits, new Set([0, 1, 0, 1]), 2);
    assert.deepEqual([...logits], [1, -4, 1, 0.5]);
  });

  it('bans tokens that would repeat an n-gram', () => {
    const ban = (tokens: number[], n: number) => {
      const logits = new Float32Array(6);
      banRepeatedNgrams(logits, tokens, n);
      return [...logits.keys()].filter((i) => logits[i] === -Infinity);
    };
    assert.deepEqual(ban([1, 2, 3, 1, 2], 3), [3]); // [1, 2] was followed by 3
    assert.deepEqual(ban([1, 2, 3, 1, 2], 2), [3]); // [2] was followed by 3
    assert.deepEqual(ban([1, 2, 4, 2, 5, 2], 2), [4, 5]);
    assert.deepEqual(ban([4, 1, 4], 1), [1, 4]); // unigrams: every token seen
    assert.deepEqual(ban([1, 2, 3], 4), []);
  });

  it('top-k keeps exactly k tokens, most likely first, lower id first on ties', () => {
    const logits = f32([1, 3, 3, 2, 0]);
    assert.deepEqual(sampler(5).candidates(logits, { temperature: 1, topK: 2, topP: 1 }).ids, [1, 2]);
    assert.deepEqual(sampler(5).candidates(logits, { temperature: 1, topK: 3, topP: 1 }).ids, [1, 2, 3]);
    assert.deepEqual(sampler(4).candidates(f32([3, 1, 1, 1]), { temperature: 1, topK: 2, topP: 1 }).ids, [0, 1]);
    const { probs } = sampler(5).candidates(logits, { temperature: 1, topK: 2, topP: 1 });
    near(probs, [0.5, 0.5]);
  });

  it('top-p keeps the smallest most-likely set whose probability reaches p', () => {
    const logits = f32([0.5, 0.3, 0.15, 0.05].map(Math.log));
    const ids = (topP: number, topK?: number) => sampler(4).candidates(logits, { temperature: 1, topP, topK }).ids;
    assert.deepEqual(ids(0.4), [0]);
    assert.deepEqual(ids(0.7), [0, 1]);
    assert.deepEqual(ids(0.9), [0, 1, 2]);
    assert.deepEqual(ids(1), [0, 1, 2, 3]);
    // After top-k = 3 the probabilities are renormalised: 0.5/0.95, 0.3/0.95, ...; 0.526 < 0.6 ≤ 0.842.
    assert.deepEqual(ids(0.6, 3), [0, 1]);
    near(sampler(4).candidates(logits, { temperature: 1, topP: 0.7 }).probs, [0.625, 0.375]);
    // Ties: the lower ids go first, and exactly reaching p is enough.
    assert.deepEqual(sampler(4).candidates(f32([1, 1, 1, 1]), { temperature: 1, topP: 0.5 }).ids, [0, 1]);
  });

  it('top-p finds large nuclei in a large vocabulary', () => {
    const flat = new Float32Array(1000);
    assert.deepEqual(sampler(1000).candidates(flat, { temperature: 1, topP: 0.5 }).ids, Array.from({ length: 500 }, (_, i) => i));
  });

  it('temperature divides the logits', () => {
    const { ids, probs } = sampler(2).candidates(f32([0, Math.log(4)]), { temperature: 2, topP: 1 });
    assert.deepEqual(ids, [0, 1]); // no top-k or top-p: every token, in id order
    near(probs, [1 / 3, 2 / 3]);
    near(sampler(2).candidates(f32([0, Math.log(4)]), { temperature: 0.5, topK: 1, topP: 1 }).probs, [1]);
  });

  it('draws tokens with their probabilities, deterministically for a seed', () => {
    const logits = f32([0.5, 0.3, 0.2, 0].map(Math.log));
    for (const o of [{ temperature: 1, topP: 1 }, { temperature: 1, topP: 1, topK: 3 }, { temperature: 1, topP: 0.99 }]) {
      const s = sampler(4), rng = new Rng(42), counts = [0, 0, 0, 0], n = 20000;
      for (let i = 0; i < n; i++) counts[s.sample(logits.slice(), o, rng)]!++;
      near(counts.map((c) => c / n), [0.5, 0.3, 0.2, 0], 0.015);
      const again = new Rng(42);
      const first = Array.from({ length: 50 }, () => s.sample(logits.slice(), o, again));
      const rng2 = new Rng(42);
      assert.deepEqual(Array.from({ length: 50 }, () => s.sample(logits.slice(), o, rng2)), first);
    }
  });

  it('rejects out-of-range settings with the setting named', () => {
    const check = (o: object, pattern: RegExp) => assert.throws(() => validateSamplingOptions({ ...defaultSamplingOptions, ...o }), pattern);
    check({ temperature: -0.1 }, /temperature must be a number ≥ 0/);
    check({ topP: 0 }, /top_p must be in \(0, 1\]/);
    check({ topP: 1.5 }, /top_p must be in \(0, 1\]/);
    check({ topK: 0 }, /top_k must be an integer ≥ 1/);
    check({ repetitionPenalty: 0 }, /repetition_penalty/);
    check({ noRepeatNgramSize: 1.5 }, /no_repeat_ngram_size/);
  });
});

describe('text streaming', () => {
  const pushAll = (stream: TextStream, ids: number[]) => ids.map((id) => stream.push(id));

  it('holds back characters split across byte-level tokens', () => {
    const tok = Gpt2Tokenizer.pretrained();
    const text = 'Café 🙂🙂 naïve 日本語 text';
    const ids = tok.encode(text);
    assert.ok(ids.some((id) => tok.decode([id]).includes('\uFFFD')), 'the text should split a character across tokens');
    const stream = new TextStream(tok);
    const chunks = pushAll(stream, ids);
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
    assert.equal(chunks.join('') + stream.finish(), text);
    assert.equal(stream.text, text);
  });

  it('releases an unfinished character as U+FFFD at the end', () => {
    const tok = Gpt2Tokenizer.pretrained();
    const ids = tok.encode('🙂');
    const stream = new TextStream(tok);
    assert.equal(stream.push(ids[0]!), '');
    assert.equal(stream.finish(), tok.decode([ids[0]!]));
  });

  it('decodes with the previous token as context (word-level spacing)', () => {
    const tok = new WordTokenizer(['<unk>', '<eos>', 'hello', 'big', 'world']);
    const stream = new TextStream(tok, [], [2]);
    assert.deepEqual(pushAll(stream, [3, 4, 1, 2]), [' big', ' world', '\n', 'hello']);
  });

  it('stops at a stop string, holding back text that may start one', () => {
    const tok = CharTokenizer.fromText('abcxyz\nEND');
    const stream = new TextStream(tok, ['\n\n', 'END']);
    const chunks = pushAll(stream, tok.encode('ab\nc\nE\n\nxyz'));
    // 'E' may begin 'END' and '\n' may begin '\n\n': each waits for the next character.
    assert.deepEqual(chunks, ['a', 'b', '', '\nc', '', '\n', 'E', '', '', '', '']);
    assert.equal(stream.text, 'ab\nc\nE');
    assert.ok(stream.stopped);
    assert.equal(stream.finish(), '');
  });

  it('releases held-back text when the stream ends without a stop', () => {
    const tok = CharTokenizer.fromText('a\n');
    const stream = new TextStream(tok, ['\n\n']);
    assert.deepEqual(pushAll(stream, tok.encode('a\n')), ['a', '']);
    assert.equal(stream.finish(), '\n');
    assert.equal(stream.text, 'a\n');
    assert.throws(() => new TextStream(tok, ['']), /must not be empty/);
  });
});

describe('generate', () => {
  it('continues the fixture greedily as PyTorch does, past the context too, with and without the KV cache', { skip: !fixturePresent && 'fixture absent' }, () => {
    const model = loadHFModel(fixtureDir);
    const expected = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')).greedy as { prompt: number[]; tokens: number[] };
    const stepLogits = readSafetensors(join(fixtureDir, 'logits.safetensors')).tensors.get('greedy_step_logits')!.data;
    const V = model.config.vocab_size;
    const runs = [true, false].map((useCache) => withLogits(model, [expected.prompt], { temperature: 0, maxNewTokens: expected.tokens.length, useCache }));
    for (const { results, logits } of runs) {
      assert.deepEqual(results[0]!.tokens, expected.tokens);
      assert.equal(results[0]!.finishReason, 'length');
      for (let step = 0; step < expected.tokens.length; step++) {
        const diff = maxAbsDiff(logits.get(`0:${step}`)!, stepLogits.subarray(step * V, (step + 1) * V));
        assert.ok(diff < 1e-4, `step ${step}: ${diff}`);
      }
    }
  });

  it('gives the same logits with the KV cache as recomputing, for uneven prompts in a batch, past the context', () => {
    const model = randomModel();
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], Array.from({ length: 12 }, (_, i) => 20 + i), [30]];
    const options: GenerateOptions = { temperature: 0.8, topK: 40, maxNewTokens: 14, seed: 5 };
    const cached = withLogits(model, prompts, { ...options, useCache: true });
    const uncached = withLogits(model, prompts, { ...options, useCache: false });
    assert.equal(cached.logits.size, 4 * 14);
    for (const [key, l] of cached.logits) assert.ok(maxAbsDiff(l, uncached.logits.get(key)!) < 1e-4, key);
    assert.deepEqual(cached.results.map((r) => r.tokens), uncached.results.map((r) => r.tokens));
  });

  it('gives each prompt the output it gets alone, whatever the batch size', () => {
    const model = randomModel();
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11], [12, 13]];
    const options: GenerateOptions = { temperature: 1, topP: 0.9, repetitionPenalty: 1.3, maxNewTokens: 20, seed: 9 };
    const together = generate(model, prompts, options).map((r) => r.tokens);
    assert.deepEqual(generate(model, prompts, { ...options, batchSize: 1 }).map((r) => r.tokens), together);
    assert.deepEqual(generate(model, prompts, { ...options, batchSize: 3 }).map((r) => r.tokens), together);
    // Greedy decoding has no per-sequence random stream: each prompt alone gives what it gives in the batch.
    const greedy = { ...options, temperature: 0 };
    const batched = generate(model, prompts, greedy).map((r) => r.tokens);
    prompts.forEach((p, i) => assert.deepEqual(generate(model, [p], greedy)[0]!.tokens, batched[i]));
  });

  it('same seed, same text; another seed, other text', () => {
    const model = randomModel();
    const run = (seed: number) => generate(model, [[1, 2], [1, 2]], { temperature: 1, maxNewTokens: 30, seed }).map((r) => r.tokens);
    assert.deepEqual(run(3), run(3));
    assert.notDeepEqual(run(3), run(4));
    const [a, b] = run(3);
    assert.notDeepEqual(a, b, 'samples of one prompt differ from each other');
  });

  it('applies the repetition penalty to every distinct token of prompt and output', () => {
    const model = randomModel();
    const prompt = [5, 6, 5, 7];
    const { results, logits } = withLogits(model, [prompt], { temperature: 0, repetitionPenalty: 3, maxNewTokens: 12 });
    const tokens = results[0]!.tokens;
    tokens.forEach((token, step) => {
      const raw = logits.get(`0:${step}`)!;
      applyRepetitionPenalty(raw, new Set([...prompt, ...tokens.slice(0, step)]), 3);
      assert.equal(token, argmax(raw), `step ${step}`);
    });
    const plain = generate(model, [prompt], { temperature: 0, maxNewTokens: 12 })[0]!.tokens;
    assert.notDeepEqual(plain, tokens);
  });

  it('never repeats an n-gram with no_repeat_ngram_size', () => {
    const model = randomModel();
    const [r] = generate(model, [[9, 40, 35, 61]], { temperature: 0, noRepeatNgramSize: 2, maxNewTokens: 40 });
    const seq = [9, 40, 35, 61, ...r!.tokens];
    const bigrams = seq.slice(1).map((t, i) => `${seq[i]},${t}`);
    assert.equal(new Set(bigrams).size, bigrams.length);
    const [u] = generate(model, [[9, 40, 35, 61]], { temperature: 1.5, noRepeatNgramSize: 1, maxNewTokens: 30 });
    assert.equal(new Set([9, 40, 35, 61, ...u!.tokens]).size, 34);
  });

  it('stops at the EOS token, which is left out of the output', () => {
    const model = randomModel();
    const [free] = generate(model, [[1, 2, 3]], { temperature: 0, maxNewTokens: 10 });
    const eos = free!.tokens[3]!;
    const [stopped] = generate(model, [[1, 2, 3]], { temperature: 0, maxNewTokens: 10, eosTokenId: eos });
    assert.equal(stopped!.finishReason, 'eos');
    assert.deepEqual(stopped!.tokens, free!.tokens.slice(0, free!.tokens.indexOf(eos)));
  });

  it('streams text, stops at stop strings and cuts the text before them', () => {
    const model = randomModel();
    const tokenizer = shakespeareChars;
    const [free] = generate(model, ['ROMEO:'], { tokenizer, temperature: 0, maxNewTokens: 30 });
    const stop = free!.text!.slice(10, 13);
    const streamed = new Map<number, string>();
    const done: number[] = [];
    const [r] = generate(model, ['ROMEO:'], {
      tokenizer, temperature: 0, maxNewTokens: 30, stop: [stop, 'never there'],
      onText: (i, t) => streamed.set(i, (streamed.get(i) ?? '') + t),
      onDone: (g) => done.push(g.index),
    });
    assert.equal(r!.finishReason, 'stop');
    assert.equal(r!.text, free!.text!.slice(0, free!.text!.indexOf(stop)));
    assert.equal(streamed.get(0), r!.text);
    assert.deepEqual(done, [0]);
    assert.deepEqual(free!.prompt, tokenizer.encode('ROMEO:'));
    assert.equal(free!.text, tokenizer.decode(free!.tokens));
  });

  it('never samples ids beyond the tokenizer vocabulary (padded model vocabularies)', () => {
    const model = randomModel({ vocab_size: 80 });
    const [r] = generate(model, ['\n'], { tokenizer: shakespeareChars, temperature: 3, maxNewTokens: 200 });
    assert.ok(r!.tokens.every((t) => t < 65));
  });

  it('starts unconditional samples from <|endoftext|>, or asks for a start text', () => {
    const gpt2 = Gpt2Tokenizer.pretrained();
    assert.deepEqual(encodePrompt(gpt2, ''), [50256]);
    assert.deepEqual(encodePrompt(gpt2, '<|endoftext|>Hi'), [50256, 17250]);
    assert.throws(() => encodePrompt(shakespeareChars, ''), /unconditional.*"\\n"/);
  });

  it('rejects invalid settings and prompts with clear errors', () => {
    const model = randomModel();
    const gen = (o: GenerateOptions, prompts: (string | number[])[] = [[1]]) => () => generate(model, prompts, o);
    assert.throws(gen({ temperature: -1 }), /temperature must be a number ≥ 0/);
    assert.throws(gen({ topP: 0 }), /top_p must be in \(0, 1\]/);
    assert.throws(gen({ topP: 1.01 }), /top_p/);
    assert.throws(gen({ topK: 0 }), /top_k must be an integer ≥ 1/);
    assert.throws(gen({ maxNewTokens: 0 }), /max_new_tokens/);
    assert.throws(gen({}, [Array(17).fill(1)]), /prompt 0 is 17 tokens but the model's context \(block_size\) is 16: no room to generate/);
    assert.throws(gen({}, [[]]), /prompt 0 is empty/);
    assert.throws(gen({}, [[65]]), /outside the model's vocabulary/);
    assert.throws(gen({}, ['text']), /need a tokenizer/);
    assert.equal(generate(model, [Array(16).fill(1)], { maxNewTokens: 3 })[0]!.tokens.length, 3);
  });

  it('leaves the model in the mode it found it in', () => {
    const model = randomModel();
    model.train();
    generate(model, [[1]], { maxNewTokens: 2 });
    assert.equal(model.training, true);
  });
});

describe('inkwell sample', () => {
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const sample = (args: string[], input?: string) => spawnSync(process.execPath, [cli, 'sample', ...args], { encoding: 'utf8', input });
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-sample-'));
  const checkpoint = (name: string, model: GPT, tokenizer: unknown) => {
    const path = join(dir, name);
    saveCheckpoint(path, model, null, { iter_num: 0, best_val_loss: 0, tokenizer });
    return path;
  };

  it('samples a char-level checkpoint: prompts, seeds, separators, errors', () => {
    const path = checkpoint('char.safetensors', randomModel(), shakespeareChars.toJSON());
    const common = ['--checkpoint', path, '--num_samples=2', '--max_new_tokens=20', '--seed=4'];
    const a = sample([...common, 'ROMEO:']);
    assert.equal(a.status, 0, a.stderr);
    const samples = a.stdout.split('\n---------------\n');
    assert.equal(samples.length, 3);
    assert.ok(samples[0]!.startsWith('ROMEO:') && samples[1]!.startsWith('ROMEO:'));
    assert.equal(samples[0]!.length, 'ROMEO:'.length + 20);
    assert.equal(sample([...common, 'ROMEO:']).stdout, a.stdout);
    assert.equal(sample([...common, '-'], 'ROMEO:').stdout, a.stdout);
    assert.notEqual(sample([...common, '--seed=5', 'ROMEO:']).stdout, a.stdout);
    const two = sample([...common, '--batch_size=3', 'ROMEO:', 'JULIET:']).stdout.split('\n---------------\n');
    assert.deepEqual(two.slice(0, 4).map((t) => t.split(':')[0]), ['ROMEO', 'ROMEO', 'JULIET', 'JULIET']);
    assert.deepEqual(two.slice(0, 2), samples.slice(0, 2));
    const unconditional = sample([...common, '--temperature=0']);
    assert.equal(unconditional.status, 0, unconditional.stderr);
    assert.ok(unconditional.stdout.startsWith('\n'));

    const bad = sample([...common, '--temperature=-1', 'x']);
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /temperature must be a number ≥ 0/);
    assert.match(sample([...common, '--top_k=0', 'x']).stderr, /top_k must be an integer ≥ 1/);
    assert.equal(sample([...common, '--top_k=none', 'x']).status, 0);
    assert.match(sample([...common, '--top-k=3']).stderr, /unknown option --top-k/);
    assert.match(sample([...common, '--top_p=2', 'x']).stderr, /top_p must be in \(0, 1\]/);
    assert.match(sample([...common, 'x'.repeat(17)]).stderr, /no room to generate/);
  });

  it('samples with compressed weights (--weights=bf16|int8) and refuses an unknown format', () => {
    const path = checkpoint('char-compressed.safetensors', randomModel(), shakespeareChars.toJSON());
    const common = ['--checkpoint', path, '--num_samples=1', '--max_new_tokens=12', '--temperature=0', 'ROMEO:'];
    for (const format of ['bf16', 'int8']) {
      const r = sample([...common, `--weights=${format}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.length, 'ROMEO:'.length + 12 + '\n---------------\n'.length);
    }
    const bad = sample([...common, '--weights=int4']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--weights must be one of f32, bf16, int8, got 'int4'/);
  });

  it('samples a BPE checkpoint with its GPT-2 tokenizer, stopping at a stop string', () => {
    const model = randomModel({ vocab_size: 50257, n_embd: 8 });
    const path = checkpoint('bpe.safetensors', model, Gpt2Tokenizer.pretrained().toJSON());
    const args = ['--checkpoint', path, '--num_samples=1', '--max_new_tokens=12', '--temperature=0'];
    const free = sample([...args, 'Hello']);
    assert.equal(free.status, 0, free.stderr);
    const [expected] = generate(model, ['Hello'], { tokenizer: Gpt2Tokenizer.pretrained(), temperature: 0, maxNewTokens: 12 });
    assert.equal(free.stdout, `Hello${expected!.text}\n---------------\n`);
    const stop = expected!.text!.slice(4, 7);
    const stopped = sample([...args, `--stop=${JSON.stringify([stop])}`, 'Hello']);
    assert.equal(stopped.stdout, `Hello${expected!.text!.slice(0, expected!.text!.indexOf(stop))}\n---------------\n`);
  });
});
