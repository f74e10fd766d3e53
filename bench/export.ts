// GGUF export of a GPT-2 124M shape (random weights; vocabulary GPT-2's): MB of model written per second
// as f32, f16 and q8_0, against writing the same model as HF safetensors (float32, what `inkwell export
// --format=hf` and checkpoints write) in the same run — the ratio is what llama.cpp's layout and the
// conversion (transposes, rounding, quantization) cost over a plain write.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportGGUF, type GGUFDtype } from '../src/model/gguf.js';
import { GPT } from '../src/model/gpt.js';
import { saveHFCausalLM } from '../src/model/hf.js';
import { Gpt2Tokenizer } from '../src/tokenizers/gpt2.js';
import { medianMs, withReference, type Measurement } from './lib.js';

export function exportMeasurements(reps = 3): Measurement[] {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-bench-export-'));
  try {
    const model = new GPT({ n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024, vocab_size: 50257, dropout: 0, bias: true }, { seed: 1 });
    const tokenizer = Gpt2Tokenizer.pretrained();
    const mb = (model.numParams() * 4) / 1e6; // the float32 model's size: the same yardstick for every format
    const reference = mb / (medianMs(() => saveHFCausalLM(model, join(dir, 'hf')), reps) / 1000);
    return (['f32', 'f16', 'q8_0'] as GGUFDtype[]).map((dtype) => {
      const ms = medianMs(() => exportGGUF(model, tokenizer, join(dir, `m-${dtype}.gguf`), { dtype }), reps);
      return withReference({ name: `GGUF export ${dtype}, GPT-2 124M shape`, value: mb / (ms / 1000), unit: 'MB/s' }, reference, 'safetensors f32 write', true);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
