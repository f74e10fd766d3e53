// LoRA (Hu et al. 2021), laid out as Hugging Face PEFT lays it out for GPT-2. A wrapped Linear computes
//   y = x·W + b + (alpha/r) · dropout(x)·Aᵀ·Bᵀ
// with A [r, in] and B [out, r] in torch's nn.Linear layout (PEFT's `lora_A.weight`, `lora_B.weight`),
// A drawn as torch's kaiming_uniform(a=√5) draws it (uniform ±1/√in) and B zero, so a fresh wrapper
// changes nothing. The wrapper keeps the base Linear's tensors under their own names (`c_attn.weight`),
// so HF parameter names are unchanged and `lora_A`/`lora_B` sit beside them.
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { add, dropout, scale } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/matmul.js';
import { Rng } from '../tensor/random.js';
import { noGrad, Tensor } from '../tensor/tensor.js';
import { freezeBase } from './freeze.js';

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names: a last component (`c_attn`), a dotted suffix (`mlp.c_proj`) or a full path. */
  targetModules: string[];
  /** Seeds lora_A's init and the LoRA dropout masks. */
  seed: number;
}

export const LORA_DEFAULTS: LoraOptions = { r: 8, alpha: 16, dropout: 0, targetModules: ['c_attn'], seed: 0x10ba };

/** The Llama-family layers that sit where GPT-2's do, so one default names the same places in both. */
const LLAMA_PLACES: Record<string, string[]> = {
  c_attn: ['q_proj', 'k_proj', 'v_proj'],
  'attn.c_proj': ['o_proj'],
  c_fc: ['gate_proj', 'up_proj'],
  'mlp.c_proj': ['down_proj'],
  c_proj: ['o_proj', 'down_proj'],
};

/**
 * Default targets (given in GPT-2's names) for this model: a name no layer has is replaced by the
 * Llama-family layers in the same place, when the model has those. Targets a user names are taken as given.
 */
export function defaultTargetsFor(model: Module, targets: string[]): string[] {
  const slots = linearSlots(model);
  const present = (t: string) => slots.some((s) => matchesTarget(s.path, t));
  return targets.flatMap((t) => (present(t) || !(LLAMA_PLACES[t]?.every(present) ?? false) ? [t] : LLAMA_PLACES[t]!));
}

/** One LoRA factor: a single weight in torch nn.Linear layout [out, in]. */
class LoraFactor extends Module {
  readonly weight: Tensor;

  constructor(rows: number, cols: number) {
    super();
    this.weight = this.param('weight', Tensor.zeros([rows, cols]));
  }
}

export class LoraLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly lora_A: LoraFactor;
  readonly lora_B: LoraFactor;
  readonly scaling: number;

  constructor(readonly base: Linear, readonly r: number, readonly alpha: number, readonly dropoutP: number, private readonly rng: Rng) {
    super();
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.weight = this.param('weight', base.weight);
    this.bias = base.bias ? this.param('bias', base.bias) : null;
    this.lora_A = this.child('lora_A', new LoraFactor(r, base.inFeatures));
    this.lora_B = this.child('lora_B', new LoraFactor(base.outFeatures, r));
    this.scaling = alpha / r;
    const bound = 1 / Math.sqrt(base.inFeatures);
    const a = this.lora_A.weight.data;
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.uniform() - 1) * bound;
  }

  forward(x: Tensor): Tensor {
    const y = this.base.forward(x);
    const down = matmul(dropout(x, this.dropoutP, this.rng, this.training), this.lora_A.weight, { transB: true });
    return add(y, scale(matmul(down, this.lora_B.weight, { transB: true }), this.scaling));
  }

  /** scaling·B·A in the base weight's layout: transposed for Conv1D [in, out], as is for nn.Linear [out, in]. */
  deltaWeight(): Float32Array {
    const product = noGrad(() => this.base.layout === 'conv1d'
      ? matmul(this.lora_A.weight, this.lora_B.weight, { transA: true, transB: true })
      : matmul(this.lora_B.weight, this.lora_A.weight));
    return product.data.map((v) => v * this.scaling);
  }
}

/** Where a module sits: its parent, its name there and its full dotted path. */
export interface ModuleSlot {
  parent: Module;
  name: string;
  path: string;
  module: Module;
}

export function moduleSlots(model: Module): ModuleSlot[] {
  const out: ModuleSlot[] = [];
  for (const [parentPath, parent] of model.namedModules()) {
    for (const [name, module] of parent.namedChildren()) out.push({ parent, name, path: parentPath ? `${parentPath}.${name}` : name, module });
  }
  return out;
}

/** PEFT's target matching: the full path, or a suffix of it that starts at a component. */
export function matchesTarget(path: string, target: string): boolean {
  return path === target || path.endsWith(`.${target}`);
}

/** The layers LoRA can wrap: base Linears, and layers an adapter already wraps (to refuse them by name).
 * Layers inside LoRA and adapters are not candidates. */
export function linearSlots(model: Module): ModuleSlot[] {
  return moduleSlots(model).filter((s) => (s.module instanceof Linear || hasLinearBase(s.module)) && !/(^|\.)(adapter|lora_A|lora_B)(\.|$)/.test(s.path));
}

/** Wrappers (LoRA, adapters) keep the Linear they wrap as `base`. */
function hasLinearBase(m: Module): boolean {
  return (m as { base?: unknown }).base instanceof Linear;
}

export function resolveLoraOptions(options: Partial<LoraOptions> = {}): LoraOptions {
  const o: LoraOptions = { ...LORA_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  if (!Number.isInteger(o.r) || o.r < 1) throw new Error(`LoRA: r must be a positive integer, got ${o.r}`);
  if (!(Number.isFinite(o.alpha) && o.alpha > 0)) throw new Error(`LoRA: alpha must be a positive number, got ${o.alpha}`);
  if (!(o.dropout >= 0 && o.dropout < 1)) throw new Error(`LoRA: dropout must be in [0, 1), got ${o.dropout}`);
  if (!Array.isArray(o.targetModules) || o.targetModules.length === 0 || o.targetModules.some((t) => typeof t !== 'string' || t === '')) {
    throw new Error(`LoRA: targetModules must be a non-empty list of module names, got ${JSON.stringify(o.targetModules)}`);
  }
  return o;
}

/**
 * Wraps every Linear whose path matches a target (default: c_attn, or q/k/v_proj in a Llama) with LoRA,
 * then freezes every base parameter (LoRA and adapter parameters train). Throws, before changing
 * anything, when a target matches no Linear.
 */
export function applyLora(model: Module, options: Partial<LoraOptions> = {}): void {
  const o = resolveLoraOptions({ ...options, targetModules: options.targetModules ?? defaultTargetsFor(model, LORA_DEFAULTS.targetModules) });
  const slots = linearSlots(model);
  const chosen = new Set<ModuleSlot>();
  for (const target of o.targetModules) {
    const hits = slots.filter((s) => matchesTarget(s.path, target));
    if (hits.length === 0) {
      const names = [...new Set(slots.map((s) => s.name))];
      throw new Error(`LoRA target '${target}' matches no module (modules: ${names.join(', ')}; or a dotted path such as ${slots[0]?.path ?? 'none'})`);
    }
    for (const s of hits) {
      if (s.module instanceof LoraLinear) throw new Error(`LoRA target '${target}': ${s.path} already has LoRA (merge it first)`);
      if (!(s.module instanceof Linear)) throw new Error(`LoRA target '${target}': ${s.path} carries an adapter; LoRA and an adapter cannot share a layer`);
      chosen.add(s);
    }
  }
  const rng = new Rng(o.seed);
  for (const s of chosen) s.parent.replaceChild(s.name, new LoraLinear(s.module as Linear, o.r, o.alpha, o.dropout, rng));
  freezeBase(model);
}

export function loraLayers(model: Module): (ModuleSlot & { module: LoraLinear })[] {
  return moduleSlots(model).filter((s): s is ModuleSlot & { module: LoraLinear } => s.module instanceof LoraLinear);
}

/**
 * Folds every LoRA update into its base weight (W += scaling·B·A, in the weight's layout) and puts the base
 * Linear back, so the model has exactly its base parameter names again. Base parameters keep their
 * frozen/trainable state, as PEFT's merge_and_unload leaves them.
 */
export function mergeLora(model: Module): void {
  const layers = loraLayers(model);
  if (layers.length === 0) throw new Error('mergeLora: the model has no LoRA layers');
  for (const { parent, name, module } of layers) {
    const delta = module.deltaWeight();
    const w = module.base.weight.data;
    for (let i = 0; i < w.length; i++) w[i]! += delta[i]!;
    parent.replaceChild(name, module.base);
  }
}
