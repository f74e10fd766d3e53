// The two autograd ops a classification head needs beyond the tensor library: picking one position per
// sequence (the last real token of a padded batch) and the multi-label loss.
import { result, shapeString, type Tensor } from '../tensor/tensor.js';

/** x [B, T, C] → [B, C]: row positions[b] of sequence b. */
export function gatherPositions(x: Tensor, positions: Int32Array): Tensor {
  if (x.ndim !== 3) throw new Error(`gatherPositions: expected [B, T, C], got ${shapeString(x.shape)}`);
  const [B, T, C] = x.shape as [number, number, number];
  if (positions.length !== B) throw new Error(`gatherPositions: ${positions.length} positions for a batch of ${B}`);
  for (const p of positions) if (!(p >= 0 && p < T)) throw new Error(`gatherPositions: position ${p} outside 0..${T - 1}`);
  const out = new Float32Array(B * C);
  for (let b = 0; b < B; b++) out.set(x.data.subarray((b * T + positions[b]!) * C, (b * T + positions[b]! + 1) * C), b * C);
  return result('gatherPositions', out, [B, C], [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let b = 0; b < B; b++) gx.set(g.subarray(b * C, (b + 1) * C), (b * T + positions[b]!) * C);
    return [gx];
  });
}

/**
 * Mean binary cross-entropy of sigmoid(logits) against targets in {0, 1}, over every element (torch's
 * BCEWithLogitsLoss), computed stably as max(z, 0) − z·y + log(1 + e^−|z|).
 */
export function binaryCrossEntropyWithLogits(logits: Tensor, targets: Float32Array): Tensor {
  const n = logits.size;
  if (targets.length !== n) throw new Error(`binaryCrossEntropyWithLogits: ${targets.length} targets for ${n} logits`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const z = logits.data[i]!, y = targets[i]!;
    total += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
  }
  return result('binaryCrossEntropyWithLogits', Float32Array.of(total / n), [], [logits], (g) => {
    const gx = new Float32Array(n);
    for (let i = 0; i < n; i++) gx[i] = ((1 / (1 + Math.exp(-logits.data[i]!)) - targets[i]!) * g[0]!) / n;
    return [gx];
  });
}
