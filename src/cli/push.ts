// `inkwell push DIR --repo=owner/name`: uploads an HF model folder (as `inkwell export --format=hf` or a
// fine-tuning run writes it) to the Hugging Face hub, with a README model card made from config.json and
// the run's report card when the folder has none.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { pushFolder } from '../io/push.js';
import { modelCard } from '../report/model-card.js';
import { UsageError, type Options } from './args.js';

export const usage = `usage: inkwell push DIR --repo=owner/name [--run=RUN_DIR] [--private]

Uploads the HF folder DIR (config.json, model.safetensors, tokenizer files, …: its top-level files) to the
Hugging Face hub in one commit, creating the repository if needed. Without a README.md in DIR one is
written there first: a model card with the model's shape and, from RUN_DIR/run.json (default DIR/run.json),
the training figures of the run's report card.
  --repo=owner/name   the model repository
  --run=RUN_DIR       the run folder whose run.json the model card quotes
  --private           create the repository private
Environment: HF_TOKEN (a token with write access, required), HF_ENDPOINT (another hub URL).`;

export const booleanFlags = ['private'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(['repo', 'run', 'private']);
  const [dir, ...extra] = args;
  if (!dir || extra.length) throw new UsageError('push takes one folder (see inkwell push --help)');
  const repo = options.string('repo');
  if (!repo) throw new UsageError('--repo=owner/name is required');
  if (!existsSync(join(dir, 'config.json'))) throw new Error(`${dir}: no config.json; push uploads an HF model folder (make one with inkwell export SRC DIR --format=hf)`);
  const card = join(dir, 'README.md');
  if (!existsSync(card)) {
    writeFileAtomic(card, modelCard(dir, repo, options.string('run')));
    console.log(`wrote ${card} (model card)`);
  }
  const result = await pushFolder(dir, { repo, private: options.flag('private') });
  console.log(`${result.created ? 'created' : 'updated'} ${repo}: ${result.files.join(', ')}${result.commitUrl ? `\n${result.commitUrl}` : ''}`);
}
