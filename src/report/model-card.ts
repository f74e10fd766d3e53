// The README.md model card `inkwell push` uploads with a model folder: the hub's YAML front matter
// (library, pipeline, tags), what the model is (from config.json), how to run it, and — when the run's
// report card (run.json) is at hand — the training figures from it: results, cost, data, settings,
// machine, and the evaluation tables, so the hub page says what the model was trained on and how well.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../io/json.js';
import { evalTableMarkdown, facts, factsTable, formatValue, RUN_RECORD, type RunRecord } from './card.js';

/** The card's markdown for the HF folder `dir` pushed to `repo`; `runDir` holds the run.json (default: dir). */
export function modelCard(dir: string, repo: string, runDir = dir): string {
  const config = readJsonObject(join(dir, 'config.json'));
  const type = String(config.model_type ?? 'gpt2');
  const recordFile = join(runDir, RUN_RECORD);
  const record = existsSync(recordFile) ? (readJsonObject(recordFile) as unknown as RunRecord) : null;
  const size = (key: string) => (config[key] === undefined ? [] : [[key, formatValue(config[key])] as [string, string]]);
  const out = [
    '---',
    'library_name: transformers',
    'pipeline_tag: text-generation',
    `tags: [inkwell, ${type}]`,
    '---',
    '',
    `# ${repo.split('/').pop()}`,
    '',
    `A ${type} model trained with inkwell (GPT end to end in TypeScript on Node.js).`,
    '',
    '## Model',
    '',
    ...factsTable([
      ['architecture', `${type} (${JSON.stringify(config.architectures ?? [])})`],
      ...['n_layer', 'n_head', 'n_embd', 'n_positions', 'num_hidden_layers', 'hidden_size', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'max_position_embeddings', 'vocab_size'].flatMap(size),
    ]),
    '## Use',
    '',
    '```python',
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    `model = AutoModelForCausalLM.from_pretrained("${repo}")`,
    `tokenizer = AutoTokenizer.from_pretrained("${repo}")`,
    '```',
    '',
    '```sh',
    `npx inkwell sample --init=${repo}`,
    `npx inkwell export ${repo} model.gguf --dtype=q8_0   # for llama.cpp / Ollama`,
    '```',
    '',
  ];
  if (!record) return out.join('\n');
  out.push(`## Training: ${record.title}`, '');
  for (const [heading, rows] of facts(record)) {
    if (!rows.length || heading === 'Settings') continue;
    out.push(`### ${heading}`, '', ...factsTable(rows));
  }
  for (const t of record.evaluations ?? []) {
    out.push(`### ${t.title}`, '', ...evalTableMarkdown(t));
  }
  const settings = facts(record).find(([h]) => h === 'Settings')?.[1] ?? [];
  if (settings.length) out.push('<details><summary>Settings</summary>', '', ...factsTable(settings), '</details>', '');
  return out.join('\n');
}
