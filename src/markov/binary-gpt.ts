// A binary GPT seen as a finite-state Markov chain (Karpathy's "GPT as a finite-state Markov chain"): a
// GPT with vocabulary {0, 1} and context 3 is trained briefly on one bit string, every window of three
// bits predicting the bit after it. Each 3-bit context is then a state; appending the sampled bit and
// dropping the oldest gives the next state ("abc" + t → "bct"), so the model defines a transition
// probability for each of the 8 states' two successors. Counting shorter contexts as well (a GPT also
// runs on 1 or 2 tokens) the state space has Σ_{i=1..3} 2^i = 14 states.
import { GPT, type GPTConfig } from '../model/gpt.js';
import { AdamW, decayGroups } from '../train/optim.js';
import { noGrad } from '../tensor/tensor.js';
import { escapeMarkup } from '../report/escape.js';

export const DEFAULT_SEQUENCE = '111101111011110';
export const CONTEXT = 3;

export interface BinaryGPTOptions {
  /** The training bit string (only 0 and 1, at least CONTEXT + 1 long). */
  sequence?: string;
  /** AdamW steps, each on every window (full batch). Default 50. */
  steps?: number;
  seed?: number;
  lr?: number;
  weightDecay?: number;
  /** Model size overrides; vocab_size and block_size are fixed at 2 and 3. */
  model?: Partial<Pick<GPTConfig, 'n_layer' | 'n_head' | 'n_embd'>>;
}

export interface Transition {
  from: string;
  token: 0 | 1;
  to: string;
  /** Model probability of `token` after `from`. */
  p: number;
  /** How often `from` is followed by `token` in the training windows. */
  count: number;
}

export interface StateRow {
  state: string;
  /** P(next = 0), P(next = 1). */
  probs: [number, number];
  /** Observed next-token counts [#0, #1] in the training windows (always [0, 0] for shorter contexts). */
  counts: [number, number];
}

export interface MarkovResult {
  sequence: string;
  steps: number;
  /** Loss (mean cross-entropy over the windows) before each step, and after the last. */
  losses: number[];
  /** The 8 full-context states in binary order, 000 … 111. */
  states: StateRow[];
  /** The 16 transitions of the full-context chain, two per state. */
  transitions: Transition[];
  /** The 6 shorter contexts (0, 1, 00 … 11): the model's next-token probabilities on them. */
  shortStates: StateRow[];
  /** Σ_{i=1..CONTEXT} 2^i = 14. */
  stateCount: number;
}

/** Throws with a clear message unless `sequence` is a bit string long enough for one window and its next bit. */
export function validateSequence(sequence: string): void {
  const bad = /[^01]/.exec(sequence);
  if (bad) throw new Error(`the sequence may hold only 0 and 1, found '${bad[0]}' at position ${bad.index + 1}`);
  if (sequence.length < CONTEXT + 1) {
    throw new Error(`the sequence needs at least ${CONTEXT + 1} bits (one ${CONTEXT}-bit context and the bit after it), got ${sequence.length}`);
  }
}

/** Number of states of a chain whose contexts have 1..context tokens from `vocab` values. */
export function stateSpaceSize(vocab = 2, context = CONTEXT): number {
  let n = 0;
  for (let i = 1; i <= context; i++) n += vocab ** i;
  return n;
}

/** All bit strings of length n, in binary order. */
function bitStrings(n: number): string[] {
  return Array.from({ length: 2 ** n }, (_, i) => i.toString(2).padStart(n, '0'));
}

/** Observed next-bit counts per full context in `sequence`. */
export function windowCounts(sequence: string): Map<string, [number, number]> {
  const counts = new Map<string, [number, number]>();
  for (let i = 0; i + CONTEXT < sequence.length; i++) {
    const ctx = sequence.slice(i, i + CONTEXT);
    const c = counts.get(ctx) ?? [0, 0];
    c[Number(sequence[i + CONTEXT])]++;
    counts.set(ctx, c);
  }
  return counts;
}

function softmax2(a: number, b: number): [number, number] {
  const m = Math.max(a, b), ea = Math.exp(a - m), eb = Math.exp(b - m);
  return [ea / (ea + eb), eb / (ea + eb)];
}

/** The model's next-token distribution after each context (all of one length). */
function predict(model: GPT, contexts: string[]): [number, number][] {
  const T = contexts[0]!.length;
  const idx = Int32Array.from(contexts.flatMap((c) => [...c].map(Number)));
  const logits = noGrad(() => model.forward(idx, contexts.length, T).logits.data); // [B, 1, 2]
  return contexts.map((_, b) => softmax2(logits[2 * b]!, logits[2 * b + 1]!));
}

/**
 * Trains the binary GPT (n_layer 4, n_head 4, n_embd 16, no bias, no dropout; AdamW lr 1e-3, weight
 * decay 0.1, as Karpathy's example) on every CONTEXT-bit window of the sequence → the bit after it, the
 * loss on the last position only, then reads off the transition table.
 */
export function trainBinaryGPT(options: BinaryGPTOptions = {}): MarkovResult {
  const sequence = options.sequence ?? DEFAULT_SEQUENCE;
  validateSequence(sequence);
  const steps = options.steps ?? 50;
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`steps must be a whole number ≥ 0, got ${steps}`);
  const config: GPTConfig = {
    n_layer: options.model?.n_layer ?? 4,
    n_head: options.model?.n_head ?? 4,
    n_embd: options.model?.n_embd ?? 16,
    block_size: CONTEXT,
    vocab_size: 2,
    bias: false,
    dropout: 0,
  };
  const model = new GPT(config, { seed: options.seed ?? 1337 });
  const B = sequence.length - CONTEXT;
  const idx = new Int32Array(B * CONTEXT);
  const targets = new Int32Array(B * CONTEXT).fill(-1); // only the last position of each window is scored
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < CONTEXT; t++) idx[b * CONTEXT + t] = Number(sequence[b + t]);
    targets[b * CONTEXT + CONTEXT - 1] = Number(sequence[b + CONTEXT]);
  }
  const optimizer = new AdamW(decayGroups(model.namedParameters(), options.weightDecay ?? 0.1).groups, { lr: options.lr ?? 1e-3 });
  model.train();
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    optimizer.zeroGrad();
    const { loss } = model.forward(idx, B, CONTEXT, targets);
    losses.push(loss!.item());
    loss!.backward();
    optimizer.update();
  }
  model.eval();
  losses.push(noGrad(() => model.forward(idx, B, CONTEXT, targets).loss!.item()));

  const counts = windowCounts(sequence);
  const full = bitStrings(CONTEXT);
  const states: StateRow[] = predict(model, full).map((probs, i) => ({ state: full[i]!, probs, counts: counts.get(full[i]!) ?? [0, 0] }));
  const transitions: Transition[] = states.flatMap((s) => ([0, 1] as const).map((token) => ({
    from: s.state, token, to: s.state.slice(1) + token, p: s.probs[token], count: s.counts[token],
  })));
  const shortStates: StateRow[] = [];
  for (let n = 1; n < CONTEXT; n++) {
    const ctx = bitStrings(n);
    predict(model, ctx).forEach((probs, i) => shortStates.push({ state: ctx[i]!, probs, counts: [0, 0] }));
  }
  return { sequence, steps, losses, states, transitions, shortStates, stateCount: stateSpaceSize() };
}

/** The transition table as text lines. */
export function formatMarkov(r: MarkovResult): string[] {
  const lines = [
    `binary GPT: vocab {0,1}, context ${CONTEXT}, trained ${r.steps} steps on ${r.sequence}`,
    `loss: ${r.losses[0]!.toFixed(4)} → ${r.losses[r.losses.length - 1]!.toFixed(4)}`,
    `state space: ${r.states.length} full ${CONTEXT}-bit contexts; with shorter contexts Σ_{i=1..${CONTEXT}} 2^i = ${r.stateCount} states`,
    '',
    'transitions (state + token → next state: probability; seen = times in the training windows):',
  ];
  for (const t of r.transitions) lines.push(`  ${t.from} + ${t.token} → ${t.to}  p=${t.p.toFixed(3)}${t.count ? `  seen ${t.count}×` : ''}`);
  lines.push('', 'shorter contexts (not trained directly: the loss scores full windows only):');
  for (const s of r.shortStates) lines.push(`  ${s.state.padStart(CONTEXT)}  P(0)=${s.probs[0].toFixed(3)}  P(1)=${s.probs[1].toFixed(3)}`);
  return lines;
}

const SEEN = '#d62728', UNSEEN = '#9aa0a6';

/**
 * The full-context chain as an SVG: the 8 states on a circle, a directed edge to each of the two
 * successors, stroke width ∝ probability, labelled with it; transitions seen in the training data red,
 * the rest grey. Self-loops (000 → 000, 111 → 111) are drawn as arcs outside the circle.
 */
export function markovSvg(r: MarkovResult, o: { width?: number; height?: number } = {}): string {
  const W = o.width ?? 640, H = o.height ?? 640, cx = W / 2, cy = H / 2 + 25, R = Math.min(W, H) / 2 - 105, nodeR = 26;
  const pos = new Map(r.states.map((s, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / r.states.length;
    return [s.state, { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a), a }] as const;
  }));
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<defs>${[['seen', SEEN], ['unseen', UNSEEN]].map(([id, c]) => `<marker id="arrow-${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${c}"/></marker>`).join('')}</defs>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeMarkup(`binary GPT as a Markov chain (${r.steps} steps on ${r.sequence})`)}</text>`,
    `<text x="${W / 2}" y="40" text-anchor="middle" fill="#555"><tspan fill="${SEEN}">red</tspan>: transition seen in the training data; grey: not seen; width ∝ probability</text>`,
  ];
  const edges: string[] = [];
  for (const t of r.transitions) {
    const a = pos.get(t.from)!, b = pos.get(t.to)!, kind = t.count > 0 ? 'seen' : 'unseen';
    const color = kind === 'seen' ? SEEN : UNSEEN, width = (0.5 + 6 * t.p).toFixed(2);
    let d: string, lx: number, ly: number;
    if (t.from === t.to) {
      // A loop outward from the node.
      const ux = Math.cos(a.a), uy = Math.sin(a.a), px = -uy, py = ux, k = 0.45;
      const sx = a.x + nodeR * (ux * Math.cos(k) + px * Math.sin(k)), sy = a.y + nodeR * (uy * Math.cos(k) + py * Math.sin(k));
      const ex = a.x + nodeR * (ux * Math.cos(k) - px * Math.sin(k)), ey = a.y + nodeR * (uy * Math.cos(k) - py * Math.sin(k));
      const c1x = a.x + ux * 85 + px * 45, c1y = a.y + uy * 85 + py * 45, c2x = a.x + ux * 85 - px * 45, c2y = a.y + uy * 85 - py * 45;
      d = `M${f(sx)},${f(sy)} C${f(c1x)},${f(c1y)} ${f(c2x)},${f(c2y)} ${f(ex)},${f(ey)}`;
      lx = a.x + ux * 78;
      ly = a.y + uy * 78;
    } else {
      // A slightly curved edge (bent to its right) so that a → b and b → a do not overlap.
      const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy), ux = dx / len, uy = dy / len, nx = -uy, ny = ux;
      const bend = 0.18 * len;
      const mx = (a.x + b.x) / 2 + nx * bend, my = (a.y + b.y) / 2 + ny * bend;
      const sdx = mx - a.x, sdy = my - a.y, sl = Math.hypot(sdx, sdy), edx = mx - b.x, edy = my - b.y, el = Math.hypot(edx, edy);
      const sx = a.x + (sdx / sl) * nodeR, sy = a.y + (sdy / sl) * nodeR, ex = b.x + (edx / el) * nodeR, ey = b.y + (edy / el) * nodeR;
      d = `M${f(sx)},${f(sy)} Q${f(mx)},${f(my)} ${f(ex)},${f(ey)}`;
      lx = (sx + 2 * mx + ex) / 4;
      ly = (sy + 2 * my + ey) / 4;
    }
    edges.push(`<path class="edge ${kind}" data-from="${t.from}" data-to="${t.to}" d="${d}" fill="none" stroke="${color}" stroke-width="${width}" stroke-opacity="0.85" marker-end="url(#arrow-${kind})"><title>${t.from} + ${t.token} → ${t.to}: p=${t.p.toFixed(3)}${t.count ? `, seen ${t.count}×` : ''}</title></path>`);
    edges.push(`<text x="${f(lx)}" y="${f(ly + 4)}" text-anchor="middle" fill="${kind === 'seen' ? SEEN : '#666'}" stroke="white" stroke-width="3" paint-order="stroke">${t.p.toFixed(2)}</text>`);
  }
  parts.push(...edges);
  for (const s of r.states) {
    const p = pos.get(s.state)!, seen = s.counts[0] + s.counts[1] > 0;
    parts.push(`<g class="node" data-state="${s.state}"><circle cx="${f(p.x)}" cy="${f(p.y)}" r="${nodeR}" fill="${seen ? '#fde8e8' : '#f4f4f4'}" stroke="#333" stroke-width="1.5"/><text x="${f(p.x)}" y="${f(p.y + 5)}" text-anchor="middle" font-size="14" font-family="monospace">${s.state}</text></g>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
