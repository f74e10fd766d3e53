// Learning rate: linear warmup, then cosine decay to min_lr at lr_decay_iters, then min_lr (nanoGPT's).
export interface LrSchedule {
  learning_rate: number;
  min_lr: number;
  warmup_iters: number;
  lr_decay_iters: number;
  decay_lr: boolean;
}

export function learningRate(iter: number, s: LrSchedule): number {
  if (!s.decay_lr) return s.learning_rate;
  if (iter < s.warmup_iters) return (s.learning_rate * (iter + 1)) / (s.warmup_iters + 1);
  if (iter > s.lr_decay_iters) return s.min_lr;
  const ratio = (iter - s.warmup_iters) / Math.max(1, s.lr_decay_iters - s.warmup_iters);
  return s.min_lr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.learning_rate - s.min_lr);
}
