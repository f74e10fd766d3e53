// `inkwell export SRC OUT`: a model (an `inkwell train` checkpoint, an HF folder, or a hub id / GPT-2
// name) as a llama.cpp GGUF file (llama.cpp, Ollama, LM Studio), as an HF folder (transformers,
// transformers.js, `inkwell push`), or a training run as the folder PyTorch continues it from
// (docs/scale-out.md).
import { existsSync } from 'node:fs';
import { exportGGUF, GGUF_DTYPES, type GGUFDtype } from '../model/gguf.js';
import { saveHFCausalLM } from '../model/hf.js';
import { loadModelAndTokenizer } from '../model/load.js';
import { writeHuggingFaceTokenizer } from '../tokenizers/hf-export.js';
import { exportHandoff } from '../train/handoff.js';
import { UsageError, type Options } from './args.js';

export const usage = `usage: inkwell export SRC OUT [--format=gguf|hf|pytorch] [--dtype=${GGUF_DTYPES.join('|')}]

SRC is an \`inkwell train\` checkpoint, an HF folder (GPT-2, Llama, Qwen2, Qwen3), or a hub id / GPT-2 name.
  --format=gguf   (default) one GGUF v3 file for llama.cpp / Ollama: llama.cpp's architecture, tensor names
                  and metadata, and the tokenizer (byte-level BPE, or a char vocabulary of single-byte characters)
  --format=hf     an HF folder: config.json, model.safetensors (float32), tokenizer.json, tokenizer_config.json
  --format=pytorch  (SRC a checkpoint) the run for PyTorch to continue: the HF folder plus optimizer.safetensors
                  (AdamW moments and step), train_config.json and data/ (the token files); see docs/scale-out.md
  --dtype=TYPE    GGUF matrices as ${GGUF_DTYPES.join(', ')} (default f16); norms and biases stay f32, and
                  a matrix whose rows are not whole 32-value blocks is written f16 under q8_0/q4_0
  --name=NAME     general.name in the GGUF file (default: OUT's base name)
  --offline       use only cached hub files`;

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(['format', 'dtype', 'name', 'offline']);
  const [src, out, ...extra] = args;
  if (!src || !out || extra.length) throw new UsageError('export takes SRC and OUT (see inkwell export --help)');
  const format = options.string('format', 'gguf');
  if (format !== 'gguf' && format !== 'hf' && format !== 'pytorch') throw new UsageError(`--format must be gguf, hf or pytorch, got '${format}'`);
  if (format === 'pytorch') {
    if (options.has('dtype')) throw new UsageError('--format=pytorch writes float32 weights and moments; --dtype is for GGUF');
    exportHandoff(src, out, (message) => process.stderr.write(`${message}\n`));
    console.log(`wrote ${out}/ (HF folder, optimizer.safetensors, train_config.json, data/): continue it with bench/peers/hf_continue.py (docs/scale-out.md)`);
    return;
  }
  const dtype = options.string('dtype', format === 'gguf' ? 'f16' : 'f32') as GGUFDtype;
  if (!GGUF_DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${GGUF_DTYPES.join(', ')}, got '${dtype}'`);
  if (format === 'hf' && dtype !== 'f32') throw new UsageError(`--format=hf writes float32 weights; --dtype=${dtype} is for GGUF`);
  const local = existsSync(src);
  // `out/ckpt.safetensors` has the form of a hub id (owner/name): a missing file must not become a download.
  if (!local && /\.(safetensors|gguf|bin|json)$/.test(src)) throw new Error(`${src}: no such checkpoint file or model folder`);
  const { model, tokenizer } = await loadModelAndTokenizer({
    checkpoint: local ? src : undefined,
    init: local ? undefined : src,
    offline: options.has('offline') ? options.flag('offline') : undefined,
    onNotice: (message) => process.stderr.write(`${message}\n`),
  });
  if (format === 'gguf') {
    exportGGUF(model, tokenizer, out, { dtype, name: options.string('name'), onNotice: (message) => process.stderr.write(`${message}\n`) });
    console.log(`wrote ${out} (GGUF, ${dtype}, ${model.numParams().toLocaleString('en-US')} parameters)`);
  } else {
    saveHFCausalLM(model, out);
    writeHuggingFaceTokenizer(out, tokenizer);
    console.log(`wrote ${out}/ (HF folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json)`);
  }
}
