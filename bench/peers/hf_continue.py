"""Continues an inkwell training run in PyTorch: the hand-off folder `inkwell export CKPT DIR --format=pytorch`
writes (docs/scale-out.md) — config.json + model.safetensors (HF layout), optimizer.safetensors (AdamW's
exp_avg / exp_avg_sq per parameter, step in the metadata), train_config.json (the learning-rate schedule,
betas, weight decay, clipping, batch shape, iter_num), data/{train,val}.bin + meta.json — is trained for
more steps with torch.optim.AdamW, and written back in the same layout for `inkwell import DIR OUT.safetensors`.

The model is restated in PyTorch (no transformers needed): GPT-2 as Hugging Face's GPT2LMHeadModel
computes it (Conv1D weights [in, out], tanh GELU, tied head), the Llama family through
test/reference/llama_variants.py. Parameters keep their HF names and layouts, so the moments map one to one.

Under torchrun (WORLD_SIZE > 1) each process takes gradient_accumulation_steps / WORLD_SIZE micro-batches
and the gradients are averaged across processes (DDP's all-reduce), on CUDA (NCCL) when there is a GPU,
else on the CPU (Gloo); rank 0 writes the result.

Usage: python3 hf_continue.py DIR OUT --steps=N [--batches=FILE.json] [--probe=FILE.json] [--threads=N]
  --batches   a JSON list, per step, of per-micro-batch lists of B start offsets into train.bin (the test
              passes inkwell's, so both sides see the same tokens); default: nanoGPT's torch.randint draws
  --probe     a JSON list of token ids whose next-token logits (every position) go to OUT/losses.json
"""
import argparse, json, math, os, shutil, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'reference'))

DTYPES = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {}) or {}
    out = {}
    for name, e in header.items():
        start, end = e['data_offsets']
        if e['dtype'] == 'BF16':
            raw = np.frombuffer(data[start:end], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[start:end], dtype=DTYPES[e['dtype']]).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(e['shape']).copy())
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        b = t.detach().to('cpu', torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in chunks:
            f.write(b)
    os.replace(tmp, path)


def gpt2_forward(P, c, idx):
    """HF GPT2LMHeadModel in float32: pre-LayerNorm blocks, Conv1D x @ W + b, tanh GELU, tied head."""
    B, T = idx.shape
    C, H, eps = c['n_embd'], c['n_head'], c.get('layer_norm_epsilon', 1e-5)
    g = lambda n: P['transformer.' + n]
    ln = lambda x, n: F.layer_norm(x, (C,), g(n + '.weight'), g(n + '.bias'), eps)
    x = g('wte.weight')[idx] + g('wpe.weight')[:T]
    mask = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
    for i in range(c['n_layer']):
        p = f'h.{i}.'
        q, k, v = (ln(x, p + 'ln_1') @ g(p + 'attn.c_attn.weight') + g(p + 'attn.c_attn.bias')).split(C, dim=2)
        q, k, v = (z.view(B, T, H, C // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        y = (F.softmax(att.masked_fill(~mask, float('-inf')), dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ g(p + 'attn.c_proj.weight') + g(p + 'attn.c_proj.bias')
        h = F.gelu(ln(x, p + 'ln_2') @ g(p + 'mlp.c_fc.weight') + g(p + 'mlp.c_fc.bias'), approximate='tanh')
        x = x + h @ g(p + 'mlp.c_proj.weight') + g(p + 'mlp.c_proj.bias')
    return ln(x, 'ln_f') @ g('wte.weight').t()


def forward(P, c, idx):
    if c.get('model_type', 'gpt2') == 'gpt2':
        return gpt2_forward(P, c, idx)
    from llama_variants import forward as llama_forward
    return llama_forward(P, c, idx, F.linear)


def learning_rate(it, t):
    """nanoGPT's get_lr, as inkwell's src/train/schedule.ts."""
    if not t.get('decay_lr', True):
        return t['learning_rate']
    if it < t['warmup_iters']:
        return t['learning_rate'] * (it + 1) / (t['warmup_iters'] + 1)
    if it > t['lr_decay_iters']:
        return t['min_lr']
    ratio = (it - t['warmup_iters']) / max(1, t['lr_decay_iters'] - t['warmup_iters'])
    return t['min_lr'] + 0.5 * (1 + math.cos(math.pi * ratio)) * (t['learning_rate'] - t['min_lr'])


def read_tokens(data_dir, split='train'):
    meta = json.load(open(os.path.join(data_dir, 'meta.json')))
    raw = np.fromfile(os.path.join(data_dir, f'{split}.bin'), dtype=np.uint8)
    offset = 1024 if len(raw) >= 1024 and struct.unpack('<i', raw[:4].tobytes())[0] == 20240520 else 0  # llm.c header
    return np.frombuffer(raw[offset:].tobytes(), dtype=np.uint32 if meta.get('dtype') == 'uint32' else np.uint16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('out')
    ap.add_argument('--steps', type=int, required=True)
    ap.add_argument('--batches')
    ap.add_argument('--probe')
    ap.add_argument('--threads', type=int, default=0)
    a = ap.parse_args()
    world, rank = int(os.environ.get('WORLD_SIZE', '1')), int(os.environ.get('RANK', '0'))
    device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else 'cpu')
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    if a.threads:
        torch.set_num_threads(a.threads)

    c = json.load(open(os.path.join(a.dir, 'config.json')))
    run = json.load(open(os.path.join(a.dir, 'train_config.json')))
    t = run['train_config'] or {}
    for k, v in dict(learning_rate=6e-4, min_lr=6e-5, warmup_iters=0, lr_decay_iters=1, decay_lr=False, beta1=0.9, beta2=0.95,
                     weight_decay=0.1, grad_clip=1.0, gradient_accumulation_steps=1, batch_size=8, seed=1337).items():
        t.setdefault(k, v)
    T = t.get('block_size') or c.get('n_positions') or c.get('max_position_embeddings')
    B, accum = t['batch_size'], t['gradient_accumulation_steps']
    if accum % world:
        sys.exit(f'gradient_accumulation_steps {accum} must be a multiple of WORLD_SIZE {world}')
    weights, _ = read_safetensors(os.path.join(a.dir, 'model.safetensors'))
    P = {n: w.to(device).requires_grad_(True) for n, w in weights.items()}
    if c.get('bias') is False:  # a bias-free inkwell GPT exports zero biases: they stay zero, untrained
        for n in P:
            if n.endswith('.bias'):
                P[n].requires_grad_(False)
    names = [n for n in P if P[n].requires_grad]
    decay = [P[n] for n in names if P[n].dim() >= 2]
    no_decay = [P[n] for n in names if P[n].dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': t['weight_decay']}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=t['learning_rate'], betas=(t['beta1'], t['beta2']), eps=1e-8)
    opt_file = os.path.join(a.dir, 'optimizer.safetensors')
    step = 0
    if os.path.exists(opt_file):
        moments, meta = read_safetensors(opt_file)
        step = int(meta['step'])
        for n in names:
            if 'exp_avg.' + n in moments:
                opt.state[P[n]] = {'step': torch.tensor(float(step)), 'exp_avg': moments['exp_avg.' + n].to(device),
                                   'exp_avg_sq': moments['exp_avg_sq.' + n].to(device)}

    data = read_tokens(os.path.join(a.dir, 'data'))
    batches = json.load(open(a.batches)) if a.batches else None
    gen = torch.Generator().manual_seed(t['seed'] + run['iter_num'] + rank)
    it0, losses, lrs = run['iter_num'], [], []
    for s in range(a.steps):
        lr = learning_rate(it0 + s, t)
        for group in opt.param_groups:
            group['lr'] = lr
        loss_sum = 0.0
        for micro in range(rank * accum // world, (rank + 1) * accum // world):
            starts = batches[s][micro] if batches else torch.randint(len(data) - T, (B,), generator=gen).tolist()
            x = torch.stack([torch.from_numpy(data[i:i + T].astype(np.int64)) for i in starts]).to(device)
            y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + T].astype(np.int64)) for i in starts]).to(device)
            logits = forward(P, c, x)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
            (loss / accum).backward()
            loss_sum += loss.item() / accum
        if world > 1:
            for n in names:
                dist.all_reduce(P[n].grad)  # each rank's grad is its share of the 1/accum mean: the sum is the mean
            total = torch.tensor([loss_sum], device=device)
            dist.all_reduce(total)
            loss_sum = total.item()
        if t['grad_clip'] > 0:
            torch.nn.utils.clip_grad_norm_([P[n] for n in names], t['grad_clip'])
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss_sum)
        lrs.append(lr)
        if rank == 0:
            print(f'iter {it0 + s}: loss {loss_sum:.6f}, lr {lr:.3e}', flush=True)

    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
        write_safetensors(os.path.join(a.out, 'model.safetensors'), P, {'format': 'pt'})
        write_safetensors(os.path.join(a.out, 'optimizer.safetensors'),
                          {f'{k}.{n}': opt.state[P[n]][k] for n in names if P[n] in opt.state for k in ('exp_avg', 'exp_avg_sq')},
                          {'step': step + a.steps})
        run.update(iter_num=it0 + a.steps, optimizer_step=step + a.steps)
        json.dump(run, open(os.path.join(a.out, 'train_config.json'), 'w'), indent=2)
        for f in ('config.json', 'tokenizer.json', 'tokenizer_config.json'):
            if os.path.exists(os.path.join(a.dir, f)) and not os.path.samefile(a.dir, a.out):
                shutil.copy(os.path.join(a.dir, f), os.path.join(a.out, f))
        result = {'losses': losses, 'lr': lrs}
        if a.probe:
            with torch.no_grad():
                ids = torch.tensor([json.load(open(a.probe))], device=device)
                result['probe_logits'] = forward(P, c, ids)[0].flatten().tolist()
        json.dump(result, open(os.path.join(a.out, 'losses.json'), 'w'))
    if world > 1:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
