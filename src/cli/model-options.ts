// The model options every model-using command shares (--checkpoint, --init, --offline), and loading
// from them with a download progress bar.
import { compressModel } from '../model/compress.js';
import type { CausalLM } from '../model/causal-lm.js';
import { loadModelAndTokenizer, type LoadedModel } from '../model/load.js';
import { WEIGHT_FORMATS, type WeightFormat } from '../tensor/ops/compressed.js';
import { GPT2_MODELS } from '../model/pretrained.js';
import { UsageError, type Options } from './args.js';
import { ProgressBar } from './progress.js';

export const DEFAULT_CHECKPOINT = 'out-shakespeare-char/ckpt.safetensors';

export const MODEL_OPTIONS = ['checkpoint', 'init', 'offline'] as const;

export const MODEL_USAGE = `  --checkpoint=PATH        an \`inkwell train\` checkpoint or an HF folder (GPT-2, Llama, Qwen2, Qwen3); the
                           tokenizer comes from the checkpoint (or the folder's tokenizer.json / vocab.json + merges.txt)
  --init=NAME|ID|DIR       OpenAI's GPT-2 (${Object.keys(GPT2_MODELS).join(', ')}) or a hub repository id
                           (e.g. HuggingFaceTB/SmolLM2-135M-Instruct, Qwen/Qwen3-0.6B), fetched from the Hugging Face
                           hub into $HF_HOME/inkwell (HF_ENDPOINT, HF_TOKEN honoured), or a local folder with those files
  --offline                use only cached files (also HF_HUB_OFFLINE=1)`;

/** Loads the model the options name; without --checkpoint or --init, `defaultCheckpoint` (with a hint when absent). */
export async function modelFromOptions(options: Options, defaultCheckpoint = DEFAULT_CHECKPOINT): Promise<LoadedModel> {
  const init = options.string('init');
  if (init !== undefined && options.has('checkpoint')) throw new UsageError('give either --checkpoint or --init, not both');
  let bar: ProgressBar | null = null;
  let barFile = '';
  try {
    return await loadModelAndTokenizer({
      init,
      checkpoint: init === undefined ? options.string('checkpoint', defaultCheckpoint) : undefined,
      offline: options.has('offline') ? options.flag('offline') : undefined,
      onNotice: (message) => process.stderr.write(`${message}\n`),
      onProgress: (file, received, total) => {
        if (file !== barFile) {
          bar?.done();
          bar = new ProgressBar(`downloading ${file}`);
          barFile = file;
        }
        bar!.update(Math.round(received / 1e6), Math.round((total ?? received) / 1e6), 'MB');
      },
    });
  } catch (err) {
    if (init !== undefined || options.has('checkpoint')) throw err;
    throw new Error(`${(err as Error).message} (train one with \`inkwell train shakespeare_char_cpu\`, or give --checkpoint or --init=gpt2)`);
  } finally {
    (bar as ProgressBar | null)?.done();
  }
}

/** For commands that only run the model (sample, serve, chat, eval): --weights=f32|bf16|int8. */
export const WEIGHTS_USAGE = `  --weights=f32            f32, or bf16 / int8 to compress the matrices for faster decoding (int8 reads a
                           quarter of the bytes; \`npm run bench:generate\` measures speed and loss change)`;

/** Options, usage and loading for commands that only run the model: the model options plus --weights. */
export const INFERENCE_OPTIONS = [...MODEL_OPTIONS, 'weights'] as const;
export const INFERENCE_USAGE = `${MODEL_USAGE}\n${WEIGHTS_USAGE}`;

export async function inferenceModelFromOptions(options: Options, defaultCheckpoint = DEFAULT_CHECKPOINT): Promise<LoadedModel> {
  const loaded = await modelFromOptions(options, defaultCheckpoint);
  applyWeightsOption(loaded.model, options);
  return loaded;
}

/** Compresses the model's matrices as --weights says (nothing for f32 or when absent). */
function applyWeightsOption(model: CausalLM, options: Options): void {
  const format = options.string('weights', 'f32')!;
  if (!WEIGHT_FORMATS.includes(format as WeightFormat)) throw new UsageError(`--weights must be one of ${WEIGHT_FORMATS.join(', ')}, got '${format}'`);
  if (format !== 'f32') compressModel(model, format as WeightFormat);
}
