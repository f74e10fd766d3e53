"""PyTorch peer for inkwell's benchmarks: nanoGPT's model.py and train.py, restated for PyTorch 1.13 on
the CPU (no flash attention, no compile) with the same module order, initialisation, random draws and
loop order, so `torch.manual_seed(seed)` gives nanoGPT's run. One argument, a JSON object with the model
(n_layer, n_head, n_embd, block_size, batch_size, bias, dropout, gelu: 'erf' as nanoGPT, 'tanh' as
GPT-2), the optimiser (learning_rate, weight_decay, beta1, beta2), seed, dtype ('float32', or 'bfloat16':
forward passes under torch.autocast as nanoGPT runs them on a GPU; nanoGPT's CPU run is float32), and a mode:
  "train" (default): data_dir, max_iters, eval_interval, eval_iters, min_lr, warmup_iters,
      lr_decay_iters, grad_clip, losses (true: print every loss), iteration_times (true: print each
      iteration's ms and the wall-clock time, epoch ms, it ended). Prints median ms/iter, total seconds,
      the evaluations, the final model's loss over every token of the val split (consecutive windows of
      block_size, as `inkwell eval` reads them), and the per-iteration losses if asked.
      gradient_accumulation_steps (default 1) as train.py's loop (the loss reported is the micro-batches' mean);
      batches: per iteration, per micro-batch, B start offsets into train.bin instead of torch.randint's;
      probe: token ids whose logits (every position) the final model prints.
      out_dir + init_from 'resume': train.py's resume — model_args, weights, AdamW state, iter_num and
      best_val_loss from out_dir/ckpt.pt (bench/peers/to_nanogpt.py writes one from an inkwell hand-off);
      max_iters counts from 0, as train.py's. With out_dir, checkpoints are saved at evaluations as train.py
      saves them (always_save_checkpoint, default true, or a better val loss).
  "step": vocab_size, reps. Prints the median ms of one forward + backward + AdamW step on random tokens.
"""
import json, math, os, sys, time
from contextlib import nullcontext
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
checkpoint = None
if cfg.get('init_from', 'scratch') == 'resume':
    checkpoint = torch.load(os.path.join(cfg['out_dir'], 'ckpt.pt'), map_location='cpu')
    # train.py: these must equal the checkpoint's to resume at all; the rest (dropout) stay as configured
    for k in ('n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size'):
        cfg[k] = checkpoint['model_args'][k]
L, H, C, T, B = cfg['n_layer'], cfg['n_head'], cfg['n_embd'], cfg['block_size'], cfg['batch_size']
P, BIAS = cfg['dropout'], cfg['bias']
ctx = torch.autocast('cpu', dtype=torch.bfloat16) if cfg.get('dtype', 'float32') == 'bfloat16' else nullcontext()


class LayerNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if BIAS else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C, bias=BIAS)
        self.c_proj = nn.Linear(C, C, bias=BIAS)
        self.attn_dropout, self.resid_dropout = nn.Dropout(P), nn.Dropout(P)
        self.register_buffer('bias', torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = self.attn_dropout(F.softmax(att.masked_fill(self.bias[:, :, :t, :t] == 0, float('-inf')), dim=-1))
        return self.resid_dropout(self.c_proj((att @ v).transpose(1, 2).contiguous().view(b, t, c)))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=BIAS)
        self.gelu = nn.GELU(approximate='none' if cfg['gelu'] == 'erf' else 'tanh')
        self.c_proj = nn.Linear(4 * C, C, bias=BIAS)
        self.dropout = nn.Dropout(P)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = LayerNorm(C), CausalSelfAttention(), LayerNorm(C), MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(wte=nn.Embedding(V, C), wpe=nn.Embedding(T, C), drop=nn.Dropout(P),
                                              h=nn.ModuleList([Block() for _ in range(L)]), ln_f=LayerNorm(C)))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * L))

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            torch.nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            torch.nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        t = idx.size(1)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(torch.arange(0, t, dtype=torch.long)))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def adamw(model):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW([{'params': [p for p in params if p.dim() >= 2], 'weight_decay': cfg['weight_decay']},
                              {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0}],
                             lr=cfg['learning_rate'], betas=(cfg['beta1'], cfg['beta2']))


def median(xs):
    return sorted(xs)[len(xs) // 2] if xs else None


def info():
    return {'threads': torch.get_num_threads(), 'torch': torch.__version__}


torch.manual_seed(cfg['seed'])
if cfg.get('mode', 'train') == 'step':
    model = GPT(cfg['vocab_size'])
    optimizer = adamw(model)
    x, y = torch.randint(cfg['vocab_size'], (B, T)), torch.randint(cfg['vocab_size'], (B, T))
    times = []
    for i in range(cfg['reps'] + 1):
        t0 = time.perf_counter()
        with ctx:
            loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i > 0:
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'ms_per_step': median(times), **info()}))
    sys.exit(0)

data = {s: np.memmap(os.path.join(cfg['data_dir'], f'{s}.bin'), dtype=np.uint16, mode='r') for s in ('train', 'val')}
model = GPT(cfg['vocab_size'] if 'vocab_size' in cfg else json.load(open(os.path.join(cfg['data_dir'], 'meta.json')))['vocab_size'])
optimizer = adamw(model)
iter_num, best_val_loss = 0, 1e9
if checkpoint is not None:
    unwanted_prefix = '_orig_mod.'
    state_dict = {k[len(unwanted_prefix):] if k.startswith(unwanted_prefix) else k: v for k, v in checkpoint['model'].items()}
    model.load_state_dict(state_dict)
    iter_num, best_val_loss = checkpoint['iter_num'], checkpoint['best_val_loss']
    optimizer.load_state_dict(checkpoint['optimizer'])
    checkpoint = None
accum = cfg.get('gradient_accumulation_steps', 1)
fed = iter(cfg['batches'][s][m] for s in range(len(cfg['batches'])) for m in range(accum)) if cfg.get('batches') else None


def next_batch():
    # with batches given, train.py's prefetch past the last step gets one never trained on
    return get_batch('train', next(fed, [0] * B) if fed else None)


def get_batch(split, ix=None):
    d = data[split]
    ix = torch.randint(len(d) - T, (B,)) if ix is None else ix
    x = torch.stack([torch.from_numpy(d[i:i + T].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(d[i + 1:i + 1 + T].astype(np.int64)) for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss():
    out = {}
    model.eval()
    for split in ('train', 'val'):
        with ctx:
            out[split] = sum(model(*get_batch(split)).item() for _ in range(cfg['eval_iters'])) / cfg['eval_iters']
    model.train()
    return out


def get_lr(it):
    lr, min_lr, warmup, decay = cfg['learning_rate'], cfg['min_lr'], cfg['warmup_iters'], cfg['lr_decay_iters']
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    ratio = (it - warmup) / (decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


evals, losses, times, ends = [], [], [], []
X, Y = next_batch()
t_start = time.perf_counter()
it = iter_num
while True:
    for group in optimizer.param_groups:
        group['lr'] = get_lr(it)
    if it % cfg['eval_interval'] == 0:
        e = estimate_loss()
        evals.append({'iter': it, 'train_loss': e['train'], 'val_loss': e['val']})
        if cfg.get('out_dir') and (e['val'] < best_val_loss or cfg.get('always_save_checkpoint', True)):
            best_val_loss = e['val']
            if it > 0:
                model_args = {k: cfg[k] for k in ('n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'dropout')}
                model_args['vocab_size'] = model.lm_head.weight.shape[0]
                torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'model_args': model_args,
                            'iter_num': it, 'best_val_loss': best_val_loss, 'config': cfg}, os.path.join(cfg['out_dir'], 'ckpt.pt'))
    if it >= cfg['max_iters']:
        break
    t0 = time.perf_counter()
    loss_sum = 0.0
    for micro_step in range(accum):
        with ctx:
            loss = model(X, Y) / accum
        X, Y = next_batch()
        loss.backward()
        loss_sum += loss.item()
    if cfg['grad_clip'] > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg['grad_clip'])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    losses.append(loss_sum)
    times.append((time.perf_counter() - t0) * 1000)
    ends.append(time.time() * 1000)
    it += 1
total_s = time.perf_counter() - t_start


@torch.no_grad()
def split_loss(d):
    """Mean loss over every token of d: windows start every T tokens; the last may be shorter."""
    model.eval()
    total, count = 0.0, 0
    starts = list(range(0, len(d) - 1, T))
    full = [s for s in starts if s + T + 1 <= len(d)]
    for i in range(0, len(full), 8):
        ix = full[i:i + 8]
        x = torch.stack([torch.from_numpy(d[s:s + T].astype(np.int64)) for s in ix])
        y = torch.stack([torch.from_numpy(d[s + 1:s + 1 + T].astype(np.int64)) for s in ix])
        total += model(x, y).item() * x.numel()
        count += x.numel()
    for s in starts[len(full):]:
        n = len(d) - 1 - s
        x = torch.from_numpy(d[s:s + n].astype(np.int64))[None]
        y = torch.from_numpy(d[s + 1:s + 1 + n].astype(np.int64))[None]
        total += model(x, y).item() * n
        count += n
    return total / count


result = {'ms_per_iter': median(times), 'total_s': total_s, 'evals': evals, 'val_loss': evals[-1]['val_loss'],
          'val_split_loss': split_loss(data['val']), **info()}
if cfg.get('losses'):
    result['losses'] = losses
if cfg.get('probe'):
    model.eval()
    with torch.no_grad():
        result['probe_logits'] = model(torch.tensor([cfg['probe']]))[0].flatten().tolist()
if cfg.get('iteration_times'):
    result['iter_ms'], result['iter_end'] = times, ends
print(json.dumps(result))
