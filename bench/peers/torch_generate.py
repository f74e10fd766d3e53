"""PyTorch peer for bench/generate.ts: GPT-2 inference written as Hugging Face's GPT2LMHeadModel computes
it (pre-LN, fused qkv Conv1D, tanh GELU, tied head) with a KV cache in plain torch, random weights,
float32, batch 1, greedy. Prints one JSON line. Usage:
  torch_generate.py n_layer n_head n_embd block vocab prompt new_tokens prefill rounds threads
Times: ttft_s (prompt prefill + first token), decode_tps (tokens after the first), first/last_tps (the
first and last 32 of those), prefill_s (a `prefill`-token prompt), each the median over `rounds`.
"""
import json, math, statistics, sys, time
import torch
import torch.nn.functional as F


class GPT2:
    def __init__(self, L, nh, C, T, V):
        g = torch.Generator().manual_seed(0)
        w = lambda *shape: torch.randn(*shape, generator=g) * 0.02
        self.nh, self.C, self.T = nh, C, T
        self.wte, self.wpe = w(V, C), w(T, C)
        self.blocks = [dict(ln1=(torch.ones(C), torch.zeros(C)), attn_w=w(C, 3 * C), attn_b=torch.zeros(3 * C),
                            proj_w=w(C, C), proj_b=torch.zeros(C), ln2=(torch.ones(C), torch.zeros(C)),
                            fc_w=w(C, 4 * C), fc_b=torch.zeros(4 * C), fc_proj_w=w(4 * C, C), fc_proj_b=torch.zeros(C))
                       for _ in range(L)]
        self.lnf = (torch.ones(C), torch.zeros(C))

    def new_cache(self, B):
        hs = self.C // self.nh
        return [(torch.zeros(B, self.nh, self.T, hs), torch.zeros(B, self.nh, self.T, hs)) for _ in self.blocks], 0

    def forward(self, idx, cache, all_positions=False):
        """Logits of the last position (of every position with all_positions); idx continues the cached sequence."""
        layers, past = cache
        B, n = idx.shape
        C, nh, hs = self.C, self.nh, self.C // self.nh
        x = self.wte[idx] + self.wpe[past:past + n]
        mask = torch.ones(n, past + n, dtype=torch.bool).tril(past)
        for blk, (kc, vc) in zip(self.blocks, layers):
            h = F.layer_norm(x, (C,), *blk['ln1'], 1e-5)
            q, k, v = torch.addmm(blk['attn_b'], h.view(-1, C), blk['attn_w']).view(B, n, 3 * C).split(C, dim=2)
            q, k, v = (t.view(B, n, nh, hs).transpose(1, 2) for t in (q, k, v))
            kc[:, :, past:past + n], vc[:, :, past:past + n] = k, v
            att = (q @ kc[:, :, :past + n].transpose(-2, -1)) / math.sqrt(hs)
            att = att.masked_fill(~mask, float('-inf')).softmax(-1)
            y = (att @ vc[:, :, :past + n]).transpose(1, 2).reshape(B * n, C)
            x = x + torch.addmm(blk['proj_b'], y, blk['proj_w']).view(B, n, C)
            h = F.layer_norm(x, (C,), *blk['ln2'], 1e-5).view(-1, C)
            h = F.gelu(torch.addmm(blk['fc_b'], h, blk['fc_w']), approximate='tanh')
            x = x + torch.addmm(blk['fc_proj_b'], h, blk['fc_proj_w']).view(B, n, C)
        x = F.layer_norm(x if all_positions else x[:, -1], (C,), *self.lnf, 1e-5)
        return x @ self.wte.t(), (layers, past + n)


def decode_round(model, prompt, new_tokens):
    """Timestamps (s from the start) at which each new token is known."""
    t0 = time.perf_counter()
    cache = model.new_cache(1)
    idx, stamps = prompt, []
    for _ in range(new_tokens):
        logits, cache = model.forward(idx, cache)
        idx = logits.argmax(-1, keepdim=True)
        stamps.append(time.perf_counter() - t0)
    return stamps


def main(L, nh, C, T, V, prompt_len, new_tokens, prefill, rounds, threads):
    torch.set_num_threads(threads)
    model = GPT2(L, nh, C, T, V)
    prompt = torch.randint(V, (1, prompt_len), generator=torch.Generator().manual_seed(1))
    long_prompt = torch.randint(V, (1, prefill), generator=torch.Generator().manual_seed(2))
    rate = lambda stamps, a, b: (b - a) / (stamps[b] - stamps[a])
    rows = []
    with torch.inference_mode():
        decode_round(model, prompt, 4)  # warm-up
        for _ in range(rounds):
            s = decode_round(model, prompt, new_tokens)
            t0 = time.perf_counter()
            model.forward(long_prompt, model.new_cache(1))
            rows.append(dict(ttft_s=s[0], decode_tps=rate(s, 0, new_tokens - 1), first_tps=rate(s, 0, 32),
                             last_tps=rate(s, new_tokens - 33, new_tokens - 1), prefill_s=time.perf_counter() - t0))
    out = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(json.dumps({**out, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main(*map(int, sys.argv[1:11]))
