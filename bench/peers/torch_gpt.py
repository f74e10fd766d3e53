"""PyTorch peer for inkwell's benchmarks: a GPT-2-style model (pre-LN, fused qkv, tanh GELU, tied head)
timed for one forward+backward(+AdamW) step. Prints one JSON line. Usage:
  torch_gpt.py step n_layer n_head n_embd block_size vocab batch dropout reps
"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, nh, p):
        super().__init__()
        self.nh, self.p = nh, p
        self.ln_1 = nn.LayerNorm(C, bias=False) if 'bias' in nn.LayerNorm.__init__.__code__.co_varnames else nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.c_proj = nn.Linear(C, C, bias=False)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.mlp_proj = nn.Linear(4 * C, C, bias=False)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.nh)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = self.drop(F.softmax(att.masked_fill(~mask, float('-inf')), dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.drop(self.c_proj(y))
        return x + self.drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh')))


class GPT(nn.Module):
    def __init__(self, L, nh, C, T, V, p):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, nh, p) for _ in range(L))
        self.ln_f, self.drop = nn.LayerNorm(C), nn.Dropout(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(T)))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def step_benchmark(L, nh, C, T, V, B, p, reps):
    torch.manual_seed(0)
    model = GPT(L, nh, C, T, V, p)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(V, (B, T))
    y = torch.randint(V, (B, T))
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i > 0:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {'ms_per_step': times[len(times) // 2], 'threads': torch.get_num_threads(), 'torch': torch.__version__}


if __name__ == '__main__':
    if sys.argv[1] == 'step':
        a = sys.argv[2:]
        print(json.dumps(step_benchmark(int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5]), float(a[6]), int(a[7]))))
