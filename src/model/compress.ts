// Compresses a model's matrices (every Linear and the LM head) to int8 or bf16 for inference, GPT-2 and
// the Llama family alike.
// Decoding reads every weight once per token, so fewer bytes per weight decode faster; the float32
// weights stay in place (embeddings are looked up from them, and `decompress` returns to exact float32).
import { Linear } from '../nn/layers.js';
import { compressedBytes, compressMatrix, type WeightFormat } from '../tensor/ops/compressed.js';
import type { CausalLM } from './causal-lm.js';

export interface CompressionReport {
  format: WeightFormat;
  /** Matrices compressed (Linears + the LM head). */
  matrices: number;
  /** Bytes a decode step reads from matrices, before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

export function compressModel(model: CausalLM, format: WeightFormat): CompressionReport {
  decompress(model);
  const head = model.headWeight;
  // An untied LM head is a Linear too (Llama's lm_head): it is compressed once, as the head.
  const linears = model.namedModules().filter(([, m]) => m instanceof Linear && m.weight !== head) as [string, Linear][];
  let bytesBefore = head.data.byteLength, bytesAfter = bytesBefore;
  for (const [, l] of linears) bytesBefore += l.weight.data.byteLength;
  if (format === 'f32') return { format, matrices: 0, bytesBefore, bytesAfter: bytesBefore };
  const [V, C] = head.shape as [number, number];
  model.compressedHead = compressMatrix(head.data, V, C, format);
  bytesAfter = compressedBytes(model.compressedHead);
  for (const [, l] of linears) {
    // The compressed product wants [out, in]: Conv1D's [in, out] is read transposed.
    l.compressed = compressMatrix(l.weight.data, l.outFeatures, l.inFeatures, format, l.layout === 'conv1d');
    bytesAfter += compressedBytes(l.compressed);
  }
  return { format, matrices: linears.length + 1, bytesBefore, bytesAfter };
}

/** Back to the float32 weights (needed before training again). */
export function decompress(model: CausalLM): void {
  model.compressedHead = null;
  for (const [, m] of model.namedModules()) if (m instanceof Linear) m.compressed = null;
}
