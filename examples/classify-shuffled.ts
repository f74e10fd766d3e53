// Classification fine-tuning on a task generated from tinyshakespeare: is a line as Shakespeare wrote
// it, or are its words shuffled? Only a model that knows how English runs can tell, which is what the
// base's pretraining taught it. The base is the cached char-level GPT (examples/base-model.ts); the LM
// head is replaced by a class head on the last character and the whole model is fine-tuned. Training
// lines come from the first 90% of the text, held-out lines from the last 10%; the result is compared
// with the majority-class baseline. The data are written as JSONL, so the CLI does the same:
//   inkwell finetune classify --checkpoint=out-examples/base-char-4x128/ckpt.safetensors \
//     --data=out-examples/shuffled/train.jsonl --val=out-examples/shuffled/val.jsonl
// Run: node dist/examples/classify-shuffled.js
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateClassifier, trainClassifier } from '../src/finetune/classify.js';
import { encodeExamples, labelSet, loadClassificationFile } from '../src/finetune/classify-data.js';
import { Classifier } from '../src/finetune/classifier.js';
import { formatReport } from '../src/finetune/metrics.js';
import { Rng } from '../src/tensor/random.js';
import { baseModel, OUT, requireShakespeare } from './base-model.js';

const TRAIN = 3000, HELD_OUT = 600;

/** Lines of dialogue with at least 6 words (speaker names, "NAME:", are left out). */
function dialogueLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => !l.endsWith(':') && l.split(' ').length >= 6);
}

/** Half the lines keep their words' order, half get them shuffled (into a different order). */
function examples(lines: string[], n: number, rng: Rng): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const line = lines[rng.int(lines.length)]!;
    if (rng.uniform() < 0.5) {
      out.push(JSON.stringify({ text: line, label: 'original' }));
      continue;
    }
    const words = line.split(' ');
    let shuffled = line;
    while (shuffled === line) {
      for (let k = words.length - 1; k > 0; k--) {
        const j = rng.int(k + 1);
        [words[k], words[j]] = [words[j]!, words[k]!];
      }
      shuffled = words.join(' ');
    }
    out.push(JSON.stringify({ text: shuffled, label: 'shuffled' }));
  }
  return out;
}

async function main(): Promise<void> {
  const corpus = readFileSync(requireShakespeare(), 'utf8');
  const cut = Math.floor(corpus.length * 0.9);
  const rng = new Rng(7);
  const dir = join(OUT, 'shuffled');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.jsonl'), examples(dialogueLines(corpus.slice(0, cut)), TRAIN, rng).join('\n') + '\n');
  writeFileSync(join(dir, 'val.jsonl'), examples(dialogueLines(corpus.slice(cut)), HELD_OUT, rng).join('\n') + '\n');

  const { model, tokenizer } = await baseModel();
  const trainSet = loadClassificationFile(join(dir, 'train.jsonl'), false, 'stop');
  const valSet = loadClassificationFile(join(dir, 'val.jsonl'), false, 'stop');
  const labels = labelSet(trainSet.examples);
  const train = encodeExamples(trainSet, labels, tokenizer, model.contextLength, 'stop');
  const val = encodeExamples(valSet, labels, tokenizer, model.contextLength, 'stop');
  console.log(`original or shuffled words: ${train.examples.length} training lines, ${val.examples.length} held-out lines (from the last 10% of the text); truncated to the last ${model.contextLength} characters: ${train.truncated} + ${val.truncated}`);

  const classifier = new Classifier(model, labels, false, 1);
  const before = evaluateClassifier(classifier, val.examples).report;
  console.log(`before fine-tuning (random head): accuracy ${(100 * before.accuracy).toFixed(1)}%`);
  const t0 = performance.now();
  trainClassifier(classifier, train.examples, val.examples, {
    max_iters: 300, batch_size: 32, learning_rate: 1e-3, warmup_iters: 30, weight_decay: 0.01, grad_clip: 1, eval_interval: 100, seed: 1,
  }, { print: (line) => { if (line.startsWith('step')) console.log(`  ${line}`); } });
  const report = evaluateClassifier(classifier, val.examples).report;
  console.log(`fine-tuned in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log(formatReport(report));
  console.log(`RESULT classify-shuffled: held-out accuracy ${(100 * report.accuracy).toFixed(1)}% vs majority-class baseline ${(100 * report.majorityBaseline).toFixed(1)}%`);
}

await main();
