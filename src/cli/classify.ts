// `inkwell classify`: labels texts with a classifier from `inkwell finetune classify`.
import { evaluateClassifier } from '../finetune/classify.js';
import { encodeExamples, loadClassificationFile } from '../finetune/classify-data.js';
import { loadClassifier } from '../finetune/classifier.js';
import { readRecords } from '../io/records.js';
import { formatReport } from '../finetune/metrics.js';
import { UsageError, type Options } from './args.js';
import { badLinePolicy, reportSkipped } from './finetune-options.js';

export const usage = `usage: inkwell classify --checkpoint=FILE (TEXT ... | --file=FILE) [options]

Prints, for each TEXT or each line of FILE (JSONL with "text", or CSV with a text column), the predicted
label and its probability, most likely labels first (all labels above 0.5 for a multi-label model).
When every example of FILE also has a "label", the accuracy, per-class precision/recall/F1 and the
confusion matrix follow.

  --checkpoint=FILE        a classifier from \`inkwell finetune classify\`
  --file=FILE              texts to classify
  --top=3                  labels shown per text
  --json                   one JSON object per text instead
  --skip_bad_lines         skip malformed lines of FILE instead of stopping`;

export const booleanFlags = ['json', 'skip_bad_lines'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(['checkpoint', 'file', 'top', 'json', 'skip_bad_lines']);
  const checkpoint = options.string('checkpoint');
  if (!checkpoint) throw new UsageError('give the classifier: --checkpoint=FILE');
  const file = options.string('file');
  if (file && args.length) throw new UsageError('give texts either as arguments or as --file, not both');
  if (!file && !args.length) throw new UsageError('nothing to classify: give TEXT arguments or --file=FILE');
  const top = options.number('top', 3)!;
  if (!(Number.isInteger(top) && top >= 1)) throw new UsageError(`--top must be an integer ≥ 1, got ${top}`);
  const json = options.flag('json');
  const policy = badLinePolicy(options);

  const { classifier, tokenizer } = loadClassifier(checkpoint);
  let texts: string[];
  if (file) {
    const { records, skipped } = readRecords<string>(file, { onBadLine: policy, validate: textOf, columns: ['text'] });
    reportSkipped(file, skipped);
    texts = records.map((r) => r.value);
  } else {
    texts = args;
  }
  if (texts.length === 0) throw new Error(`${file}: no texts to classify`);
  const encoded = texts.map((t) => classifier.encode(tokenizer, t));
  const truncated = encoded.filter((e) => e.truncated).length;
  if (truncated) console.error(`${truncated} text${truncated === 1 ? '' : 's'} longer than the context (${classifier.base.contextLength} tokens): classified from the last tokens`);
  const probs = classifier.predict(encoded.map((e) => e.ids));
  probs.forEach((p, i) => {
    const ranked = [...p].map((prob, c) => ({ label: classifier.labels[c]!, prob })).sort((a, b) => b.prob - a.prob);
    const predicted = classifier.multiLabel ? ranked.filter((r) => r.prob >= 0.5).map((r) => r.label) : [ranked[0]!.label];
    if (json) {
      console.log(JSON.stringify({ text: texts[i], label: classifier.multiLabel ? predicted : predicted[0], probabilities: Object.fromEntries(ranked.map((r) => [r.label, r.prob])) }));
    } else {
      console.log(`${predicted.join('|') || '(none)'}\t${ranked.slice(0, top).map((r) => `${r.label} ${r.prob.toFixed(3)}`).join(', ')}\t${oneLine(texts[i]!)}`);
    }
  });

  if (file && !json) {
    const labelled = loadClassificationFile(file, classifier.multiLabel, 'skip');
    if (labelled.examples.length === texts.length) {
      const set = encodeExamples(labelled, classifier.labels, tokenizer, classifier.base.contextLength, policy);
      reportSkipped(file, set.unknownLabel, 'left out of the evaluation (label unknown to the classifier)');
      if (set.examples.length) console.log(formatReport(evaluateClassifier(classifier, set.examples).report));
    }
  }
}

function textOf(value: unknown): string {
  const text = (value as { text?: unknown } | null)?.text;
  if (typeof text !== 'string' || text === '') throw new Error(`"text" must be a non-empty string, got ${JSON.stringify(text)}`);
  return text;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 77)}…` : flat;
}
