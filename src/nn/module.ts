// Module: a named tree of parameters and sub-modules, with train/eval mode (as torch.nn.Module).
import { Tensor } from '../tensor/tensor.js';

export abstract class Module {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected param(name: string, tensor: Tensor): Tensor {
    tensor.requiresGrad = true;
    this.ownParams.set(name, tensor);
    return tensor;
  }

  protected child<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** Every parameter with its dotted path, depth-first in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, t] of this.ownParams) out.push([prefix + name, t]);
    for (const [name, m] of this.children) out.push(...m.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Direct sub-modules with their registered names. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** This module ('' or prefix without its dot) and every sub-module with its dotted path, depth-first. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, m] of this.children) out.push(...m.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /**
   * Swaps the child registered as `name` for another module, and the property of that name if it held
   * the old child: how wrappers (LoRA, adapters) attach to an already built model.
   */
  replaceChild(name: string, module: Module): void {
    const old = this.children.get(name);
    if (!old) throw new Error(`no child module '${name}' (children: ${[...this.children.keys()].join(', ')})`);
    this.children.set(name, module);
    const self = this as unknown as Record<string, unknown>;
    if (self[name] === old) self[name] = module;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
}
