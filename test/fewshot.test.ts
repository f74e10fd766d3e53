// Few-shot evaluation: reading the JSONL task (header, line-numbered errors), the prompt layout, exact
// match against greedy continuations, and `inkwell eval --fewshot` (plus eval's perplexity on a file).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateFewShot, fewShotPrompt, readFewShotTask } from '../src/eval/fewshot.js';
import { generate } from '../src/generate/generate.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { evaluateTokens } from '../src/train/evaluate.js';
import { repoRoot } from './helpers.js';
import { asciiTokenizer as tokenizer, tinyModel } from './tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'inkwell-fewshot-'));
const writeTask = (name: string, lines: (object | string)[]) => {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
};
const header = { instruction: 'Continue.', shots: [{ prompt: 'ab', answer: 'cd' }, { prompt: 'pq', answer: 'rs' }], separator: '\n\n', stop: '\n' };
const model = tinyModel();
const prompts = ['xy', 'To be', 'ROMEO:', 'lmn'];
/** What the model answers to each prompt after the header's shots: greedy, up to a newline, at most 6 tokens. */
const outputs = prompts.map((p) => generate(model, [fewShotPrompt(header, p)], { tokenizer, temperature: 0, maxNewTokens: 6, stop: ['\n'] })[0]!.text!);

describe('few-shot tasks', () => {
  it('reads a header and examples with their line numbers', () => {
    const task = readFewShotTask(writeTask('task.jsonl', [header, { prompt: 'xy', answer: 'z' }, '', { prompt: 'uv', answer: ' w ' }]));
    assert.deepEqual(task.shots, header.shots);
    assert.deepEqual(task.stop, ['\n']);
    assert.deepEqual(task.examples, [{ line: 2, prompt: 'xy', answer: 'z' }, { line: 4, prompt: 'uv', answer: ' w ' }]);
    assert.equal(fewShotPrompt(task, 'xy'), 'Continue.\n\nabcd\n\npqrs\n\nxy');
    const plain = readFewShotTask(writeTask('plain.jsonl', [{ prompt: 'a', answer: 'b' }]));
    assert.deepEqual([plain.shots, plain.instruction, plain.stop], [[], '', ['\n']]);
    assert.equal(fewShotPrompt(plain, 'a'), 'a');
  });

  it('names the file and line of a bad record', () => {
    const bad = (lines: (object | string)[], pattern: RegExp) => assert.throws(() => readFewShotTask(writeTask('bad.jsonl', lines)), pattern);
    bad([{ prompt: 'a', answer: 'b' }, '{"prompt": "a",'], /bad\.jsonl:2: invalid JSON/);
    bad([{ prompt: 'a' }], /bad\.jsonl:1: "answer" must be a string, got nothing/);
    bad([{ prompt: 'a', answer: 3 }], /bad\.jsonl:1: "answer" must be a string, got 3/);
    bad([{ prompt: 'a', answer: 'b' }, header], /bad\.jsonl:2: a header \(a line with "shots"\) may only be the first line/);
    bad([{ shots: [{ prompt: 'a' }] }, { prompt: 'a', answer: 'b' }], /bad\.jsonl:1: shots\[0\]: "answer" must be a string/);
    bad([{ shots: [], colour: 1 }], /bad\.jsonl:1: unknown header field "colour"/);
    bad([header], /bad\.jsonl: no examples/);
    const skipped = readFewShotTask(writeTask('skip.jsonl', [{ prompt: 'a', answer: 'b' }, 'nonsense']), 'skip');
    assert.equal(skipped.examples.length, 1);
    assert.equal(skipped.skipped[0]!.line, 2);
  });

  it('scores greedy answers by exact match, ignoring surrounding whitespace', () => {
    // Right: the model's own answers (one with extra spaces); wrong: an answer with a character more, and another answer.
    const answers = [outputs[0]!, ` ${outputs[1]!} `, `${outputs[2]!}!`, outputs[0]! === outputs[3]! ? 'zzz' : outputs[0]!];
    const task = readFewShotTask(writeTask('score.jsonl', [header, ...prompts.map((prompt, i) => ({ prompt, answer: answers[i] }))]));
    const result = evaluateFewShot(model, tokenizer, task, { maxNewTokens: 6, batchSize: 3 });
    assert.deepEqual(result.predictions.map((p) => p.output), outputs);
    assert.deepEqual(result.predictions.map((p) => p.correct), [true, true, false, false]);
    assert.deepEqual([result.correct, result.total, result.accuracy], [2, 4, 0.5]);
  });

  it('refuses a prompt longer than the context, naming its line', () => {
    const task = readFewShotTask(writeTask('long.jsonl', [header, { prompt: 'a', answer: 'b' }, { prompt: 'x'.repeat(120), answer: 'b' }]));
    assert.throws(() => evaluateFewShot(model, tokenizer, task), /long\.jsonl:3: the prompt is 143 tokens but the model's context \(block_size\) is 128: no room to generate; shorten the prompt \(with 2 shots: use fewer or shorter ones\)/);
  });
});

describe('inkwell eval', () => {
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const checkpoint = join(dir, 'model.safetensors');
  saveCheckpoint(checkpoint, model, null, { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON() });
  const evalCli = (args: string[]) => spawnSync(process.execPath, [cli, 'eval', `--checkpoint=${checkpoint}`, ...args], { encoding: 'utf8' });

  it('reports few-shot accuracy and the wrong answers with their lines', () => {
    const answers = [outputs[0]!, `${outputs[1]!}#`, outputs[2]!, outputs[3]!];
    const task = writeTask('cli.jsonl', [header, ...prompts.map((prompt, i) => ({ prompt, answer: answers[i] }))]);
    const r = evalCli([`--fewshot=${task}`, '--max_new_tokens=6']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      `${task}:3: wrong: expected ${JSON.stringify(answers[1])}, got ${JSON.stringify(outputs[1])}`,
      `${task}: 4 examples (2 shots), 3 exact matches, accuracy 75.0%`,
    ]);
    assert.equal(evalCli([`--fewshot=${task}`, '--max_new_tokens=6', '--verbose']).stdout.split('\n').filter((l) => l.includes(': right: ')).length, 3);
  });

  it('answers with at most the longest expected answer + 1 tokens by default', () => {
    const task = writeTask('budget.jsonl', [header, ...prompts.map((prompt) => ({ prompt, answer: 'x' }))]);
    const r = evalCli([`--fewshot=${task}`, '--verbose']);
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout.split('\n').filter((l) => l.includes(': got ') || l.includes(', got ')).map((l) => JSON.parse(l.slice(l.lastIndexOf(', got ') + 6)));
    assert.deepEqual(got, prompts.map((p) => generate(model, [fewShotPrompt(header, p)], { tokenizer, temperature: 0, maxNewTokens: 2, stop: ['\n'] })[0]!.text));
  });

  it('stops at a bad line, or skips it when asked', () => {
    const task = writeTask('cli-bad.jsonl', [{ prompt: 'ab', answer: 'c' }, '{oops']);
    const r = evalCli([`--fewshot=${task}`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /inkwell: .*cli-bad\.jsonl:2: invalid JSON .*\(skip bad lines with --skip_bad_lines\)/);
    const skipped = evalCli([`--fewshot=${task}`, '--skip_bad_lines']);
    assert.equal(skipped.status, 0, skipped.stderr);
    assert.match(skipped.stdout, /cli-bad\.jsonl: skipped 1 line:\n {2}line 2: invalid JSON/);
    assert.match(skipped.stdout, /1 examples \(0 shots\)/);
    assert.equal(evalCli([`--fewshot=${task}`, '--split=val']).status, 2);
  });

  it('still measures perplexity on a text file', () => {
    const text = 'To be, or not to be, that is the question.\n'.repeat(4);
    const file = join(dir, 'text.txt');
    writeFileSync(file, text);
    const r = evalCli([`--file=${file}`, '--batch_size=2']);
    assert.equal(r.status, 0, r.stderr);
    const ids = Int32Array.from(tokenizer.encode(text));
    const expected = evaluateTokens(model, ids.length, (s, n) => ids.subarray(s, s + n), 2);
    // Bits per byte: the predicted tokens' bits over the bytes they spell (the text but its first character).
    const bpb = (expected.loss * expected.tokens) / Math.LN2 / Buffer.byteLength(text.slice(1));
    assert.equal(r.stdout, `${file}: ${expected.tokens} tokens, loss ${expected.loss.toFixed(4)}, perplexity ${expected.perplexity.toFixed(3)}, ${bpb.toFixed(4)} bits per byte\n`);
  });
});
