// The classification head: gradients against finite differences, last-real-token reading of padded
// mixed-length batches, the losses, metrics on a hand-worked example, save/load, and learning.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { padBatch } from '../src/finetune/batch.js';
import { classifierLoss, evaluateClassifier, trainClassifier } from '../src/finetune/classify.js';
import type { EncodedExample } from '../src/finetune/classify-data.js';
import { Classifier, loadClassifier, saveClassifier } from '../src/finetune/classifier.js';
import { multiLabelReport, singleLabelReport, formatReport } from '../src/finetune/metrics.js';
import { binaryCrossEntropyWithLogits } from '../src/finetune/ops.js';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { Rng } from '../src/tensor/random.js';
import { noGrad, Tensor } from '../src/tensor/tensor.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { maxAbsDiff, numericGrad } from './helpers.js';

const config: GPTConfig = { n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, vocab_size: 11, dropout: 0, bias: true };

function example(ids: number[], label: number, L = 3): EncodedExample {
  return { line: 0, ids, label, targets: Array.from({ length: L }, (_, c) => c === label) };
}

/** Central differences of f over every element of p, compared with the analytic gradient. */
function checkGradient(p: Tensor, f: () => number, analytic: Float32Array): number {
  return maxAbsDiff(numericGrad(p.data, p.data.keys(), f), analytic);
}

describe('classification head', () => {
  const batch = [example([1, 2, 3, 4], 0), example([5, 6], 2), example([7, 8, 9], 1)];

  for (const multiLabel of [false, true]) {
    it(`${multiLabel ? 'multi-label BCE' : 'softmax cross-entropy'}: head and last-layer gradients match finite differences`, () => {
      const gpt = new GPT(config, { seed: 3 });
      const clf = new Classifier(gpt, ['a', 'b', 'c'], multiLabel, 5);
      clf.eval();
      const multi = [example([1, 2, 3, 4], 0), { ...example([5, 6], 2), targets: [true, false, true] }, example([7, 8, 9], 1)];
      const data = multiLabel ? multi : batch;
      const loss = classifierLoss(clf, data);
      loss.backward();
      const f = () => noGrad(() => classifierLoss(clf, data).item());
      const head = clf.score;
      assert.ok(checkGradient(head, f, head.grad!) < 2e-3, 'score.weight');
      const lnf = gpt.transformer.ln_f.weight;
      assert.ok(checkGradient(lnf, f, lnf.grad!) < 2e-3, 'ln_f.weight (through the gather)');
    });
  }

  it('binaryCrossEntropyWithLogits matches the formula and is stable for large logits', () => {
    const z = Tensor.from([0, 2, -3, 50, -50], [5], true);
    const y = Float32Array.from([1, 0, 1, 1, 0]);
    const loss = binaryCrossEntropyWithLogits(z, y);
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const expected = [0, 2, -3, 50, -50].reduce((s, v, i) => s - (y[i]! ? Math.log(sig(v)) : Math.log(1 - sig(v) || 1)), 0) / 5;
    assert.ok(Math.abs(loss.item() - expected) < 1e-5);
    loss.backward();
    assert.ok(maxAbsDiff(z.grad!, [0, 2, -3, 50, -50].map((v, i) => (sig(v) - y[i]!) / 5)) < 1e-6);
  });

  it('reads the last real token: a padded mixed-length batch gives each text\'s unpadded logits', () => {
    const gpt = new GPT(config, { seed: 7 });
    const clf = new Classifier(gpt, ['a', 'b', 'c'], false, 1);
    clf.eval();
    const rows = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 1, 2]];
    const together = noGrad(() => clf.logits(padBatch(rows)).data);
    rows.forEach((row, b) => {
      const alone = noGrad(() => clf.logits(padBatch([row])).data);
      assert.ok(maxAbsDiff(alone, together.subarray(b * 3, b * 3 + 3)) < 1e-5, `row ${b}`);
    });
    // and not the padding's: the same rows padded with another id give the same logits
    const other = padBatch(rows);
    other.idx.forEach((v, i) => { if (v === 0) other.idx[i] = 3; });
    assert.ok(maxAbsDiff(noGrad(() => clf.logits(other).data), together) < 1e-6);
  });

  it('saves and loads the head, labels and tokenizer', () => {
    const gpt = new GPT(config, { seed: 7 });
    const clf = new Classifier(gpt, ['neg', 'pos'], false, 1);
    const path = join(mkdtempSync(join(tmpdir(), 'inkwell-clf-')), 'ckpt.safetensors');
    const tok = CharTokenizer.fromText('abcdefghijk');
    saveClassifier(path, clf, { iter_num: 3, best_val_loss: 0.5, tokenizer: tok.toJSON() });
    const loaded = loadClassifier(path);
    assert.deepEqual(loaded.classifier.labels, ['neg', 'pos']);
    assert.equal(loaded.tokenizer.decode([0, 1]), 'ab');
    const probe = [[1, 2, 3]];
    assert.ok(maxAbsDiff(loaded.classifier.predict(probe)[0]!, clf.predict(probe)[0]!) < 1e-6);
  });

  it('learns a label that depends on the first token, far above the majority baseline', () => {
    // Label = which of 3 groups the text's first token belongs to: needs attention, not just the last token.
    const rng = new Rng(11);
    const make = (n: number) => Array.from({ length: n }, () => {
      const first = 1 + rng.int(9);
      const ids = [first, ...Array.from({ length: 2 + rng.int(4) }, () => 1 + rng.int(10))];
      return example(ids, (first - 1) % 3);
    });
    const train = make(300), val = make(60);
    const gpt = new GPT({ ...config, n_embd: 32 }, { seed: 2 });
    const clf = new Classifier(gpt, ['a', 'b', 'c'], false, 4);
    const before = evaluateClassifier(clf, val).report.accuracy;
    trainClassifier(clf, train, val, { max_iters: 150, batch_size: 16, learning_rate: 3e-3, warmup_iters: 10, weight_decay: 0, grad_clip: 1, eval_interval: 50, seed: 1 });
    const after = evaluateClassifier(clf, val).report;
    assert.ok(after.accuracy > 0.9, `accuracy ${after.accuracy} (before ${before}, baseline ${after.majorityBaseline})`);
    assert.ok(after.accuracy > after.majorityBaseline + 0.4);
  });
});

describe('metrics', () => {
  it('precision, recall, F1 and the confusion matrix of a hand-worked example', () => {
    // truth:     a a a b b c
    // predicted: a a b b c c
    const r = singleLabelReport(['a', 'b', 'c'], [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]);
    assert.deepEqual(r.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
    assert.equal(r.accuracy, 4 / 6);
    assert.equal(r.majorityBaseline, 3 / 6);
    const [a, b, c] = r.perClass;
    assert.deepEqual([a!.precision, a!.recall, a!.f1, a!.support], [1, 2 / 3, 0.8, 3]);
    assert.deepEqual([b!.precision, b!.recall, b!.f1], [0.5, 0.5, 0.5]);
    assert.deepEqual([c!.precision, c!.recall], [0.5, 1]);
    assert.ok(Math.abs(c!.f1 - 2 / 3) < 1e-12);
    assert.ok(Math.abs(r.macroF1 - (0.8 + 0.5 + 2 / 3) / 3) < 1e-12);
    assert.match(formatReport(r), /accuracy 66\.7% on 6 held-out examples \(majority-class baseline 50\.0%\)/);
    assert.match(formatReport(r), /confusion matrix/);
  });

  it('a class never predicted scores 0, not NaN; multi-label uses exact match', () => {
    const r = singleLabelReport(['a', 'b'], [0, 1], [0, 0]);
    assert.deepEqual([r.perClass[1]!.precision, r.perClass[1]!.f1], [0, 0]);
    const m = multiLabelReport(['x', 'y'], [[true, true], [false, true], [true, false]], [[true, true], [true, true], [true, false]]);
    assert.equal(m.accuracy, 2 / 3);
    assert.deepEqual([m.perClass[0]!.tp, m.perClass[0]!.fp, m.perClass[0]!.fn], [2, 1, 0]);
    assert.equal(m.confusion, null);
  });
});
