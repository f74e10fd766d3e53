// Instruction fine-tuning with an exactly checkable answer: "reverse WORD" → the word backwards, for
// random 3–6 letter words, in the qa template ("Q: reverse abc\nA: cba\n\n"), whose characters are all
// in the char-level tinyshakespeare vocabulary. Starting from the cached base model
// (examples/base-model.ts) it reports held-out exact match (greedy decoding) before fine-tuning, after
// full SFT and after LoRA SFT, with the share of parameters each trains. Held-out words never occur in
// training. The data are written as JSONL, so the CLI does the same:
//   inkwell finetune sft --checkpoint=out-examples/base-char-4x128/ckpt.safetensors \
//     --data=out-examples/reverse/train.jsonl --val=out-examples/reverse/val.jsonl --template=qa \
//     [--lora --lora_r=16 --lora_alpha=32]
// Run: node dist/examples/sft-reverse.js
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { complete, exactMatch } from '../src/finetune/complete.js';
import { trainableSummary } from '../src/finetune/freeze.js';
import { applyLora } from '../src/finetune/lora.js';
import type { LoopConfig } from '../src/finetune/loop.js';
import { encodeSftRecords, loadSftFile } from '../src/finetune/sft-data.js';
import { trainSft } from '../src/finetune/sft.js';
import { getTemplate } from '../src/finetune/template.js';
import type { CausalLM } from '../src/model/causal-lm.js';
import { Rng } from '../src/tensor/random.js';
import type { Tokenizer } from '../src/tokenizers/tokenizer.js';
import { baseModel, OUT } from './base-model.js';

const TRAIN = 2000, HELD_OUT = 200;

function words(n: number, rng: Rng): string[] {
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: 3 + rng.int(4) }, () => String.fromCharCode(97 + rng.int(26))).join(''));
  return [...out];
}

async function main(): Promise<void> {
  const dir = join(OUT, 'reverse');
  mkdirSync(dir, { recursive: true });
  const all = words(TRAIN + HELD_OUT, new Rng(42));
  const line = (w: string) => JSON.stringify({ prompt: `reverse ${w}`, completion: [...w].reverse().join('') });
  writeFileSync(join(dir, 'train.jsonl'), all.slice(0, TRAIN).map(line).join('\n') + '\n');
  writeFileSync(join(dir, 'val.jsonl'), all.slice(TRAIN).map(line).join('\n') + '\n');

  const template = getTemplate('qa');
  const trainRecords = loadSftFile(join(dir, 'train.jsonl'), 'stop').records;
  const valRecords = loadSftFile(join(dir, 'val.jsonl'), 'stop').records;
  const prompts = valRecords.map((r) => r.messages[0]!.content);
  const answers = valRecords.map((r) => r.messages[1]!.content);
  const score = (model: CausalLM, tokenizer: Tokenizer) => exactMatch(complete(model, tokenizer, template, prompts, { maxNewTokens: 8 }), answers);

  const run = async (name: string, config: LoopConfig & { batch_size: number; seed: number }, lora: boolean) => {
    const { model, tokenizer } = await baseModel();
    if (lora) applyLora(model, { r: 16, alpha: 32, targetModules: ['c_attn', 'c_fc'] });
    const summary = trainableSummary(model);
    const encode = (records: typeof trainRecords) => encodeSftRecords(records, template, tokenizer, model.contextLength).sequences;
    const t0 = performance.now();
    const result = trainSft(model, encode(trainRecords), encode(valRecords), config, { print: (l) => { if (l.startsWith('step')) console.log(`  ${l}`); } });
    const em = score(model, tokenizer);
    console.log(`${name}: ${summary.text}; ${config.max_iters} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s, final val loss ${result.last!.value.toFixed(4)}, held-out exact match ${(100 * em).toFixed(1)}%`);
    return { em, share: summary.share };
  };

  const base = await baseModel();
  const before = score(base.model, base.tokenizer);
  console.log(`reverse a word: ${TRAIN} training and ${HELD_OUT} held-out words; before SFT, held-out exact match ${(100 * before).toFixed(1)}%`);
  const steps = { batch_size: 32, warmup_iters: 30, weight_decay: 0, grad_clip: 1, eval_interval: 200, seed: 1 };
  const full = await run('full SFT', { ...steps, max_iters: 600, learning_rate: 1e-3 }, false);
  // LoRA needs more steps than full SFT, and rank 16: with r 8 and 1,000 steps its held-out loss
  // was still falling (0.18, 77.5% exact match on a Xeon), and with r 8 and 2,000 steps another batch
  // order (seed 2) stalled at 0.67 (36%) where rank 16 falls three times faster (docs/finetune.md).
  const lora = await run('LoRA SFT', { ...steps, max_iters: 2000, learning_rate: 5e-3 }, true);
  console.log(`RESULT sft-reverse: exact match before ${(100 * before).toFixed(1)}%, full SFT ${(100 * full.em).toFixed(1)}%, LoRA ${(100 * lora.em).toFixed(1)}% training ${(100 * lora.share).toFixed(2)}% of the parameters (gap ${(100 * (full.em - lora.em)).toFixed(1)} points)`);
}

await main();
