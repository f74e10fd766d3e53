// Classification metrics on held-out data: accuracy, per-class precision/recall/F1 (a class never
// predicted or never present scores 0 where its denominator is 0, as scikit-learn's zero_division=0),
// macro F1, the majority-class baseline, and a confusion matrix (single-label) or per-class counts
// (multi-label, where accuracy is the exact match of the whole label set).

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Examples that truly carry the class. */
  support: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface ClassificationReport {
  n: number;
  /** Fraction of examples predicted exactly right (the whole label set when multi-label). */
  accuracy: number;
  macroF1: number;
  /** Accuracy of always predicting the most common truth (its label set when multi-label). */
  majorityBaseline: number;
  perClass: ClassMetrics[];
  /** Single-label only: confusion[true][predicted] counts. */
  confusion: number[][] | null;
}

function classMetrics(label: string, tp: number, fp: number, fn: number): ClassMetrics {
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { label, precision, recall, f1, support: tp + fn, tp, fp, fn };
}

function checkIndex(i: number, labels: readonly string[], what: string): void {
  if (!(Number.isInteger(i) && i >= 0 && i < labels.length)) throw new Error(`${what} label index ${i} is outside 0..${labels.length - 1}`);
}

/** Metrics of single-label predictions; truth and predicted are label indices. */
export function singleLabelReport(labels: readonly string[], truth: readonly number[], predicted: readonly number[]): ClassificationReport {
  if (truth.length !== predicted.length) throw new Error(`${truth.length} true labels but ${predicted.length} predictions`);
  if (truth.length === 0) throw new Error('no examples to evaluate');
  const L = labels.length;
  const confusion = Array.from({ length: L }, () => new Array<number>(L).fill(0));
  truth.forEach((t, i) => {
    checkIndex(t, labels, 'true');
    checkIndex(predicted[i]!, labels, 'predicted');
    confusion[t]![predicted[i]!]!++;
  });
  const perClass = labels.map((label, c) => {
    const tp = confusion[c]![c]!;
    const fn = confusion[c]!.reduce((s, v) => s + v, 0) - tp;
    const fp = confusion.reduce((s, row) => s + row[c]!, 0) - tp;
    return classMetrics(label, tp, fp, fn);
  });
  const correct = labels.reduce((s, _, c) => s + confusion[c]![c]!, 0);
  return {
    n: truth.length,
    accuracy: correct / truth.length,
    macroF1: perClass.reduce((s, m) => s + m.f1, 0) / L,
    majorityBaseline: Math.max(...perClass.map((m) => m.support)) / truth.length,
    perClass,
    confusion,
  };
}

/** Metrics of multi-label predictions; truth and predicted are 0/1 rows of labels.length. */
export function multiLabelReport(labels: readonly string[], truth: readonly (readonly boolean[])[], predicted: readonly (readonly boolean[])[]): ClassificationReport {
  if (truth.length !== predicted.length) throw new Error(`${truth.length} true label sets but ${predicted.length} predictions`);
  if (truth.length === 0) throw new Error('no examples to evaluate');
  const L = labels.length;
  const tp = new Array<number>(L).fill(0), fp = new Array<number>(L).fill(0), fn = new Array<number>(L).fill(0);
  let exact = 0;
  const sets = new Map<string, number>();
  truth.forEach((t, i) => {
    const p = predicted[i]!;
    if (t.length !== L || p.length !== L) throw new Error(`example ${i}: label rows must have ${L} entries`);
    let same = true;
    for (let c = 0; c < L; c++) {
      if (t[c] && p[c]) tp[c]++;
      else if (p[c]) fp[c]++;
      else if (t[c]) fn[c]++;
      if (t[c] !== p[c]) same = false;
    }
    if (same) exact++;
    const key = t.map(Number).join('');
    sets.set(key, (sets.get(key) ?? 0) + 1);
  });
  const perClass = labels.map((label, c) => classMetrics(label, tp[c]!, fp[c]!, fn[c]!));
  return {
    n: truth.length,
    accuracy: exact / truth.length,
    macroF1: perClass.reduce((s, m) => s + m.f1, 0) / L,
    majorityBaseline: Math.max(...sets.values()) / truth.length,
    perClass,
    confusion: null,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The report as a text table. */
export function formatReport(report: ClassificationReport): string {
  const width = Math.max(5, ...report.perClass.map((m) => m.label.length));
  const lines = [
    `${report.confusion ? 'accuracy' : 'exact match'} ${pct(report.accuracy)} on ${report.n} held-out examples (majority-class baseline ${pct(report.majorityBaseline)}), macro F1 ${report.macroF1.toFixed(3)}`,
    `${'class'.padEnd(width)}  precision  recall     f1  support`,
    ...report.perClass.map((m) => `${m.label.padEnd(width)}  ${m.precision.toFixed(3).padStart(9)}  ${m.recall.toFixed(3).padStart(6)}  ${m.f1.toFixed(3).padStart(5)}  ${String(m.support).padStart(7)}`),
  ];
  if (report.confusion) {
    const cell = Math.max(5, ...report.confusion.flat().map((v) => String(v).length), ...report.perClass.map((m) => m.label.length));
    lines.push('confusion matrix (rows: true, columns: predicted)');
    lines.push(`${''.padEnd(width)}  ${report.perClass.map((m) => m.label.padStart(cell)).join(' ')}`);
    report.confusion.forEach((row, c) => lines.push(`${report.perClass[c]!.label.padEnd(width)}  ${row.map((v) => String(v).padStart(cell)).join(' ')}`));
  } else {
    lines.push('per-class counts: ' + report.perClass.map((m) => `${m.label} tp=${m.tp} fp=${m.fp} fn=${m.fn}`).join(', '));
  }
  return lines.join('\n');
}
