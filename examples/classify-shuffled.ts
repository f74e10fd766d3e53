// Classification fine-tuning: which of four characters (from four plays) speaks a line of
// tinyshakespeare. The base is the cached char-level GPT (examples/base-model.ts); the LM head is
// replaced by a class head on the last character and the whole model is fine-tuned. Held-out data are
// the lines of speeches the training never saw; the result is compared with the majority-class
// baseline. Also writes the data as JSONL, so the same run works from the command line:
//   inkwell finetune classify --checkpoint=out-examples/base-char-4x128/ckpt.safetensors \
//     --data=out-examples/speaker/train.jsonl --val=out-examples/speaker/val.jsonl
// Run: node dist/examples/classify-speaker.js
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateClassifier, trainClassifier } from '../src/finetune/classify.js';
import { encodeExamples, labelSet, loadClassificationFile } from '../src/finetune/classify-data.js';
import { GPTClassifier } from '../src/finetune/classifier.js';
import { formatReport } from '../src/finetune/metrics.js';
import { Rng } from '../src/tensor/random.js';
import { baseModel, OUT, requireShakespeare } from './base-model.js';

const SPEAKERS = ['GLOUCESTER', 'DUKE VINCENTIO', 'ROMEO', 'PETRUCHIO'];

/** One example per verse line of every speech by SPEAKERS; every 5th speech (shuffled) is held out. */
function speakerLines(text: string): { train: string[]; val: string[] } {
  const speeches = text.split('\n\n').map((block) => block.trim().split('\n')).filter((lines) => lines.length > 1 && SPEAKERS.includes(lines[0]!.slice(0, -1)));
  const rng = new Rng(7);
  const train: string[] = [], val: string[] = [];
  for (const [name, ...lines] of speeches) {
    const heldOut = rng.uniform() < 0.2;
    for (const line of lines) if (line.trim().length >= 12) (heldOut ? val : train).push(JSON.stringify({ text: line.trim(), label: name!.slice(0, -1) }));
  }
  return { train, val };
}

async function main(): Promise<void> {
  const corpus = readFileSync(requireShakespeare(), 'utf8');
  const dir = join(OUT, 'speaker');
  mkdirSync(dir, { recursive: true });
  const { train: trainLines, val: valLines } = speakerLines(corpus);
  writeFileSync(join(dir, 'train.jsonl'), trainLines.join('\n') + '\n');
  writeFileSync(join(dir, 'val.jsonl'), valLines.join('\n') + '\n');

  const { model, tokenizer } = await baseModel();
  const trainSet = loadClassificationFile(join(dir, 'train.jsonl'), false, 'stop');
  const valSet = loadClassificationFile(join(dir, 'val.jsonl'), false, 'stop');
  const labels = labelSet(trainSet.examples);
  const train = encodeExamples(trainSet, labels, tokenizer, model.config.block_size, 'stop');
  const val = encodeExamples(valSet, labels, tokenizer, model.config.block_size, 'stop');
  console.log(`speaker of a line: ${train.examples.length} training lines, ${val.examples.length} held-out lines (from unseen speeches), labels ${labels.join(', ')}`);

  const classifier = new GPTClassifier(model, labels, false, 1);
  const before = evaluateClassifier(classifier, val.examples).report;
  console.log(`before fine-tuning (random head): accuracy ${(100 * before.accuracy).toFixed(1)}%`);
  const t0 = performance.now();
  trainClassifier(classifier, train.examples, val.examples, {
    max_iters: 400, batch_size: 32, learning_rate: 1e-3, warmup_iters: 40, weight_decay: 0.01, grad_clip: 1, eval_interval: 100, seed: 1,
  }, { print: (line) => { if (line.startsWith('step')) console.log(`  ${line}`); } });
  const report = evaluateClassifier(classifier, val.examples).report;
  console.log(`fine-tuned in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log(formatReport(report));
  console.log(`RESULT classify-speaker: held-out accuracy ${(100 * report.accuracy).toFixed(1)}% vs majority-class baseline ${(100 * report.majorityBaseline).toFixed(1)}%`);
}

await main();
