// Held-out evaluation: mean cross-entropy and perplexity over every token of a sequence, read as
// consecutive windows of block_size (each target predicted once, with as much context as its window gives).
import type { CausalLM } from '../model/causal-lm.js';
import { noGrad } from '../tensor/tensor.js';

export interface EvalResult {
  /** Mean loss per predicted token, in nats. */
  loss: number;
  perplexity: number;
  tokens: number;
}

/**
 * Scores `count` tokens obtained from `read(start, n)` (a token file or an in-memory array).
 * Windows are batched `batchSize` at a time.
 */
export function evaluateTokens(model: CausalLM, count: number, read: (start: number, n: number) => Int32Array, batchSize = 8): EvalResult {
  const T = model.contextLength;
  if (count < 2) throw new Error(`evaluation needs at least 2 tokens, got ${count}`);
  const wasTraining = model.training;
  model.eval();
  let total = 0, predicted = 0;
  // Window starts: every T tokens; the last window may be shorter.
  const starts: number[] = [];
  for (let s = 0; s + 1 < count; s += T) starts.push(s);
  noGrad(() => {
    for (let i = 0; i < starts.length; i += batchSize) {
      const group = starts.slice(i, i + batchSize);
      // Full windows batch together; a short last window runs alone.
      const full = group.filter((s) => s + T + 1 <= count);
      const rest = group.filter((s) => s + T + 1 > count);
      const run = (ss: number[], len: number) => {
        if (!ss.length) return;
        const x = new Int32Array(ss.length * len), y = new Int32Array(ss.length * len);
        ss.forEach((s, b) => {
          const w = read(s, len + 1);
          x.set(w.subarray(0, len), b * len);
          y.set(w.subarray(1), b * len);
        });
        const loss = model.forward(x, ss.length, len, y).loss!.item();
        total += loss * ss.length * len;
        predicted += ss.length * len;
      };
      run(full, T);
      for (const s of rest) run([s], count - 1 - s);
    }
  });
  model.train(wasTraining);
  const loss = total / predicted;
  return { loss, perplexity: Math.exp(loss), tokens: predicted };
}
