// `inkwell export SRC OUT`: a model (an `inkwell train` checkpoint, an HF folder, or a hub id / GPT-2
// name) as a llama.cpp GGUF file (llama.cpp, Ollama, LM Studio) or as an HF folder (transformers,
// transformers.js, `inkwell push`).
import { existsSync } from 'node:fs';
import { exportGGUF, GGUF_DTYPES, type GGUFDtype } from '../model/gguf.js';
import { saveHFCausalLM } from '../model/hf.js';
import { loadModelAndTokenizer } from '../model/load.js';
import { writeHuggingFaceTokenizer } from '../tokenizers/hf-export.js';
import { UsageError, type Options } from './args.js';

export const usage = `usage: inkwell export SRC OUT [--format=gguf|hf] [--dtype=${GGUF_DTYPES.join('|')}]

SRC is an \`inkwell train\` checkpoint, an HF folder (GPT-2, Llama, Qwen2, Qwen3), or a hub id / GPT-2 name.
  --format=gguf   (default) one GGUF v3 file for llama.cpp / Ollama: llama.cpp's architecture, tensor names
                  and metadata, and the tokenizer (byte-level BPE, or a char vocabulary of single-byte characters)
  --format=hf     an HF folder: config.json, model.safetensors (float32), tokenizer.json, tokenizer_config.json
  --dtype=TYPE    GGUF matrices as ${GGUF_DTYPES.join(', ')} (default f16); norms and biases stay f32, and
                  a matrix whose rows are not whole 32-value blocks is written f16 under q8_0/q4_0
  --name=NAME     general.name in the GGUF file (default: OUT's base name)
  --offline       use only cached hub files`;

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(['format', 'dtype', 'name', 'offline']);
  const [src, out, ...extra] = args;
  if (!src || !out || extra.length) throw new UsageError('export takes SRC and OUT (see inkwell export --help)');
  const format = options.string('format', 'gguf');
  if (format !== 'gguf' && format !== 'hf') throw new UsageError(`--format must be gguf or hf, got '${format}'`);
  const dtype = options.string('dtype', format === 'gguf' ? 'f16' : 'f32') as GGUFDtype;
  if (!GGUF_DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${GGUF_DTYPES.join(', ')}, got '${dtype}'`);
  if (format === 'hf' && dtype !== 'f32') throw new UsageError(`--format=hf writes float32 weights; --dtype=${dtype} is for GGUF`);
  const local = existsSync(src);
  const { model, tokenizer } = await loadModelAndTokenizer({
    checkpoint: local ? src : undefined,
    init: local ? undefined : src,
    offline: options.has('offline') ? options.flag('offline') : undefined,
    onNotice: (message) => process.stderr.write(`${message}\n`),
  });
  if (format === 'gguf') {
    exportGGUF(model, tokenizer, out, { dtype, name: options.string('name') });
    console.log(`wrote ${out} (GGUF, ${dtype}, ${model.numParams().toLocaleString('en-US')} parameters)`);
  } else {
    saveHFCausalLM(model, out);
    writeHuggingFaceTokenizer(out, tokenizer);
    console.log(`wrote ${out}/ (HF folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json)`);
  }
}
