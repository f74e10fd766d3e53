// Log-likelihood tasks: lm-evaluation-harness's conventions, each checked on a hand-worked case; the
// per-choice log-likelihoods against the gpt-tiny fixture's own PyTorch logits; the suite score; the
// benchmark loaders against a local hub serving parquet files; and the CLI.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { encodePair, scoreEncoded, scoreLoglikelihoods } from '../src/eval/loglikelihood.js';
import { loadTask } from '../src/eval/hub-tasks.js';
import { readSuite, runSuite } from '../src/eval/suite.js';
import { evaluateTask, itemRequests, readTaskFile, DEFAULT_SETTINGS, type Task } from '../src/eval/tasks.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { generate } from '../src/generate/generate.js';
import { loadHFCausalLM } from '../src/model/hf.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { Gpt2Tokenizer } from '../src/tokenizers/index.js';
import { runInkwell, sharedDir } from './helpers.js';
import { asciiTokenizer, tinyModel } from './tiny-model.js';

const root = mkdtempSync(join(tmpdir(), 'inkwell-eval-'));
after(() => rmSync(root, { recursive: true, force: true }));
const gpt2 = Gpt2Tokenizer.pretrained();

describe('encoding a context and a continuation (the harness\'s _encode_pair)', () => {
  it('moves the context\'s trailing spaces to the continuation and splits the joint tokens at the boundary', () => {
    const { context, continuation } = encodePair(gpt2, 'The cat sat on the ', 'mat');
    assert.deepEqual(context, gpt2.encode('The cat sat on the'));
    assert.deepEqual(continuation, gpt2.encode(' mat'));
    // The joint tokens are split where the context's own tokens end: ',\n' merges across the boundary here.
    const joint = encodePair(gpt2, 'Hello,', '\n\nWorld');
    assert.deepEqual([...joint.context, ...joint.continuation], gpt2.encode('Hello,\n\nWorld'));
    assert.equal(joint.context.length, gpt2.encode('Hello,').length);
  });

  it('stands the end-of-text token in for an empty context, and refuses where there is none', () => {
    assert.deepEqual(encodePair(gpt2, '', 'Hi').context, [50256]);
    assert.throws(() => encodePair(asciiTokenizer, '', 'Hi'), /empty context needs an end-of-text token/);
  });
});

for (const name of ['gpt-tiny', 'llama-tiny']) {
  const fixture = join(sharedDir, 'fixtures', name);
  describe(`log-likelihoods against the ${name} fixture's PyTorch logits`, { skip: existsSync(fixture) ? false : `no fixture at ${fixture}` }, () => {
    it('equal Σ log-softmax of the fixture\'s logits over the continuation, for every split point', () => {
      const model = loadHFCausalLM(fixture);
      const batch = JSON.parse(readFileSync(join(fixture, 'batch.json'), 'utf8')) as { input_ids: number[][]; targets: number[][] };
      const logits = readSafetensors(join(fixture, 'logits.safetensors')).tensors.get('logits')!.data;
      const V = model.vocabSize, T = batch.input_ids[0]!.length;
      for (let b = 0; b < batch.input_ids.length; b++) {
        const ids = [...batch.input_ids[b]!, batch.targets[b]![T - 1]!];
        const pairs = [1, 5, 12, T - 1].map((cut) => ({ context: ids.slice(0, cut), continuation: ids.slice(cut, T + 1) }));
        const got = scoreEncoded(model, pairs, { batchSize: 3 });
        pairs.forEach((pair, k) => {
          let want = 0, greedy = true;
          for (let p = pair.context.length - 1; p < T; p++) {
            const row = Array.from(logits.subarray((b * T + p) * V, (b * T + p + 1) * V));
            const max = Math.max(...row);
            const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
            want += row[ids[p + 1]!]! - lse;
            if (row.indexOf(max) !== ids[p + 1]) greedy = false;
          }
          assert.ok(Math.abs(got[k]!.logprob - want) < 1e-4, `row ${b}, cut ${pair.context.length}: ${got[k]!.logprob} vs ${want}`);
          assert.equal(got[k]!.greedy, greedy);
          assert.equal(got[k]!.tokens, T + 1 - pair.context.length);
        });
      }
    });
  });
}

describe('scoring conventions', () => {
  const model = tinyModel({ block_size: 32 });

  it('left-truncates a sequence longer than the window, as the harness does', () => {
    const context = 'abcdefghij'.repeat(5), continuation = 'xyz';
    const [long] = scoreLoglikelihoods(model, asciiTokenizer, [{ context, continuation }]);
    const kept = context.slice(-(32 + 1 - continuation.length));
    const [short] = scoreLoglikelihoods(model, asciiTokenizer, [{ context: kept, continuation }]);
    assert.ok(Math.abs(long!.logprob - short!.logprob) < 1e-5);
  });

  it('gives each request the same score alone or batched with others of other lengths', () => {
    const requests = [{ context: 'To be', continuation: ' or not' }, { context: 'A', continuation: 'bc' }, { context: 'Hello there, ', continuation: 'friend' }];
    const batched = scoreLoglikelihoods(model, asciiTokenizer, requests, { batchSize: 16 });
    requests.forEach((r, i) => assert.ok(Math.abs(scoreLoglikelihoods(model, asciiTokenizer, [r])[0]!.logprob - batched[i]!.logprob) < 1e-4));
  });

  it('acc takes the highest log-likelihood, acc_norm the highest per UTF-8 byte of the choice', () => {
    const context = 'Pick:';
    const choices = ['ab', 'abcdefgh'];
    const task: Task = { name: 't', ...DEFAULT_SETTINGS, skipped: [], items: [{ kind: 'multiple_choice', contexts: [context], continuations: choices, label: 1, source: 'hand' }] };
    const scores = scoreLoglikelihoods(model, asciiTokenizer, choices.map((c) => ({ context, continuation: ` ${c}` }))).map((r) => r.logprob);
    const result = evaluateTask(model, asciiTokenizer, task);
    assert.deepEqual(result.perItem[0]!.scores, scores);
    assert.equal(result.perItem[0]!.correct, scores[1]! > scores[0]!);
    assert.equal(result.perItem[0]!.correctNorm, scores[1]! / 8 > scores[0]! / 2);
    // The longer choice has the lower total but may win per byte: the two metrics differ here.
    assert.ok(scores[1]! < scores[0]!);
  });

  it('Winogrande: each option ends a context and the rest of the sentence is scored after them', () => {
    const item = { kind: 'partial' as const, contexts: ['The trophy did not fit because the trophy', 'The trophy did not fit because the case'], continuations: ['was too big.'], label: 0, source: 'hand' };
    const requests = itemRequests({ name: 'w', ...DEFAULT_SETTINGS }, item);
    assert.deepEqual(requests, item.contexts.map((c) => ({ context: c, continuation: ' was too big.' })));
  });

  it('LAMBADA: a greedy item is right only when every continuation token is the model\'s argmax; chance 0, no acc_norm', () => {
    const context = 'Once upon a time';
    const [out] = generate(model, [asciiTokenizer.encode(context)], { temperature: 0, maxNewTokens: 3, eosTokenId: null });
    const greedy = asciiTokenizer.decode(out!.tokens);
    // The same text with its last character swapped for another: no longer the greedy continuation.
    const other = greedy.slice(0, -1) + (greedy.endsWith('q') ? 'z' : 'q');
    const items = [greedy, other].map((continuation, i) => ({ kind: 'greedy' as const, contexts: [context], continuations: [continuation], label: 0, source: `hand ${i}` }));
    const task: Task = { name: 'lambada-like', ...DEFAULT_SETTINGS, targetDelimiter: '', skipped: [], items };
    const result = evaluateTask(model, asciiTokenizer, task);
    assert.deepEqual(result.perItem.map((p) => p.correct), [true, false]);
    assert.deepEqual([result.acc, result.accNorm, result.chance, result.centered], [0.5, null, 0, 0.5]);
    assert.deepEqual(result.perItem[0]!.scores, scoreLoglikelihoods(model, asciiTokenizer, [{ context, continuation: greedy }]).map((r) => r.logprob));
  });

  it('draws few-shot examples from the other items with a fixed seed, and writes them as the harness does', () => {
    const file = join(root, 'count.jsonl');
    const lines = [JSON.stringify({ task: { description: 'Count.\n\n', chance: 0.5 } })];
    for (let i = 0; i < 6; i++) lines.push(JSON.stringify({ context: `${i}+1=`, choices: [`${i + 1}`, `${i + 2}`], label: 0 }));
    writeFileSync(file, lines.join('\n'));
    const task = readTaskFile(file, 'count');
    const run = () => evaluateTask(model, asciiTokenizer, task, { fewshot: 2, seed: 7 });
    assert.deepEqual(run().perItem.map((p) => p.scores), run().perItem.map((p) => p.scores));
    const shotsOf0 = itemRequests(task, task.items[0]!, [task.items[3]!, task.items[1]!]);
    assert.equal(shotsOf0[0]!.context, 'Count.\n\n3+1= 4\n\n1+1= 2\n\n0+1=');
    assert.equal(run().chance, 0.5);
    assert.throws(() => evaluateTask(model, asciiTokenizer, task, { fewshot: 6 }), /6 few-shot examples asked, but the task has only 5 other items/);
  });

  it('names the file, line and field of a bad task line', () => {
    const file = join(root, 'bad.jsonl');
    writeFileSync(file, '{"context": "a", "choices": ["x", "y"], "label": 5}\n');
    assert.throws(() => readTaskFile(file, 'bad'), new RegExp(`${file}:1: "label" must be an option index 0..1, got 5`));
  });
});

/** A local hub serving parquet files at the paths the hub's parquet conversion uses. */
async function localHub(files: Record<string, Uint8Array>): Promise<{ url: string; requests: string[]; close: () => void }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url!);
    const body = files[decodeURIComponent(req.url!)];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(Buffer.from(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => server.close() };
}

describe('named benchmarks from the hub', () => {
  it('reads HellaSwag, ARC-Easy/Challenge, PIQA, Winogrande, LAMBADA and MMLU parquet rows into the harness\'s text', async () => {
    const parquet = (columnData: { name: string; data: unknown[] }[]) => new Uint8Array(parquetWriteBuffer({ columnData }));
    const hub = await localHub({
      '/datasets/Rowan/hellaswag/resolve/refs/convert/parquet/default/validation/0000.parquet': parquet([
        { name: 'activity_label', data: ['Baking cookies'] }, { name: 'ctx_a', data: ['A woman mixes flour [header] in a bowl.'] },
        { name: 'ctx_b', data: ['she'] }, { name: 'endings', data: [['adds  eggs.', 'leaves.']] }, { name: 'label', data: ['0'] },
      ]),
      '/datasets/allenai/ai2_arc/resolve/refs/convert/parquet/ARC-Easy/test/0000.parquet': parquet([
        { name: 'question', data: ['Which is a liquid?'] }, { name: 'choices', data: [{ text: ['ice', 'water', 'steam'], label: ['A', 'B', 'C'] }] },
        { name: 'answerKey', data: ['B'] },
      ]),
      '/datasets/allenai/ai2_arc/resolve/refs/convert/parquet/ARC-Challenge/test/0000.parquet': parquet([
        { name: 'question', data: ['Which gas do plants take in?'] }, { name: 'choices', data: [{ text: ['oxygen', 'carbon dioxide'], label: ['1', '2'] }] },
        { name: 'answerKey', data: ['2'] },
      ]),
      '/datasets/baber/piqa/resolve/refs/convert/parquet/default/validation/0000.parquet': parquet([
        { name: 'goal', data: ['Open a jar'] }, { name: 'sol1', data: ['Twist the lid.'] }, { name: 'sol2', data: ['Shake the jar.'] }, { name: 'label', data: [0] },
      ]),
      '/datasets/EleutherAI/lambada_openai/resolve/refs/convert/parquet/default/test/0000.parquet': parquet([
        { name: 'text', data: ['He opened the door and saw his old friend Tom'] },
      ]),
      '/datasets/cais/mmlu/resolve/refs/convert/parquet/all/test/0000.parquet': parquet([
        { name: 'question', data: [' What is 2 + 2? '] }, { name: 'subject', data: ['elementary_mathematics'] },
        { name: 'choices', data: [['3', '4', '5', '22']] }, { name: 'answer', data: [1] },
      ]),
      '/datasets/allenai/winogrande/resolve/refs/convert/parquet/winogrande_xl/validation/0000.parquet': parquet([
        { name: 'sentence', data: ['Ann gave Sue a gift because _ was kind.'] }, { name: 'option1', data: ['Ann'] },
        { name: 'option2', data: ['Sue'] }, { name: 'answer', data: ['1'] },
      ]),
    });
    try {
      const options = { endpoint: hub.url, cacheDir: join(root, 'hub') };
      const hellaswag = await loadTask('hellaswag', options);
      assert.deepEqual(hellaswag.items[0], { kind: 'multiple_choice', contexts: ['Baking cookies: A woman mixes flour in a bowl. She'], continuations: ['adds eggs.', 'leaves.'], label: 0, source: 'Rowan/hellaswag validation row 0' });
      const arc = await loadTask('arc_easy', options);
      assert.deepEqual([arc.items[0]!.contexts, arc.items[0]!.continuations, arc.items[0]!.label], [['Question: Which is a liquid?\nAnswer:'], ['ice', 'water', 'steam'], 1]);
      const wino = await loadTask('winogrande', options);
      assert.deepEqual([wino.items[0]!.contexts, wino.items[0]!.continuations, wino.items[0]!.label], [['Ann gave Sue a gift because Ann', 'Ann gave Sue a gift because Sue'], ['was kind.'], 0]);
      const challenge = await loadTask('arc_challenge', options);
      assert.deepEqual([challenge.items[0]!.contexts, challenge.items[0]!.continuations, challenge.items[0]!.label], [['Question: Which gas do plants take in?\nAnswer:'], ['oxygen', 'carbon dioxide'], 1]);
      const piqa = await loadTask('piqa', options);
      assert.deepEqual([piqa.items[0]!.contexts, piqa.items[0]!.continuations, piqa.items[0]!.label], [['Question: Open a jar\nAnswer:'], ['Twist the lid.', 'Shake the jar.'], 0]);
      // LAMBADA: the passage but its last word, then ' word' scored greedily with no delimiter of its own.
      const lambada = await loadTask('lambada', options);
      assert.deepEqual([lambada.items[0]!.kind, lambada.items[0]!.contexts, lambada.items[0]!.continuations, lambada.targetDelimiter],
        ['greedy', ['He opened the door and saw his old friend'], [' Tom'], '']);
      // MMLU: the lettered choices in the prompt, the letter scored, the subject in the description.
      const mmlu = await loadTask('mmlu', options);
      assert.deepEqual(itemRequests(mmlu, mmlu.items[0]!)[1], {
        context: 'The following are multiple choice questions (with answers) about elementary mathematics.\n\nWhat is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer:',
        continuation: ' B',
      });
      assert.equal(mmlu.items[0]!.label, 1);
      // Cached: a second load makes no request.
      const before = hub.requests.length;
      await loadTask('hellaswag', { ...options, offline: true });
      assert.equal(hub.requests.length, before);
      await assert.rejects(loadTask('piqa', { ...options, cacheDir: join(root, 'empty-hub'), offline: true }), /offline mode is on .* HF_ENDPOINT/);
      await assert.rejects(loadTask('nope'), /unknown task 'nope': give a .jsonl task file or one of hellaswag, arc_easy/);
      // The CLI reaches the hub through HF_ENDPOINT and caches under HF_HOME; HF_HUB_OFFLINE=1 then needs no network.
      const ckpt = join(root, 'hub-ckpt.safetensors');
      saveCheckpoint(ckpt, tinyModel(), null, { iter_num: 0, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
      const home = join(root, 'hf-home');
      const online = await runInkwell(['eval', `--checkpoint=${ckpt}`, '--task=arc_easy'], { env: { HF_ENDPOINT: hub.url, HF_HOME: home } });
      assert.equal(online.code, 0, online.stderr);
      assert.match(online.stdout, /^arc_easy: 1 items \(0-shot\), acc [01]\.0000, acc_norm [01]\.0000, chance 0\.3333/m);
      const requests = hub.requests.length;
      const offline = await runInkwell(['eval', `--checkpoint=${ckpt}`, '--task=arc_easy'], { env: { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HOME: home, HF_HUB_OFFLINE: '1' } });
      assert.equal(offline.stdout, online.stdout, offline.stderr);
      assert.equal(hub.requests.length, requests);
    } finally {
      hub.close();
    }
  });
});

describe('a suite and its score', () => {
  it('prints a row per task, the mean centred score, and writes the JSON', async () => {
    const a = join(root, 'a.jsonl'), b = join(root, 'b.jsonl');
    writeFileSync(a, [0, 1, 2, 3].map((i) => JSON.stringify({ context: `Q${i}:`, choices: ['yes', 'no', 'maybe', 'so'], label: i % 4 })).join('\n'));
    writeFileSync(b, [0, 1].map((i) => JSON.stringify({ contexts: ['It was', 'It is'], continuation: `time ${i}`, label: i })).join('\n'));
    const suiteFile = join(root, 'suite.json');
    writeFileSync(suiteFile, JSON.stringify({ name: 'mini', tasks: [{ task: 'a.jsonl', metric: 'acc_norm' }, { task: 'b.jsonl', chance: 0.5 }] }));
    const model = tinyModel({ block_size: 32 });
    const suite = readSuite(suiteFile);
    const result = await runSuite(model, asciiTokenizer, suite, (e) => loadTask(e.task));
    const [ta, tb] = result.tasks;
    assert.equal(ta!.chance, 0.25);
    assert.ok(Math.abs(ta!.score - (ta!.accNorm! - 0.25) / 0.75) < 1e-12);
    assert.ok(Math.abs(tb!.score - (tb!.acc - 0.5) / 0.5) < 1e-12);
    assert.ok(Math.abs(result.score - (ta!.score + tb!.score) / 2) < 1e-12);
    writeFileSync(join(root, 'bad-suite.json'), JSON.stringify({ tasks: [{ task: 'b.jsonl', metric: 'acc_norm' }] }));
    await assert.rejects(runSuite(model, asciiTokenizer, readSuite(join(root, 'bad-suite.json')), (e) => loadTask(e.task)), /task b has no acc_norm/);
    writeFileSync(join(root, 'bad-suite2.json'), JSON.stringify({ tasks: [{ task: 'a.jsonl', shots: 3 }] }));
    assert.throws(() => readSuite(join(root, 'bad-suite2.json')), /tasks\[0\]: unknown field "shots"/);

    // The CLI: the table, the score line, the JSON and bits per byte.
    const ckpt = join(root, 'ckpt.safetensors');
    saveCheckpoint(ckpt, model, null, { iter_num: 0, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
    const out = join(root, 'suite-result.json');
    const run = await runInkwell(['eval', `--checkpoint=${ckpt}`, `--suite=${suiteFile}`, `--out=${out}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^task +items shots +acc acc_norm +chance +centred\na +4 +0 /m);
    assert.match(run.stdout, /mini: score -?\d\.\d{4} \(mean accuracy centred on chance over 2 tasks\)/);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).tasks.length, 2);
    const task = await runInkwell(['eval', `--checkpoint=${ckpt}`, `--task=${a}`, '--num_fewshot=1']);
    assert.match(task.stdout, /^a: 4 items \(1-shot\), acc \d\.\d{4}, acc_norm \d\.\d{4}, chance 0\.2500, centred -?\d\.\d{4}$/m);
    const text = join(root, 'text.txt');
    writeFileSync(text, 'To be, or not to be, that is the question. '.repeat(5));
    const ppl = await runInkwell(['eval', `--checkpoint=${ckpt}`, `--file=${text}`]);
    assert.match(ppl.stdout, /tokens, loss [\d.]+, perplexity [\d.]+, [\d.]+ bits per byte/);
    const [, loss, bpb] = /loss ([\d.]+).*, ([\d.]+) bits per byte/.exec(ppl.stdout)!;
    // One byte per token for this character vocabulary: bits per byte = loss / ln 2.
    assert.ok(Math.abs(Number(bpb) - Number(loss) / Math.LN2) < 2e-4);
    const both = await runInkwell(['eval', `--checkpoint=${ckpt}`, `--task=${a}`, `--suite=${suiteFile}`]);
    assert.equal(both.code, 2);
    // An exact-match few-shot file runs through --task too, whatever its header's first key.
    const exact = join(root, 'exact.jsonl');
    writeFileSync(exact, `${JSON.stringify({ instruction: 'Answer.', shots: [{ prompt: 'a?', answer: 'b' }] })}\n${JSON.stringify({ prompt: 'c?', answer: 'd' })}\n`);
    const fewshot = await runInkwell(['eval', `--checkpoint=${ckpt}`, `--task=${exact}`]);
    assert.equal(fewshot.code, 0, fewshot.stderr);
    assert.match(fewshot.stdout, /exact\.jsonl: 1 examples \(1 shot\), \d exact matches/);
  });
});
