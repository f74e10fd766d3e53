// `inkwell import MODEL.gguf OUT`: a GGUF file (gpt2, llama, qwen2, qwen3; F32/F16/BF16/Q8_0/Q4_0 tensors,
// dequantized to float32) as an inkwell checkpoint (OUT ending in .safetensors) or an HF folder, so a
// model from llama.cpp's world can be sampled, evaluated and fine-tuned here.
import { importGGUF } from '../model/gguf.js';
import { saveHFCausalLM } from '../model/hf.js';
import { writeHuggingFaceTokenizer } from '../tokenizers/hf-export.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { UsageError, type Options } from './args.js';

export const usage = `usage: inkwell import MODEL.gguf OUT

Reads a GGUF file (architectures gpt2, llama, qwen2, qwen3; tensors F32, F16, BF16, Q8_0, Q4_0; a
byte-level BPE vocabulary) and writes it as
  OUT.safetensors   an inkwell checkpoint with the tokenizer inside (for sample, eval, finetune --checkpoint)
  OUT/              otherwise an HF folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json`;

export function run(args: string[], options: Options): void {
  options.rejectUnknown([]);
  const [file, out, ...extra] = args;
  if (!file || !out || extra.length) throw new UsageError('import takes MODEL.gguf and OUT (see inkwell import --help)');
  const { model, tokenizer, architecture } = importGGUF(file);
  if (out.endsWith('.safetensors')) {
    saveCheckpoint(out, model, null, { iter_num: 0, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON() });
    console.log(`wrote ${out} (inkwell checkpoint of a ${architecture} model, ${model.numParams().toLocaleString('en-US')} parameters)`);
  } else {
    saveHFCausalLM(model, out);
    writeHuggingFaceTokenizer(out, tokenizer);
    console.log(`wrote ${out}/ (HF folder of a ${architecture} model)`);
  }
}
