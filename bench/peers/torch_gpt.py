"""PyTorch peer for inkwell's benchmarks: a GPT-2-style model as nanoGPT builds it (pre-LN, fused qkv,
tanh GELU, tied head, optional biases) in plain PyTorch 1.13. Prints one JSON line:
  torch_gpt.py step  n_layer n_head n_embd block vocab batch dropout reps
      median ms of one forward + backward + AdamW step on random tokens
(nanoGPT's whole training loop is nanogpt_train.py.)
"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, C, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))
        self.bias = nn.Parameter(torch.zeros(C)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Block(nn.Module):
    def __init__(self, C, nh, p, bias):
        super().__init__()
        self.nh = nh
        self.ln_1, self.ln_2 = LayerNorm(C, bias), LayerNorm(C, bias)
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)
        self.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.mlp_proj = nn.Linear(4 * C, C, bias=bias)
        self.attn_drop, self.resid_drop = nn.Dropout(p), nn.Dropout(p)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.nh))
        att = self.attn_drop(F.softmax(att.masked_fill(mask[:T, :T] == 0, float('-inf')), dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.resid_drop(self.c_proj(y))
        return x + self.resid_drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh')))


class GPT(nn.Module):
    def __init__(self, L, nh, C, T, V, p, bias=False):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, nh, p, bias) for _ in range(L))
        self.ln_f, self.drop = LayerNorm(C, bias), nn.Dropout(p)
        self.register_buffer('mask', torch.tril(torch.ones(T, T)))
        for name, w in self.named_parameters():
            if name.endswith('bias'):
                nn.init.zeros_(w)
            elif w.dim() >= 2:
                std = 0.02 / math.sqrt(2 * L) if 'proj' in name else 0.02
                nn.init.normal_(w, 0.0, std)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(T)))
        for b in self.h:
            x = b(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def optimizer(model, lr, beta2, wd=0.1):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}], lr=lr, betas=(0.9, beta2))


def step_benchmark(L, nh, C, T, V, B, p, reps):
    torch.manual_seed(0)
    model = GPT(L, nh, C, T, V, p)
    opt = optimizer(model, 1e-3, 0.99)
    x, y = torch.randint(V, (B, T)), torch.randint(V, (B, T))
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
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == 'step':
        print(json.dumps(step_benchmark(*map(int, a[:6]), float(a[6]), int(a[7]))))
