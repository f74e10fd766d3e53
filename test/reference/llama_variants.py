# Dev-only reference fixtures for the Llama family beyond ../shared/fixtures/llama-tiny, in the same
# layout (see that folder's README): Qwen2 (q/k/v biases, tied head), Qwen3 (q/k RMSNorm, MQA, head_dim
# != hidden/heads), Llama 3.2 (rope_scaling llama3, tied head) and Llama with linear rope scaling and
# attention biases. The maths is written here in PyTorch from Hugging Face's modeling_llama.py,
# modeling_qwen2.py, modeling_qwen3.py and modeling_rope_utils.py (transformers itself is not needed),
# in float64 from weights rounded to float32; bfloat16.json from a float32 run with every linear layer's
# operands and outputs rounded to bfloat16, as torch.autocast does.
# Usage: python3 llama_variants.py OUT_DIR  (writes OUT_DIR/<name>/ for each variant)
import json, math, os, struct, sys

import torch
import torch.nn.functional as F

VARIANTS = {
    'qwen2-tied-bias': dict(model_type='qwen2', architectures=['Qwen2ForCausalLM'], hidden_size=32, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8, vocab_size=61,
                            max_position_embeddings=64, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                            rope_scaling=None, use_sliding_window=False, hidden_act='silu'),
    'qwen3-qknorm-mqa': dict(model_type='qwen3', architectures=['Qwen3ForCausalLM'], hidden_size=32, intermediate_size=48,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16, vocab_size=59,
                             max_position_embeddings=64, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                             attention_bias=False, rope_scaling=None, use_sliding_window=False, hidden_act='silu'),
    'llama32-rope-llama3': dict(model_type='llama', architectures=['LlamaForCausalLM'], hidden_size=32, intermediate_size=64,
                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8, vocab_size=67,
                                max_position_embeddings=64, rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                                attention_bias=False, mlp_bias=False, hidden_act='silu',
                                rope_scaling=dict(rope_type='llama3', factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                                  original_max_position_embeddings=8192)),
    'llama-rope-linear-bias': dict(model_type='llama', architectures=['LlamaForCausalLM'], hidden_size=24, intermediate_size=40,
                                   num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=3, vocab_size=53,
                                   max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                                   attention_bias=True, mlp_bias=False, hidden_act='silu',
                                   rope_scaling=dict(type='linear', factor=2.0)),
}
B, T, PROMPT, NEW = 2, 12, 4, 12


def head_dim(c):
    return c.get('head_dim') or c['hidden_size'] // c['num_attention_heads']


def param_shapes(c):
    C, D, H, KV, I = c['hidden_size'], head_dim(c), c['num_attention_heads'], c['num_key_value_heads'], c['intermediate_size']
    qkv_bias = c['model_type'] == 'qwen2' or c.get('attention_bias', False)
    o_bias = c['model_type'] != 'qwen2' and c.get('attention_bias', False)
    out = [('model.embed_tokens.weight', [c['vocab_size'], C])]
    for i in range(c['num_hidden_layers']):
        p = f'model.layers.{i}.'
        for n, o in (('q_proj', H * D), ('k_proj', KV * D), ('v_proj', KV * D)):
            out.append((f'{p}self_attn.{n}.weight', [o, C]))
            if qkv_bias:
                out.append((f'{p}self_attn.{n}.bias', [o]))
        out.append((f'{p}self_attn.o_proj.weight', [C, H * D]))
        if o_bias:
            out.append((f'{p}self_attn.o_proj.bias', [C]))
        if c['model_type'] == 'qwen3':
            out += [(f'{p}self_attn.q_norm.weight', [D]), (f'{p}self_attn.k_norm.weight', [D])]
        out += [(f'{p}mlp.gate_proj.weight', [I, C]), (f'{p}mlp.up_proj.weight', [I, C]), (f'{p}mlp.down_proj.weight', [C, I]),
                (f'{p}input_layernorm.weight', [C]), (f'{p}post_attention_layernorm.weight', [C])]
    out.append(('model.norm.weight', [C]))
    if not c['tie_word_embeddings']:
        out.append(('lm_head.weight', [c['vocab_size'], C]))
    return out


def init_params(c, gen):
    L = c['num_hidden_layers']
    P = {}
    for name, shape in param_shapes(c):
        n = lambda: torch.randn(shape, generator=gen, dtype=torch.float64)
        if name.endswith('norm.weight') and name.startswith('model.norm'):
            w = 3 * (1 + 0.1 * n())
        elif name.endswith('norm.weight') or name.endswith('layernorm.weight'):
            w = 1 + 0.1 * n()
        elif name.endswith('.bias'):
            w = 0.1 * n()
        elif 'embed_tokens' in name or 'lm_head' in name:
            w = 0.1 * n()
        elif 'o_proj' in name or 'down_proj' in name:
            w = n() * 2 / math.sqrt(shape[1] * 2 * L)
        else:
            w = n() * 1.5 / math.sqrt(shape[1])
        P[name] = w.float().double()  # the float32 weights stored are the exact inputs
    return P


def inv_freq(c, dtype):
    D, base = head_dim(c), c['rope_theta']
    inv = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).to(torch.float64) / D))
    rs = c.get('rope_scaling')
    if rs:
        kind = rs.get('rope_type', rs.get('type'))
        if kind == 'linear':
            inv = inv / rs['factor']
        elif kind == 'llama3':  # modeling_rope_utils._compute_llama3_parameters
            factor, low, high, old = rs['factor'], rs['low_freq_factor'], rs['high_freq_factor'], rs['original_max_position_embeddings']
            low_wl, high_wl = old / low, old / high
            wavelen = 2 * math.pi / inv
            inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
            smooth = (old / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
            medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
            inv = torch.where(medium, smoothed, inv_l)
    return inv.to(dtype)


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def plain(x, w, b=None):
    return F.linear(x, w, b)


def bf16_linear(x, w, b=None):
    y = (x.bfloat16() @ w.bfloat16().t()).float()
    if b is not None:
        y = (y + b).bfloat16().float()
    return y


def forward(P, c, ids, lin=plain, acts=None):
    Bn, Tn = ids.shape
    H, KV, D, eps = c['num_attention_heads'], c['num_key_value_heads'], head_dim(c), c['rms_norm_eps']
    x = P['model.embed_tokens.weight'][ids]
    dtype = x.dtype
    inv = inv_freq(c, dtype)
    freqs = torch.arange(Tn, dtype=dtype)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    rec = (lambda k, v: acts.__setitem__(k, v.detach().clone())) if acts is not None else (lambda k, v: None)
    rec('model.embed_tokens.output', x)
    rec('rope.inv_freq', inv)
    rec('rope.cos', cos)
    rec('rope.sin', sin)
    mask = torch.full((Tn, Tn), float('-inf'), dtype=dtype).triu(1)
    for i in range(c['num_hidden_layers']):
        p = f'model.layers.{i}.'
        g = lambda n: P.get(p + n)
        h = rms(x, g('input_layernorm.weight'), eps)
        rec(p + 'input_layernorm.output', h)
        q = lin(h, g('self_attn.q_proj.weight'), g('self_attn.q_proj.bias')).view(Bn, Tn, H, D)
        k = lin(h, g('self_attn.k_proj.weight'), g('self_attn.k_proj.bias')).view(Bn, Tn, KV, D)
        v = lin(h, g('self_attn.v_proj.weight'), g('self_attn.v_proj.bias')).view(Bn, Tn, KV, D)
        if c['model_type'] == 'qwen3':
            q, k = rms(q, g('self_attn.q_norm.weight'), eps), rms(k, g('self_attn.k_norm.weight'), eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        rec(p + 'self_attn.q_pre_rope', q)
        rec(p + 'self_attn.k_pre_rope', k)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rec(p + 'self_attn.q_rope', q)
        rec(p + 'self_attn.k_rope', k)
        rec(p + 'self_attn.v', v)
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)  # repeat_kv
        att = torch.softmax(q @ k.transpose(-1, -2) * D ** -0.5 + mask, dim=-1)
        rec(p + 'self_attn.attn_probs', att)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, H * D)
        a = lin(y, g('self_attn.o_proj.weight'), g('self_attn.o_proj.bias'))
        rec(p + 'self_attn.output', a)
        x = x + a
        rec(p + 'resid_mid', x)
        h2 = rms(x, g('post_attention_layernorm.weight'), eps)
        rec(p + 'post_attention_layernorm.output', h2)
        m = lin(F.silu(lin(h2, g('mlp.gate_proj.weight'))) * lin(h2, g('mlp.up_proj.weight')), g('mlp.down_proj.weight'))
        rec(p + 'mlp.output', m)
        x = x + m
        rec(p + 'output', x)
    x = rms(x, P['model.norm.weight'], eps)
    rec('model.norm.output', x)
    head = P['model.embed_tokens.weight'] if c['tie_word_embeddings'] else P['lm_head.weight']
    return lin(x, head)


def loss_of(P, c, ids, targets, lin=plain):
    logits = forward(P, c, ids, lin)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def grads(P, c, ids, targets, dtype=torch.float64, lin=plain):
    Q = {k: v.to(dtype).clone().requires_grad_(True) for k, v in P.items()}
    loss = loss_of(Q, c, ids, targets, lin)
    loss.backward()
    return loss.item(), {k: v.grad for k, v in Q.items()}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def greedy(P, c, prompt):
    seq, steps, margins = list(prompt), [], []
    with torch.no_grad():
        for _ in range(NEW):
            last = forward(P, c, torch.tensor([seq]))[0, -1]
            top = torch.topk(last, 2).values
            margins.append((top[0] - top[1]).item())
            steps.append(last)
            seq.append(int(torch.argmax(last)))
    return seq[len(prompt):], torch.stack(steps), min(margins)


def make(name, c, out):
    torch.set_default_dtype(torch.float64)
    for seed in range(1, 40):
        gen = torch.Generator().manual_seed(seed)
        P = init_params(c, gen)
        data = torch.randint(0, c['vocab_size'], (B, T + 1), generator=gen)
        ids, targets = data[:, :-1], data[:, 1:]
        prompt = torch.randint(0, c['vocab_size'], (PROMPT,), generator=gen).tolist()
        tokens, step_logits, margin = greedy(P, c, prompt)
        if margin > 0.02 and len(set(tokens)) > 4:
            break
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    cfg = {k: v for k, v in c.items()}
    cfg['torch_dtype'] = 'float32'
    json.dump(cfg, open(os.path.join(d, 'config.json'), 'w'), indent=1, sort_keys=True)
    write_safetensors(os.path.join(d, 'model.safetensors'), P)
    json.dump({'B': B, 'T': T, 'input_ids': ids.tolist(), 'targets': targets.tolist()}, open(os.path.join(d, 'batch.json'), 'w'))
    acts = {}
    with torch.no_grad():
        logits = forward(P, c, ids, acts=acts)
    write_safetensors(os.path.join(d, 'activations.safetensors'), acts)
    write_safetensors(os.path.join(d, 'logits.safetensors'), {'logits': logits, 'greedy_step_logits': step_logits})
    loss, g = grads(P, c, ids, targets)
    write_safetensors(os.path.join(d, 'grads.safetensors'), g)
    # bfloat16.json: float32 gradients against float32 with bfloat16 linear layers
    l32, g32 = grads(P, c, ids, targets, torch.float32)
    l16, g16 = grads(P, c, ids, targets, torch.float32, bf16_linear)
    rel = {k: (torch.linalg.norm(g16[k] - g32[k]) / torch.linalg.norm(g32[k])).item() for k in g32}
    json.dump({'loss_float32': l32, 'loss_bfloat16': l16, 'grad_rel_error': rel}, open(os.path.join(d, 'bfloat16.json'), 'w'), indent=1)
    # AdamW, 3 steps, decay on 2-D tensors, clipping at 1.0
    Q = {k: v.clone().requires_grad_(True) for k, v in P.items()}
    decay = [k for k, v in Q.items() if v.dim() >= 2]
    opt = torch.optim.AdamW([{'params': [Q[k] for k in decay], 'weight_decay': 0.1},
                             {'params': [v for k, v in Q.items() if k not in decay], 'weight_decay': 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    before, norms, after = [], [], []
    for _ in range(3):
        opt.zero_grad()
        l = loss_of(Q, c, ids, targets)
        before.append(l.item())
        l.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(Q.values()), 1.0).item())
        opt.step()
        with torch.no_grad():
            after.append(loss_of(Q, c, ids, targets).item())
    write_safetensors(os.path.join(d, 'adamw_params.safetensors'), Q)
    expected = {'loss': loss, 'greedy': {'prompt': prompt, 'new_tokens': NEW, 'tokens': tokens, 'min_margin': margin},
                'adamw': {'lr': 1e-3, 'betas': [0.9, 0.95], 'eps': 1e-8, 'weight_decay': 0.1, 'weight_decay_applies_to': decay,
                          'grad_clip_max_norm': 1.0, 'steps': 3, 'loss_before_step': before, 'grad_norm_before_clip': norms,
                          'loss_after_step': after}}
    json.dump(expected, open(os.path.join(d, 'expected.json'), 'w'), indent=1)


if __name__ == '__main__':
    for name, c in VARIANTS.items():
        make(name, c, sys.argv[1])
