"""Turns an inkwell hand-off folder (`inkwell export CKPT DIR --format=pytorch`, GPT-2 architecture) into what
nanoGPT's train.py resumes from (docs/scale-out.md), so `train.py --init_from=resume` continues the run:

  OUT/ckpt.pt          torch.save of train.py's own checkpoint dict: model (model.py's names, nn.Linear
                       weights [out, in] where HF's Conv1D is [in, out], lm_head tied to wte), optimizer
                       (configure_optimizers' AdamW: decayed dim >= 2 then not, in named_parameters order,
                       with the exported moments and step), model_args, iter_num, best_val_loss, config
  OUT/data/train.bin, val.bin   the tokens as np.uint16, as train.py memory-maps them
  OUT/data/meta.pkl    vocab_size (train.py) and, for a character vocabulary, stoi/itos (sample.py)
  OUT/inkwell_run.py   a nanoGPT config file with the run's settings: out_dir=OUT, dataset=OUT/data (absolute:
                       train.py joins it to 'data/'), init_from='resume', the schedule, batch shape, AdamW

The pickles are written here by PyTorch and Python, never by inkwell. Run it with the torch that will train:
model.py registers the causal-mask buffer `attn.bias` only without flash attention (PyTorch < 2), and
load_state_dict is strict, so the checkpoint carries the buffer exactly when this torch's model.py would.

Usage: python3 to_nanogpt.py EXPORT_DIR OUT_DIR
"""
import json, os, pickle, shutil, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_continue import read_safetensors, read_tokens  # noqa: E402

# HF GPT-2's Conv1D weights, [in, out]; nanoGPT's nn.Linear holds them [out, in] (as its from_pretrained transposes).
TRANSPOSED = ('attn.c_attn.weight', 'attn.c_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight')
# The run's settings under the names train.py reads (inkwell's TrainConfig uses the same names).
RUN_KEYS = ('eval_interval', 'eval_iters', 'log_interval', 'always_save_checkpoint', 'gradient_accumulation_steps', 'batch_size',
            'block_size', 'dropout', 'learning_rate', 'max_iters', 'weight_decay', 'beta1', 'beta2', 'grad_clip', 'decay_lr',
            'warmup_iters', 'lr_decay_iters', 'min_lr')


def parameter_names(n_layer, bias):
    """model.py's named_parameters() order (lm_head.weight is wte.weight, so named_parameters lists it once)."""
    b = ('weight', 'bias') if bias else ('weight',)
    names = ['transformer.wte.weight', 'transformer.wpe.weight']
    for i in range(n_layer):
        for module in ('ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj'):
            names += [f'transformer.h.{i}.{module}.{k}' for k in b]
    return names + [f'transformer.ln_f.{k}' for k in b]


def has_mask_buffer():
    """model.py's CausalSelfAttention keeps the causal mask as a buffer only without flash attention."""
    return not hasattr(torch.nn.functional, 'scaled_dot_product_attention')


def optimizer_state(names, shapes, moments, step, t):
    """configure_optimizers' AdamW with the exported state, as optimizer.state_dict() gives it for this torch."""
    params = {n: torch.zeros(shapes[n]) for n in names}
    groups = [{'params': [params[n] for n in names if params[n].dim() >= 2], 'weight_decay': t['weight_decay']},
              {'params': [params[n] for n in names if params[n].dim() < 2], 'weight_decay': 0.0}]
    opt = torch.optim.AdamW(groups, lr=t['learning_rate'], betas=(t['beta1'], t['beta2']))
    for n in names:
        if 'exp_avg.' + n in moments:
            opt.state[params[n]] = {'step': torch.tensor(float(step)), 'exp_avg': moments['exp_avg.' + n],
                                    'exp_avg_sq': moments['exp_avg_sq.' + n]}
    return opt.state_dict()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split('Usage: ')[1])
    src, out = sys.argv[1], os.path.abspath(sys.argv[2])
    c = json.load(open(os.path.join(src, 'config.json')))
    if c.get('model_type', 'gpt2') != 'gpt2':
        sys.exit(f"{src}/config.json: model_type '{c.get('model_type')}' — nanoGPT's model.py is GPT-2 only")
    if c.get('layer_norm_epsilon', 1e-5) != 1e-5:
        sys.exit(f"{src}/config.json: layer_norm_epsilon {c['layer_norm_epsilon']} — nanoGPT's LayerNorm uses 1e-5")
    run = json.load(open(os.path.join(src, 'train_config.json')))
    t = dict(learning_rate=6e-4, weight_decay=0.1, beta1=0.9, beta2=0.95)
    t.update({k: v for k, v in (run.get('train_config') or {}).items() if k in RUN_KEYS})
    bias = c.get('bias', True) is not False
    model_args = dict(n_layer=c['n_layer'], n_head=c['n_head'], n_embd=c['n_embd'], block_size=c['n_positions'], bias=bias,
                      vocab_size=c['vocab_size'], dropout=t.get('dropout', 0.0))

    weights, _ = read_safetensors(os.path.join(src, 'model.safetensors'))
    names = parameter_names(c['n_layer'], bias)
    for n in names:
        if n not in weights:
            sys.exit(f'{src}/model.safetensors: tensor {n} is missing')
    for n, w in weights.items():  # a bias-free inkwell model exports zero biases for HF; model.py has none
        if n not in names and not (n.endswith('.bias') and not bias and not w.any()):
            sys.exit(f'{src}/model.safetensors: tensor {n} has no place in nanoGPT\'s model.py (bias={bias})')
    fix = lambda n, w: w.t().contiguous() if n.endswith(TRANSPOSED) else w
    state = {n: fix(n, weights[n]) for n in names}
    state['lm_head.weight'] = state['transformer.wte.weight']  # tied: torch.save stores the one tensor once
    if has_mask_buffer():
        T = model_args['block_size']
        for i in range(c['n_layer']):
            state[f'transformer.h.{i}.attn.bias'] = torch.tril(torch.ones(T, T)).view(1, 1, T, T)

    moments, step = {}, 0
    opt_file = os.path.join(src, 'optimizer.safetensors')
    if os.path.exists(opt_file):
        raw, meta = read_safetensors(opt_file)
        moments, step = {k: fix(k.split('.', 1)[1], v) for k, v in raw.items()}, int(meta['step'])
    else:
        print(f'{opt_file} not found: AdamW starts afresh', file=sys.stderr)
    optimizer = optimizer_state(names, {n: state[n].shape for n in names}, moments, step, t)

    data = os.path.join(out, 'data')
    os.makedirs(data, exist_ok=True)
    meta = json.load(open(os.path.join(src, 'data', 'meta.json')))
    if meta.get('dtype', 'uint16') != 'uint16':
        sys.exit(f"{src}/data/meta.json: dtype {meta['dtype']} — nanoGPT's train.py reads uint16 tokens only")
    for split in ('train', 'val'):
        tokens = read_tokens(os.path.join(src, 'data'), split)
        tmp = os.path.join(data, f'{split}.bin.tmp')
        tokens.astype(np.uint16).tofile(tmp)
        os.replace(tmp, os.path.join(data, f'{split}.bin'))
    pkl = {'vocab_size': c['vocab_size']}
    tok = meta.get('tokenizer') or {}
    if tok.get('type') == 'char':  # sample.py encodes and decodes with these, as nanoGPT's prepare.py writes them
        pkl.update(itos=dict(enumerate(tok['chars'])), stoi={ch: i for i, ch in enumerate(tok['chars'])})
    with open(os.path.join(data, 'meta.pkl.tmp'), 'wb') as f:
        pickle.dump(pkl, f)
    os.replace(os.path.join(data, 'meta.pkl.tmp'), os.path.join(data, 'meta.pkl'))

    config = dict(out_dir=out, dataset=data, init_from='resume', **{k: t[k] for k in RUN_KEYS if k in t})
    best = run.get('best_val_loss')
    checkpoint = {'model': state, 'optimizer': optimizer, 'model_args': model_args, 'iter_num': run['iter_num'],
                  'best_val_loss': best if best is not None else 1e9, 'config': config}
    torch.save(checkpoint, os.path.join(out, 'ckpt.pt.tmp'))
    os.replace(os.path.join(out, 'ckpt.pt.tmp'), os.path.join(out, 'ckpt.pt'))
    with open(os.path.join(out, 'inkwell_run.py.tmp'), 'w') as f:
        f.write('# nanoGPT config file for the run inkwell handed off (bench/peers/to_nanogpt.py)\n')
        f.writelines(f'{k} = {v!r}\n' for k, v in config.items())
    os.replace(os.path.join(out, 'inkwell_run.py.tmp'), os.path.join(out, 'inkwell_run.py'))
    print(f"{out}/ckpt.pt: iter_num {run['iter_num']}, AdamW step {step}; "
          f'continue with: torchrun --standalone --nproc_per_node=N train.py {out}/inkwell_run.py --max_iters=…')


if __name__ == '__main__':
    main()
