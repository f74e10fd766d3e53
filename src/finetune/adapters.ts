// Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"): in every
// block, after the attention's and after the MLP's output projection and before the residual add, a
// small network with its own skip connection:
//   adapter(h) = h + up(GELU(down(h)))      down: n_embd → bottleneck, up: bottleneck → n_embd
// `up` starts at zero, so a fresh adapter is the identity and training starts from the base model. As in
// the paper, the LayerNorm gains and biases train too (option trainLayerNorms; a Llama's RMSNorm gains).
// An adapter wraps the output projection (GPT-2 `attn.c_proj`, `mlp.c_proj`; Llama `self_attn.o_proj`,
// `mlp.down_proj`), keeping its weights under their HF names; the adapter's own parameters are
// `….adapter.{down,up}.{weight,bias}` (Conv1D layout, as every inkwell Linear).
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { add, gelu } from '../tensor/ops/elementwise.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { freezeBase, setTrainable } from './freeze.js';
import { moduleSlots } from './lora.js';

export interface AdapterOptions {
  /** Hidden size of the adapter; default 64, or n_embd/2 for models narrower than 128. */
  bottleneck: number;
  /** Train every LayerNorm as well (the paper does). Default true. */
  trainLayerNorms: boolean;
  /** Seeds the down-projections' init. */
  seed: number;
}

export class Adapter extends Module {
  readonly down: Linear;
  readonly up: Linear;

  constructor(dim: number, bottleneck: number, rng: Rng) {
    super();
    this.down = this.child('down', new Linear(dim, bottleneck));
    this.up = this.child('up', new Linear(bottleneck, dim));
    // Zero up-projection: the adapter starts as the identity whatever `down` holds. `down` gets torch
    // nn.Linear's default init (uniform ±1/√dim, as LoRA's A): Houlsby's std-1e-2 draw would leave it
    // too small to pass a training signal through on the small residual branches of a young model.
    const w = this.down.weight.data, bound = 1 / Math.sqrt(dim);
    for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * bound;
  }

  forward(h: Tensor): Tensor {
    return add(h, this.up.forward(gelu(this.down.forward(h))));
  }
}

/** An output projection followed by its adapter. */
export class AdaptedLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly adapter: Adapter;

  constructor(readonly base: Linear, bottleneck: number, rng: Rng) {
    super();
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.weight = this.param('weight', base.weight);
    this.bias = base.bias ? this.param('bias', base.bias) : null;
    this.adapter = this.child('adapter', new Adapter(base.outFeatures, bottleneck, rng));
  }

  forward(x: Tensor): Tensor {
    return this.adapter.forward(this.base.forward(x));
  }
}

const ADAPTED = /(^|\.)(transformer\.h\.\d+\.(attn|mlp)\.c_proj|model\.layers\.\d+\.(self_attn\.o_proj|mlp\.down_proj))$/;
const LAYER_NORM = /(^|\.)(ln_1|ln_2|ln_f|input_layernorm|post_attention_layernorm|q_norm|k_norm|norm)\./;

/**
 * Adds an adapter after the attention and after the MLP of every block, then freezes every base
 * parameter except (by default) the LayerNorms. Throws before changing anything if a projection already
 * carries LoRA or an adapter.
 */
export function applyAdapters(model: Module, options: Partial<AdapterOptions> = {}): void {
  const slots = moduleSlots(model).filter((s) => ADAPTED.test(s.path));
  if (slots.length === 0) throw new Error('applyAdapters: the model has no block output projections (GPT-2 transformer.h.*.attn.c_proj / mlp.c_proj, Llama model.layers.*.self_attn.o_proj / mlp.down_proj)');
  for (const s of slots) {
    if (!(s.module instanceof Linear)) {
      const what = s.module instanceof AdaptedLinear ? 'already has an adapter' : 'carries LoRA; LoRA and an adapter cannot share a layer';
      throw new Error(`applyAdapters: ${s.path} ${what}`);
    }
  }
  const dim = (slots[0]!.module as Linear).outFeatures;
  const bottleneck = options.bottleneck ?? Math.min(64, Math.max(1, Math.floor(dim / 2)));
  if (!Number.isInteger(bottleneck) || bottleneck < 1) throw new Error(`applyAdapters: bottleneck must be a positive integer, got ${bottleneck}`);
  const rng = new Rng(options.seed ?? 0xada9);
  for (const s of slots) s.parent.replaceChild(s.name, new AdaptedLinear(s.module as Linear, bottleneck, rng));
  freezeBase(model);
  if (options.trainLayerNorms ?? true) {
    for (const [name, p] of model.namedParameters()) if (LAYER_NORM.test(name)) setTrainable(p, true);
  }
}

export function adapterLayers(model: Module): AdaptedLinear[] {
  return moduleSlots(model).map((s) => s.module).filter((m): m is AdaptedLinear => m instanceof AdaptedLinear);
}
