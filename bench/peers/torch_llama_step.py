"""PyTorch peer for inkwell's Llama-family training-step benchmark: one forward + backward + AdamW step of
a random-weight Llama-family model (the maths of test/reference/llama_variants.py, which is Hugging Face's
eager LlamaForCausalLM / Qwen2 / Qwen3, in float32) on random tokens, either every parameter trained or
LoRA on q/k/v/o/gate/up/down (rank r, alpha 2r; the base frozen, as PEFT trains it). One argument, a JSON
object: config (HF field names), batch, T, reps, lora_r (null: full training), threads. Prints the median ms.
"""
import json, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'reference'))
from llama_variants import forward, param_shapes  # noqa: E402

args = json.loads(sys.argv[1])
c, B, T, reps, r = args['config'], args['batch'], args['T'], args['reps'], args['lora_r']
torch.set_num_threads(args['threads'])
torch.set_flush_denormal(True)
torch.manual_seed(0)
params = {n: (torch.randn(s) * 0.02).requires_grad_(r is None) for n, s in param_shapes(c)}
for n, p in params.items():
    if n.endswith('norm.weight'):
        p.data.fill_(1.0)
lin = F.linear
trained = list(params.values())
if r is not None:
    targets = ('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj')
    lora = {}
    for n, p in params.items():
        if any(f'.{t}.weight' in n for t in targets):
            out_f, in_f = p.shape
            lora[id(p)] = ((torch.randn(r, in_f) / in_f ** 0.5).requires_grad_(True), torch.zeros(out_f, r, requires_grad=True))
    trained = [t for ab in lora.values() for t in ab]

    def lin(x, w, b=None):
        y = F.linear(x, w, b)
        if id(w) not in lora:
            return y
        a, bb = lora[id(w)]
        return y + F.linear(F.linear(x, a), bb) * 2.0  # alpha / r = 2

decay = [t for t in trained if t.dim() >= 2]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': [t for t in trained if t.dim() < 2], 'weight_decay': 0.0}], lr=1e-3)
ids = torch.randint(0, c['vocab_size'], (B, T))
targets_ = torch.randint(0, c['vocab_size'], (B, T))
times = []
for _ in range(reps + 1):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    logits = forward(params, c, ids, lin)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets_.reshape(-1)).backward()
    opt.step()
    times.append((time.perf_counter() - t0) * 1000)
times = sorted(times[1:])
print(json.dumps({'ms_per_step': times[len(times) // 2], 'threads': torch.get_num_threads()}))
