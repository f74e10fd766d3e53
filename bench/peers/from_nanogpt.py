"""The way back from nanoGPT (docs/scale-out.md): a train.py checkpoint `ckpt.pt` becomes an inkwell hand-off
folder (config.json + model.safetensors in HF GPT-2's layout, optimizer.safetensors with AdamW's
exp_avg/exp_avg_sq per parameter and the step, train_config.json with iter_num) that
`inkwell import DIR CKPT.safetensors` reads. The reverse of to_nanogpt.py: nn.Linear weights go back to
Conv1D's [in, out], the tied lm_head and model.py's causal-mask buffers are dropped, and the optimizer's
state, indexed by position across configure_optimizers' two groups, is named by model.py's parameter order.

Usage: python3 from_nanogpt.py CKPT_PT OUT_DIR [--train-config=EXPORT/train_config.json]
  --train-config  the hand-off's train_config.json, whose inkwell settings are kept (those train.py also
                  has are taken from the checkpoint's config); without it, the checkpoint's alone
"""
import argparse, json, os, shutil, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_continue import write_safetensors  # noqa: E402
from to_nanogpt import RUN_KEYS, TRANSPOSED, parameter_names  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('ckpt')
    ap.add_argument('out')
    ap.add_argument('--train-config')
    a = ap.parse_args()
    ck = torch.load(a.ckpt, map_location='cpu')
    for key in ('model', 'optimizer', 'model_args', 'iter_num'):
        if key not in ck:
            sys.exit(f"{a.ckpt}: no '{key}' entry — not a nanoGPT train.py checkpoint")
    m = ck['model_args']
    # train.py's own fix: checkpoints of a torch.compile'd model carry this prefix
    state = {k[len('_orig_mod.'):] if k.startswith('_orig_mod.') else k: v for k, v in ck['model'].items()}
    names = parameter_names(m['n_layer'], m['bias'])
    missing = [n for n in names if n not in state]
    if missing:
        sys.exit(f'{a.ckpt}: model tensors missing: {", ".join(missing[:4])}')
    if 'lm_head.weight' in state and not torch.equal(state['lm_head.weight'], state['transformer.wte.weight']):
        sys.exit(f'{a.ckpt}: lm_head.weight differs from transformer.wte.weight — GPT-2 ties them')
    fix = lambda n, w: w.t().contiguous() if n.endswith(TRANSPOSED) else w
    weights = {n: fix(n, state[n].float()) for n in names}
    if not m['bias']:  # HF's GPT-2 has biases: a bias-free model gets zeros, as inkwell exports it
        for n in names:
            if n.endswith('.weight') and '.wte.' not in n and '.wpe.' not in n:
                weights[n[:-len('weight')] + 'bias'] = torch.zeros(weights[n].shape[0 if 'ln_' in n else 1])

    # configure_optimizers' groups: decayed (dim >= 2) then not, each in named_parameters order
    decay = [n for n in names if weights[n].dim() >= 2]
    order = decay + [n for n in names if weights[n].dim() < 2]
    groups = ck['optimizer']['param_groups']
    ids = [i for g in groups for i in g['params']]
    if len(ids) != len(order):
        sys.exit(f"{a.ckpt}: the optimizer has {len(ids)} parameters, model.py's configure_optimizers {len(order)}")
    moments, steps = {}, set()
    for i, n in zip(ids, order):
        s = ck['optimizer']['state'].get(i)
        if s:
            moments['exp_avg.' + n], moments['exp_avg_sq.' + n] = fix(n, s['exp_avg'].float()), fix(n, s['exp_avg_sq'].float())
            steps.add(int(s['step']))
    if len(steps) > 1:
        sys.exit(f'{a.ckpt}: parameters are at different AdamW steps {sorted(steps)}; inkwell keeps one')
    step = steps.pop() if steps else 0

    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, 'model.safetensors'), weights, {'format': 'pt'})
    if moments:
        write_safetensors(os.path.join(a.out, 'optimizer.safetensors'), moments, {'step': step})
    hf = {'model_type': 'gpt2', 'architectures': ['GPT2LMHeadModel'], 'vocab_size': m['vocab_size'], 'n_positions': m['block_size'],
          'n_ctx': m['block_size'], 'n_embd': m['n_embd'], 'n_layer': m['n_layer'], 'n_head': m['n_head'], 'n_inner': None,
          'activation_function': 'gelu_new', 'layer_norm_epsilon': 1e-5, 'tie_word_embeddings': True, 'torch_dtype': 'float32',
          **({} if m['bias'] else {'bias': False})}
    base = json.load(open(a.train_config)) if a.train_config else {}
    config = dict(base.get('train_config') or {})
    config.update({k: v for k, v in (ck.get('config') or {}).items() if k in RUN_KEYS})
    best = ck.get('best_val_loss')
    run = {'train_config': config or None, 'iter_num': int(ck['iter_num']), 'optimizer_step': step,
           'best_val_loss': float(best) if best is not None and float(best) < 1e9 else None}
    for name, obj in (('config.json', hf), ('train_config.json', run)):
        with open(os.path.join(a.out, name + '.tmp'), 'w') as f:
            json.dump(obj, f, indent=2)
        os.replace(os.path.join(a.out, name + '.tmp'), os.path.join(a.out, name))
    if a.train_config:  # the tokenizer travels with the hand-off folder, not in ckpt.pt
        src = os.path.dirname(os.path.abspath(a.train_config))
        for f in ('tokenizer.json', 'tokenizer_config.json'):
            if os.path.exists(os.path.join(src, f)):
                shutil.copy(os.path.join(src, f), os.path.join(a.out, f))
    print(f"{a.out}: iter_num {run['iter_num']}, AdamW step {step}; bring it back with: inkwell import {a.out} CKPT.safetensors")


if __name__ == '__main__':
    main()
