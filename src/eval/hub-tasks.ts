// The named benchmarks, read from the Hugging Face hub's parquet conversion of each dataset
// (refs/convert/parquet: <config>/<split>/0000.parquet) through the hub cache, and turned into task items
// as lm-evaluation-harness's task definitions build them (the text each model sees is the harness's).
// Parquet is read with hyparquet, the ecosystem's reader.
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { BadLinePolicy } from '../io/records.js';
import { hubFile, type HubOptions } from '../io/hub.js';
import { DEFAULT_SETTINGS, parseItem, readTaskFile, type Task, type TaskItem, type TaskSettings } from './tasks.js';

type Row = Record<string, unknown>;

interface Benchmark {
  repo: string;
  config: string;
  split: string;
  settings?: Partial<TaskSettings>;
  /** The item a dataset row makes (throws, naming the field, on a row it cannot read). */
  item(row: Row): Omit<TaskItem, 'source'>;
}

/** HellaSwag's clean-up of WikiHow text (the harness's preprocess). */
function hellaswagText(text: string): string {
  return text.trim().replace(/ \[title\]/g, '. ').replace(/\[.*?\]/g, '').replace(/ {2}/g, ' ');
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();

const BENCHMARKS: Record<string, Benchmark> = {
  hellaswag: {
    repo: 'Rowan/hellaswag', config: 'default', split: 'validation',
    item: (r) => parseItem({
      context: hellaswagText(`${field(r, 'activity_label')}: ${field(r, 'ctx_a')} ${capitalize(field(r, 'ctx_b'))}`),
      choices: list(r, 'endings').map(hellaswagText), label: Number(field(r, 'label')),
    }),
  },
  arc_easy: { repo: 'allenai/ai2_arc', config: 'ARC-Easy', split: 'test', item: (r) => arcItem(r) },
  arc_challenge: { repo: 'allenai/ai2_arc', config: 'ARC-Challenge', split: 'test', item: (r) => arcItem(r) },
  piqa: {
    repo: 'baber/piqa', config: 'default', split: 'validation',
    item: (r) => parseItem({ context: `Question: ${field(r, 'goal')}\nAnswer:`, choices: [field(r, 'sol1'), field(r, 'sol2')], label: Number(r.label) }),
  },
  winogrande: {
    repo: 'allenai/winogrande', config: 'winogrande_xl', split: 'validation',
    // Partial scoring: each option fills the blank and ends a context; the rest of the sentence is scored.
    item: (r) => {
      const sentence = field(r, 'sentence');
      const blank = sentence.indexOf('_');
      if (blank < 0) throw new Error('"sentence" has no blank (_)');
      return parseItem({
        contexts: [field(r, 'option1'), field(r, 'option2')].map((o) => sentence.slice(0, blank) + o),
        continuation: sentence.slice(blank + 1).trim(), label: Number(field(r, 'answer')) - 1,
      });
    },
  },
  lambada: {
    repo: 'EleutherAI/lambada_openai', config: 'default', split: 'test', settings: { targetDelimiter: '' },
    item: (r) => {
      const words = field(r, 'text').split(' ');
      return parseItem({ context: words.slice(0, -1).join(' '), continuation: ` ${words[words.length - 1]}` });
    },
  },
  mmlu: {
    repo: 'cais/mmlu', config: 'all', split: 'test',
    item: (r) => {
      const choices = list(r, 'choices');
      const letters = choices.map((_, i) => String.fromCharCode(65 + i));
      return {
        ...parseItem({
          context: `${field(r, 'question').trim()}\n${choices.map((c, i) => `${letters[i]}. ${c}`).join('\n')}\nAnswer:`,
          choices: letters, label: Number(r.answer),
        }),
        description: `The following are multiple choice questions (with answers) about ${field(r, 'subject').replace(/_/g, ' ')}.\n\n`,
      };
    },
  },
};

export const TASK_NAMES = Object.keys(BENCHMARKS);

/** ARC: "Question: …\nAnswer:" and the answer texts; answerKey is a letter or a digit. */
function arcItem(r: Row): Omit<TaskItem, 'source'> {
  const choices = r.choices as { text?: unknown; label?: unknown } | undefined;
  const texts = choices?.text, labels = choices?.label;
  if (!Array.isArray(texts) || !Array.isArray(labels)) throw new Error('"choices" must have "text" and "label" lists');
  return parseItem({ context: `Question: ${field(r, 'question')}\nAnswer:`, choices: texts, label: labels.indexOf(field(r, 'answerKey')) });
}

function field(r: Row, key: string): string {
  const v = r[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new Error(`"${key}" must be text, got ${JSON.stringify(v) ?? 'nothing'}`);
}

function list(r: Row, key: string): string[] {
  const v = r[key];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`"${key}" must be a list of strings, got ${JSON.stringify(v)}`);
  return v;
}

export interface LoadTaskOptions extends HubOptions {
  onBadLine?: BadLinePolicy;
}

/** A task from a JSONL file, or one of TASK_NAMES fetched from the hub (or its cache). */
export async function loadTask(nameOrFile: string, options: LoadTaskOptions = {}): Promise<Task> {
  const benchmark = BENCHMARKS[nameOrFile];
  if (!benchmark) {
    if (!/\.jsonl$/i.test(nameOrFile)) throw new Error(`unknown task '${nameOrFile}': give a .jsonl task file or one of ${TASK_NAMES.join(', ')}`);
    return readTaskFile(nameOrFile, nameOrFile.replace(/^.*[\\/]/, '').replace(/\.jsonl$/i, ''), options.onBadLine);
  }
  const file = `${benchmark.config}/${benchmark.split}/0000.parquet`;
  const path = await hubFile({ id: benchmark.repo, kind: 'dataset', revision: 'refs/convert/parquet' }, file, options);
  let rows: Row[];
  try {
    rows = await parquetReadObjects({ file: await asyncBufferFromFile(path), compressors }) as Row[];
  } catch (err) {
    throw new Error(`${path}: cannot read the parquet file (${(err as Error).message})`);
  }
  const items = rows.map((row, i) => {
    const source = `${benchmark.repo} ${benchmark.split} row ${i}`;
    try {
      return { ...benchmark.item(row), source };
    } catch (err) {
      throw new Error(`${source} (${path}): ${(err as Error).message}`);
    }
  });
  if (items.length === 0) throw new Error(`${path}: no rows`);
  return { name: nameOrFile, ...DEFAULT_SETTINGS, ...benchmark.settings, items, skipped: [] };
}
