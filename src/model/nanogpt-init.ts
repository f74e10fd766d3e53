// The initial weights nanoGPT's model.py gives after `torch.manual_seed(seed)`: the same GPT-2 init as
// GPT.initWeights, drawn from PyTorch's generator in the order PyTorch draws them. That order is
//   1. the layers' own constructors (nn.Embedding: normal_; nn.Linear: uniform_ weight, then bias),
//      in module order, lm_head last; these values are overwritten, but they advance the generator;
//   2. model.apply(_init_weights): N(0, 0.02) for every Embedding and Linear, again in module order; the
//      tied wte/lm_head tensor keeps lm_head's draw;
//   3. N(0, 0.02/√(2·n_layer)) for every c_proj weight.
// With this and the same batches, a run starts from nanoGPT's model exactly.
import type { Tensor } from '../tensor/tensor.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import type { GPT } from './gpt.js';

/** Fills a Conv1D-layout weight [in, out] from a draw made in nn.Linear's layout [out, in]. */
function fillTransposed(w: Tensor, draw: Float32Array): void {
  const [inF, outF] = w.shape as [number, number];
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) w.data[i * outF + o] = draw[o * inF + i]!;
}

export function initLikeNanoGPT(model: GPT, gen: TorchGenerator): void {
  const { transformer } = model;
  const { wte, wpe, h, ln_f } = transformer;
  const projections = h.flatMap((b) => [b.attn.c_proj, b.mlp.c_proj]);
  const linears = h.flatMap((b) => [b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj]);

  gen.skipNormal(wte.weight.size);
  gen.skipNormal(wpe.weight.size);
  for (const l of linears) {
    gen.skipUniform(l.weight.size);
    if (l.bias) gen.skipUniform(l.bias.size);
  }
  gen.skipUniform(wte.weight.size); // lm_head: nn.Linear(C, V), later tied to wte

  gen.skipNormal(wte.weight.size);
  gen.normal_(wpe.weight.data, 0, 0.02);
  for (const l of linears) {
    // The projections are drawn again, scaled, in step 3: only advance past this draw.
    if (projections.includes(l)) gen.skipNormal(l.weight.size);
    else fillTransposed(l.weight, gen.normal_(new Float32Array(l.weight.size), 0, 0.02));
    l.bias?.data.fill(0);
  }
  gen.normal_(wte.weight.data, 0, 0.02); // lm_head, tied to wte

  const projStd = 0.02 / Math.sqrt(2 * model.config.n_layer);
  for (const proj of projections) fillTransposed(proj.weight, gen.normal_(new Float32Array(proj.weight.size), 0, projStd));
  for (const ln of [...h.flatMap((b) => [b.ln_1, b.ln_2]), ln_f]) {
    ln.weight.data.fill(1);
    ln.bias?.data.fill(0);
  }
}
