// `inkwell finetune classify`: a GPT with a class head on its last token, trained on labelled text.
import { setDropout } from '../model/decoder.js';
import { evaluateClassifier, trainClassifier } from '../finetune/classify.js';
import { encodeExamples, labelSet, loadClassificationFile, type LoadedExamples } from '../finetune/classify-data.js';
import { Classifier, saveClassifier } from '../finetune/classifier.js';
import { keepBest } from '../finetune/keep-best.js';
import { formatReport } from '../finetune/metrics.js';
import { UsageError, type Options } from './args.js';
import {
  applyPeftOptions, badLinePolicy, baseModelName, DATA_OPTIONS, FineTuneReport, LOOP_OPTIONS, LOOP_USAGE, loopConfigFromOptions, PEFT_OPTIONS, reportSkipped, reportUnmerged, splitHeldOut, stopOnDivergence, type LoopDefaults,
} from './finetune-options.js';
import { DEFAULT_CHECKPOINT, MODEL_OPTIONS, MODEL_USAGE, modelFromOptions } from './model-options.js';

export const summary = 'replace the LM head with a class head and train it on labelled text (CSV or JSONL)';

const DEFAULTS: LoopDefaults = { max_iters: 300, batch_size: 16, learning_rate: 1e-3, eval_interval: 50 };

export const usage = `usage: inkwell finetune classify --data=FILE [--checkpoint=FILE|DIR | --init=NAME|DIR] [options]

Trains a classifier: the base GPT with a new head (HF GPT2ForSequenceClassification's score.weight,
[num_labels, n_embd], no bias) reading the hidden state of each text's last token. FILE is CSV with a
header holding \`text\` and \`label\` columns, or JSONL of {"text": …, "label": …}. Labels are strings or
numbers; with --multi_label a label is a JSON list, or in CSV labels separated by '|', and every label
gets its own sigmoid (binary cross-entropy) instead of one softmax. Texts longer than the context keep
their last block_size tokens (counted and reported). The best held-out accuracy is saved to
OUT_DIR/ckpt.safetensors (default out-finetune-classify) with the labels; predict with \`inkwell classify\`.

  --multi_label            several labels per text

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${MODEL_USAGE}

${LOOP_USAGE(DEFAULTS)}`;

export const booleanFlags = ['multi_label'];

export const options = [...MODEL_OPTIONS, ...DATA_OPTIONS, ...LOOP_OPTIONS, ...PEFT_OPTIONS, 'multi_label'];

export async function run(args: string[], opts: Options): Promise<void> {
  opts.rejectUnknown(options);
  if (args.length) throw new UsageError(`unexpected argument '${args[0]}' (give the data as --data=FILE)`);
  const dataFile = opts.string('data');
  if (!dataFile) throw new UsageError('give the training data: --data=FILE (CSV or JSONL with text and label)');
  const multiLabel = opts.flag('multi_label');
  const policy = badLinePolicy(opts);
  const config = loopConfigFromOptions(opts, DEFAULTS);
  const outDir = opts.string('out_dir', 'out-finetune-classify')!;

  const loaded = loadClassificationFile(dataFile, multiLabel, policy);
  reportSkipped(dataFile, loaded.skipped);
  let trainSet: LoadedExamples, valSet: LoadedExamples;
  const valFile = opts.string('val');
  if (valFile) {
    if (opts.has('val_fraction')) throw new UsageError('give either --val or --val_fraction, not both');
    trainSet = loaded;
    valSet = loadClassificationFile(valFile, multiLabel, policy);
    reportSkipped(valFile, valSet.skipped);
  } else {
    const split = splitHeldOut(loaded.examples, opts.number('val_fraction', 0.1)!, config.seed);
    trainSet = { ...loaded, examples: split.train };
    valSet = { ...loaded, examples: split.val };
  }
  const labels = labelSet(trainSet.examples);

  const { model, tokenizer, state } = await modelFromOptions(opts);
  setDropout(model, config.dropout);
  const blockSize = model.contextLength;
  const train = encodeExamples(trainSet, labels, tokenizer, blockSize, policy);
  const val = encodeExamples(valSet, labels, tokenizer, blockSize, policy);
  reportSkipped(valSet.file, val.unknownLabel, 'left out (label not in the training data)');
  if (val.examples.length === 0) throw new Error('no held-out examples left to evaluate on');
  console.log(`${train.examples.length} training and ${val.examples.length} held-out examples, ${labels.length} labels: ${labels.join(', ')}${multiLabel ? ' (multi-label)' : ''}`);
  if (train.truncated + val.truncated) console.log(`truncated to the last ${blockSize} tokens: ${train.truncated} training and ${val.truncated} held-out examples`);

  const classifier = new Classifier(model, labels, multiLabel, config.seed);
  console.log(applyPeftOptions(classifier, opts, (name) => name.startsWith('score.')));
  const baseName = baseModelName(opts);
  let bestIter = 0, bestLoss = NaN;
  const writeCheckpoint = (path: string) => saveClassifier(path, classifier, {
    iter_num: bestIter, best_val_loss: bestLoss, tokenizer: tokenizer.toJSON(), dataset: { train: dataFile, val: valFile ?? null, base: baseName, base_dataset: state?.dataset ?? null },
  });
  const keeper = keepBest(classifier, outDir, baseName, writeCheckpoint);
  const report = new FineTuneReport(outDir, `inkwell finetune classify → ${outDir}`, opts,
    { data: dataFile, val: valFile ?? 'held out of --data', train_examples: train.examples.length, val_examples: val.examples.length, base: baseName });
  const result = report.guard(() => stopOnDivergence(keeper, () => bestIter, () => trainClassifier(classifier, train.examples, val.examples, config, report.hooks, (iter, score) => {
    bestIter = iter;
    bestLoss = score?.loss ?? NaN;
    keeper.save();
  })));
  const written = keeper.finish();
  console.log(`best held-out accuracy at step ${result.bestIter}; saved ${written.join(' and ')}`);
  const evaluation = evaluateClassifier(classifier, val.examples);
  console.log(formatReport(evaluation.report));
  reportUnmerged(written);
  const path = await report.finish(classifier, { result, decoder: model, dtype: config.dtype }, { results: { 'best step': result.bestIter, 'best held-out score': result.best?.value ?? 'none', saved: written.join(', ') },
    samples: [formatReport(evaluation.report)] });
  console.log(`report: ${path}`);
}
