"""PyTorch peer for bench/eval.ts: multiple-choice scoring as lm-evaluation-harness does it on a GPT-2
shaped model (torch_generate.GPT2, random weights, float32): every choice's sequence (context + choice,
right-padded to the batch's longest) through the model, log-softmax of the logits, the continuation
tokens' log-probabilities summed. Prints one JSON line. Usage:
  torch_loglikelihood.py n_layer n_head n_embd block vocab items choices context_len choice_len batch rounds threads
items_per_s is the median over `rounds` of items scored per second.
"""
import json, statistics, sys, time
import torch
import torch.nn.functional as F
from torch_generate import GPT2


def score(model, seqs, cont_len, batch):
    """Summed log-probabilities of the last cont_len tokens of each sequence."""
    out = []
    for s in range(0, len(seqs), batch):
        group = seqs[s:s + batch]
        T = max(len(q) - 1 for q in group)
        idx = torch.zeros(len(group), T, dtype=torch.long)
        for b, q in enumerate(group):
            idx[b, :len(q) - 1] = torch.tensor(q[:-1])
        # A cache of this batch's length only (new_cache holds the whole context): nothing is decoded after.
        hs = model.C // model.nh
        cache = [(torch.zeros(len(group), model.nh, T, hs), torch.zeros(len(group), model.nh, T, hs)) for _ in model.blocks], 0
        logits, _ = model.forward(idx, cache, all_positions=True)
        logp = F.log_softmax(logits, -1)
        for b, q in enumerate(group):
            n = len(q) - 1
            targets = torch.tensor(q[n - cont_len + 1:])
            out.append(logp[b, n - cont_len:n].gather(1, targets[:, None]).sum().item())
    return out


def main(L, nh, C, T, V, items, choices, context_len, choice_len, batch, rounds, threads):
    torch.set_num_threads(threads)
    model = GPT2(L, nh, C, T, V)
    g = torch.Generator().manual_seed(3)
    seqs = []
    for _ in range(items):
        context = torch.randint(V, (context_len,), generator=g).tolist()
        for _ in range(choices):
            seqs.append(context + torch.randint(V, (choice_len,), generator=g).tolist())
    rates = []
    with torch.inference_mode():
        score(model, seqs[:batch], choice_len, batch)  # warm-up
        for _ in range(rounds):
            t0 = time.perf_counter()
            score(model, seqs, choice_len, batch)
            rates.append(items / (time.perf_counter() - t0))
    print(json.dumps({'items_per_s': statistics.median(rates), 'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main(*map(int, sys.argv[1:13]))
