// `inkwell markov`: train a binary GPT (vocab {0,1}, context 3) briefly and show it as a finite-state
// Markov chain: the transition table, and the state graph as an SVG.
import { DEFAULT_SEQUENCE, formatMarkov, markovSvg, trainBinaryGPT } from '../markov/binary-gpt.js';
import { writeFileAtomic } from '../io/atomic.js';
import { UsageError, type Options } from './args.js';

const DEFAULT_OUT = 'out-markov/markov.svg';

export const usage = `usage: inkwell markov [--steps=50] [--sequence=${DEFAULT_SEQUENCE}] [--seed=1337] [--out=${DEFAULT_OUT}]

Trains a tiny GPT (vocab_size 2, block_size 3, 4 layers, 4 heads, n_embd 16, no bias; AdamW lr 1e-3,
weight decay 0.1) on every 3-bit window of the sequence → the bit after it, then prints the model as a
finite-state Markov chain: for each of the 8 states "abc", P(next = t) and the next state "bct". Counting
the shorter contexts a GPT also accepts, the state space has 2 + 4 + 8 = 14 states.
Writes the state graph to --out as an SVG (edges seen in the training data in red); its folder is made
if missing, so nothing lands in the working directory itself.`;

export function run(args: string[], options: Options): void {
  options.rejectUnknown(['steps', 'sequence', 'seed', 'out']);
  if (args.length) throw new UsageError(`markov takes no positional arguments, got ${args.join(' ')}`);
  const steps = options.number('steps', 50)!;
  if (!Number.isInteger(steps) || steps < 0) throw new UsageError(`--steps must be a whole number ≥ 0, got ${steps}`);
  const seed = options.number('seed', 1337)!;
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${seed}`);
  const sequence = options.string('sequence', DEFAULT_SEQUENCE)!;
  const out = options.string('out', DEFAULT_OUT)!;
  let result;
  try {
    result = trainBinaryGPT({ sequence, steps, seed });
  } catch (err) {
    if (/sequence/.test((err as Error).message)) throw new UsageError(`--sequence: ${(err as Error).message}`);
    throw err;
  }
  console.log(formatMarkov(result).join('\n'));
  writeFileAtomic(out, markovSvg(result));
  console.log(`\nwrote ${out}`);
}
