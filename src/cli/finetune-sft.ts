// `inkwell finetune sft`: supervised (instruction / chat) fine-tuning of a GPT with a prompt template.
import { setDropout } from '../model/decoder.js';
import { complete, exactMatch } from '../finetune/complete.js';
import { keepBest } from '../finetune/keep-best.js';
import { encodeSftRecords, loadSftFile, packSftSequences, type SftRecord } from '../finetune/sft-data.js';
import { trainSft } from '../finetune/sft.js';
import { assistantTarget, getTemplate, modelTemplate, TEMPLATE_NAMES, type TemplateName } from '../finetune/template.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { UsageError, type Options } from './args.js';
import { EVAL_SUITE_USAGE } from './report.js';
import {
  applyPeftOptions, badLinePolicy, baseModelName, DATA_OPTIONS, FineTuneReport, LOOP_OPTIONS, LOOP_USAGE, loopConfigFromOptions, PEFT_OPTIONS, reportSkipped, reportUnmerged, splitHeldOut, stopOnDivergence, type LoopDefaults,
} from './finetune-options.js';
import { DEFAULT_CHECKPOINT, MODEL_OPTIONS, MODEL_USAGE, modelFromOptions } from './model-options.js';

export const summary = 'supervised fine-tuning on prompt/completion or chat JSONL, loss on completions only';

// --lora's defaults: on 300 "Repeat: w" → " w w" examples the full fine-tuning defaults leave LoRA at
// 0% held-out exact match and these reach 98%; lr 1e-2 for 1,000 steps did as well there but left
// "reverse WORD" (examples/sft-reverse.ts) at 0%. Measurements in docs/finetune.md.
export const DEFAULTS: LoopDefaults = { max_iters: 500, batch_size: 16, learning_rate: 1e-3, eval_interval: 100, lora: { max_iters: 2000, batch_size: 32, learning_rate: 5e-3, targets: ['c_attn', 'c_fc'] } };

export const usage = `usage: inkwell finetune sft --data=FILE.jsonl [--checkpoint=FILE|DIR | --init=NAME|DIR] [options]

FILE holds one example per line: {"prompt": …, "completion": …} or a chat
{"messages": [{"role": "system"|"user"|"assistant", "content": …}, …]} ending with an assistant turn.
Each example is rendered with --template, the end of every assistant turn is marked (the tokenizer's
<|endoftext|>, or the template's "\\n\\n" for tokenizers without one), and the loss counts only the
assistant's tokens: prompt, system and user tokens are masked. Examples longer than the context keep
their last block_size+1 tokens (counted and reported). The best held-out loss is saved to
OUT_DIR/ckpt.safetensors (default out-finetune-sft) with the template name, so \`inkwell sample\` and chat
load it like any checkpoint.

  --template=NAME          ${TEMPLATE_NAMES.join(', ')} (default: the model's own chat template from its
                           tokenizer_config.json, else instruction; qa for character-level models)
  --packing                lay several examples end to end in each context-sized row
  --eval_samples=20        after training, complete this many held-out prompts greedily and report
                           the exact match with their completions (0 = skip)
  --max_new_tokens=64      tokens generated per held-out prompt
${EVAL_SUITE_USAGE}

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${MODEL_USAGE}

${LOOP_USAGE(DEFAULTS)}`;

export const booleanFlags = ['packing'];

export const options = [...MODEL_OPTIONS, ...DATA_OPTIONS, ...LOOP_OPTIONS, ...PEFT_OPTIONS, 'template', 'packing', 'eval_samples', 'max_new_tokens', 'eval_suite'];

export async function run(args: string[], opts: Options): Promise<void> {
  opts.rejectUnknown(options);
  if (args.length) throw new UsageError(`unexpected argument '${args[0]}' (give the data as --data=FILE)`);
  const dataFile = opts.string('data');
  if (!dataFile) throw new UsageError('give the training data: --data=FILE.jsonl');
  const policy = badLinePolicy(opts);
  const config = loopConfigFromOptions(opts, DEFAULTS);
  const outDir = opts.string('out_dir', 'out-finetune-sft')!;
  const evalSamples = opts.number('eval_samples', 20)!;
  if (!(Number.isInteger(evalSamples) && evalSamples >= 0)) throw new UsageError(`--eval_samples must be an integer ≥ 0, got ${evalSamples}`);
  const maxNewTokens = opts.number('max_new_tokens', 64)!;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new UsageError(`--max_new_tokens must be an integer ≥ 1, got ${maxNewTokens}`);

  const loaded = loadSftFile(dataFile, policy);
  reportSkipped(dataFile, loaded.skipped);
  let trainRecords: SftRecord[], valRecords: SftRecord[];
  const valFile = opts.string('val');
  if (valFile) {
    if (opts.has('val_fraction')) throw new UsageError('give either --val or --val_fraction, not both');
    const val = loadSftFile(valFile, policy);
    reportSkipped(valFile, val.skipped);
    trainRecords = loaded.records;
    valRecords = val.records;
  } else {
    ({ train: trainRecords, val: valRecords } = splitHeldOut(loaded.records, opts.number('val_fraction', 0.1)!, config.seed));
  }

  const { model, tokenizer, state } = await modelFromOptions(opts);
  setDropout(model, config.dropout);
  // The model's own chat template unless --template picks a built-in one.
  const given = opts.string('template');
  const template = (given === undefined ? modelTemplate(tokenizer) : null) ?? (() => {
    try {
      return getTemplate(given ?? (tokenizer.type === 'char' ? 'qa' : 'instruction'));
    } catch (err) {
      throw new UsageError(`--template: ${(err as Error).message}`);
    }
  })();
  const blockSize = model.contextLength;
  const encode = (records: SftRecord[], file: string) => {
    try {
      return encodeSftRecords(records, template, tokenizer, blockSize, file);
    } catch (err) {
      const hint = tokenizer.type === 'char' && template.name !== 'qa' ? ' (a character-level vocabulary may lack the template\'s characters: try --template=qa)' : '';
      throw new Error(`${(err as Error).message}${hint}`);
    }
  };
  const train = encode(trainRecords, dataFile);
  const val = encode(valRecords, valFile ?? dataFile);
  const packing = opts.flag('packing');
  const trainRows = packing ? packSftSequences(train.sequences, blockSize + 1) : train.sequences;
  console.log(`${trainRecords.length} training and ${valRecords.length} held-out examples, template '${template.name}'${packing ? `, packed into ${trainRows.length} rows of up to ${blockSize + 1} tokens` : ''}`);
  if (train.truncated + val.truncated) console.log(`truncated to the last ${blockSize + 1} tokens: ${train.truncated} training and ${val.truncated} held-out examples`);

  console.log(applyPeftOptions(model, opts, undefined, DEFAULTS.lora));
  const baseName = baseModelName(opts);
  let bestIter = 0, bestLoss = NaN;
  const writeCheckpoint = (path: string) => {
    const meta = {
      iter_num: bestIter, best_val_loss: bestLoss, tokenizer: tokenizer.toJSON(),
      dataset: { train: dataFile, val: valFile ?? null, base: baseName, base_dataset: state?.dataset ?? null },
      finetune: { task: 'sft', template: template.name as TemplateName, base: baseName },
    };
    saveCheckpoint(path, model, null, meta);
  };
  const keeper = keepBest(model, outDir, baseName, writeCheckpoint);
  const report = new FineTuneReport(outDir, `inkwell finetune sft → ${outDir}`, opts,
    { data: dataFile, val: valFile ?? 'held out of --data', train_examples: trainRecords.length, val_examples: valRecords.length, template: template.name, base: baseName });
  const result = report.guard(() => stopOnDivergence(keeper, () => bestIter, () => trainSft(model, trainRows, val.sequences, config, report.hooks, (iter, score) => {
    bestIter = iter;
    bestLoss = score?.loss ?? NaN;
    keeper.save();
  })));
  const written = keeper.finish();
  console.log(`best held-out loss ${result.best?.value.toFixed(4) ?? '-'} at step ${result.bestIter}; saved ${written.join(' and ')}`);
  reportUnmerged(written);

  const results: Record<string, number | string> = { 'best held-out loss': result.best?.value ?? 'none', 'best step': result.bestIter, saved: written.join(', ') };
  const samples: string[] = [];
  const held = valRecords.slice(0, evalSamples);
  if (held.length) {
    const prompts = held.map((r) => r.messages.slice(0, -1));
    const references = held.map((r) => assistantTarget(template, r.messages, tokenizer));
    const predictions = complete(model, tokenizer, template, prompts, { maxNewTokens });
    const match = exactMatch(predictions, references);
    console.log(`held-out exact match: ${(100 * match).toFixed(1)}% of ${held.length} (greedy)`);
    results[`held-out exact match (${held.length}, greedy)`] = match;
    for (let i = 0; i < Math.min(3, held.length); i++) {
      const line = `${JSON.stringify(prompts[i]![prompts[i]!.length - 1]!.content)} → ${JSON.stringify(predictions[i])} (expected ${JSON.stringify(references[i])})`;
      console.log(`  ${line}`);
      samples.push(line);
    }
  }
  console.log(`report: ${await report.finish(model, { results, samples }, { model, tokenizer })}`);
}
