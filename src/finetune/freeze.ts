// Which parameters train. A frozen parameter has requiresGrad false: autograd computes no gradient for
// it, decayGroups leaves it out of the optimizer (no AdamW moments) and clipGradNorm skips it.
//
// Freeze specs (the rule for HF names — GPT-2's `transformer.h.N.…`, the Llama family's `model.layers.N.…` —
// also when the model sits inside a larger one, e.g. a classifier, so that its names read `<prefix>transformer.…`):
// - `none`: everything trains.
// - `head`: only the head trains: parameters outside the body (`transformer.*`, `model.*`: a classifier's
//   head, an untied lm_head). A language model with a tied head has none there, so for it the head is
//   the final norm and the token embedding (`transformer.ln_f.*` + `wte`, `model.norm.*` + `embed_tokens`).
// - `last:N`: the last N blocks, the final norm and the head train.
// - `pattern:GLOB[,GLOB…]`: parameters whose full name matches a glob are frozen, the rest train. `*`
//   matches any run of characters (dots included), `?` one character; a glob matching no parameter is an
//   error (a typo would otherwise freeze nothing).
// Specs set every base parameter. LoRA and adapter parameters (names with a `lora_A.`, `lora_B.` or
// `adapter.` component) stay trainable unless a pattern names them.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

export type FreezeSpec = { kind: 'none' } | { kind: 'head' } | { kind: 'last'; n: number } | { kind: 'pattern'; patterns: string[] };

const FREEZE_SPEC_FORMS = 'none, head, last:N, pattern:GLOB[,GLOB...]';

export function parseFreezeSpec(text: string): FreezeSpec {
  const spec = text.trim();
  if (spec === 'none' || spec === 'head') return { kind: spec };
  if (spec.startsWith('last:')) {
    const value = spec.slice('last:'.length);
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`freeze spec '${text}': N must be a non-negative integer, got '${value}'`);
    return { kind: 'last', n };
  }
  if (spec.startsWith('pattern:')) {
    const patterns = spec.slice('pattern:'.length).split(',').map((p) => p.trim());
    if (patterns.some((p) => p === '')) throw new Error(`freeze spec '${text}': empty glob (write pattern:GLOB[,GLOB...])`);
    return { kind: 'pattern', patterns };
  }
  throw new Error(`freeze spec '${text}' is not one of ${FREEZE_SPEC_FORMS}`);
}

/** LoRA and adapter parameters: what applyLora/applyAdapters add to a base model. */
export function isPeftParam(name: string): boolean {
  return /(^|\.)(lora_A|lora_B|adapter)\./.test(name);
}

export function setTrainable(p: Tensor, trainable: boolean): void {
  p.requiresGrad = trainable;
  if (!trainable) p.grad = null;
}

/** Freezes every base parameter; LoRA and adapter parameters train. */
export function freezeBase(model: Module): void {
  for (const [name, p] of model.namedParameters()) setTrainable(p, isPeftParam(name));
}

export function applyFreeze(model: Module, spec: FreezeSpec): void {
  const named = model.namedParameters();
  const trains = baseRule(named.map(([name]) => name), spec);
  for (const [name, p] of named) setTrainable(p, trains(name));
}

/** Decides, per parameter name, whether it trains under the spec. */
function baseRule(names: string[], spec: FreezeSpec): (name: string) => boolean {
  const base = (rule: (name: string) => boolean) => (name: string) => isPeftParam(name) || rule(name);
  switch (spec.kind) {
    case 'none':
      return () => true;
    case 'head':
      return base(headRule(names));
    case 'last': {
      const blocks = blockCount(names);
      if (blocks === 0) throw new Error(`freeze spec last:${spec.n}: the model has no transformer.h.* or model.layers.* blocks`);
      if (!Number.isInteger(spec.n) || spec.n < 0 || spec.n > blocks) {
        throw new Error(`freeze spec last:${spec.n}: N must be between 0 and the model's ${blocks} blocks`);
      }
      const head = headRule(names);
      return base((name) => {
        const block = BLOCK.exec(name);
        return block ? Number(block[1]) >= blocks - spec.n : head(name) || LN_F.test(name);
      });
    }
    case 'pattern': {
      const globs = spec.patterns.map((p) => ({ text: p, re: globToRegExp(p) }));
      for (const g of globs) {
        if (!names.some((n) => g.re.test(n))) {
          throw new Error(`freeze pattern '${g.text}' matches no parameter (names look like ${names.slice(0, 3).join(', ')}, …)`);
        }
      }
      return (name) => !globs.some((g) => g.re.test(name));
    }
  }
}

const BASE = /(^|\.)(transformer|model)\./;
const BLOCK = /(?:^|\.)(?:transformer\.h|model\.layers)\.(\d+)\./;
const LN_F = /(^|\.)(transformer\.ln_f|model\.norm)\./;
const TIED_HEAD = /(^|\.)(transformer\.(ln_f\.|wte\.weight$)|model\.(norm\.|embed_tokens\.weight$))/;

/** Head parameters: those outside the body, or for a tied LM its final norm and token embedding. */
function headRule(names: string[]): (name: string) => boolean {
  const outside = (name: string) => !BASE.test(name) && !isPeftParam(name);
  return names.some(outside) ? outside : (name) => TIED_HEAD.test(name);
}

function blockCount(names: string[]): number {
  let count = 0;
  for (const name of names) {
    const m = BLOCK.exec(name);
    if (m) count = Math.max(count, Number(m[1]) + 1);
  }
  return count;
}

function globToRegExp(glob: string): RegExp {
  const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

export interface TrainableSummary {
  trainable: number;
  total: number;
  /** trainable / total, in [0, 1]. */
  share: number;
  trainableTensors: number;
  /** PEFT's print_trainable_parameters line. */
  text: string;
}

export function trainableSummary(model: Module): TrainableSummary {
  let trainable = 0, total = 0, trainableTensors = 0;
  for (const p of model.parameters()) {
    total += p.size;
    if (p.requiresGrad) {
      trainable += p.size;
      trainableTensors++;
    }
  }
  const share = total ? trainable / total : 0;
  const count = (n: number) => n.toLocaleString('en-US');
  const text = `trainable params: ${count(trainable)} || all params: ${count(total)} || trainable%: ${(100 * share).toFixed(4)}`;
  return { trainable, total, share, trainableTensors, text };
}
