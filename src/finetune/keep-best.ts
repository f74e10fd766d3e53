// Keeping the best model of a fine-tuning run on disk. A fully trained (or only frozen) model is
// written whole to <out_dir>/ckpt.safetensors at every improvement and read back at the end, so the
// model in memory is the best one too. With LoRA or adapters, whose added weights a plain checkpoint
// cannot hold, each improvement writes the PEFT folder <out_dir>/peft (only the trained weights, HF
// PEFT layout) and keeps those weights in memory; at the end the best ones are put back and, for LoRA,
// merged into the base weights, and the merged model is written to ckpt.safetensors, loadable like any
// checkpoint. Adapters cannot be merged: their run keeps the folder.
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import { readSafetensors } from '../io/safetensors.js';
import { noGrad } from '../tensor/tensor.js';
import { adapterLayers } from './adapters.js';
import { loraLayers, mergeLora } from './lora.js';
import { savePeft } from './peft.js';

export interface KeepBest {
  /** Saves the model as it is now (the best so far). */
  save(): void;
  /** Where the last save went (the checkpoint, or the PEFT folder), null before the first. */
  readonly saved: string | null;
  /** Restores the best weights into the model and writes the final files; returns the paths written. */
  finish(): string[];
}

export function keepBest(model: Module & { config: object }, outDir: string, baseModel: string, writeCheckpoint: (path: string) => void): KeepBest {
  const ckpt = join(outDir, 'ckpt.safetensors');
  const peftDir = join(outDir, 'peft');
  const lora = loraLayers(model).length > 0;
  const adapters = adapterLayers(model).length > 0;
  if (!lora && !adapters) {
    let saved = false;
    return {
      save: () => {
        writeCheckpoint(ckpt);
        saved = true;
      },
      get saved() {
        return saved ? ckpt : null;
      },
      finish: () => {
        if (saved) restoreFrom(ckpt, model);
        else writeCheckpoint(ckpt);
        return [ckpt];
      },
    };
  }
  let best: Float32Array[] | null = null;
  const trained = () => model.parameters().filter((p) => p.requiresGrad);
  return {
    save: () => {
      savePeft(peftDir, model, { baseModel });
      best = trained().map((p) => p.data.slice());
    },
    get saved() {
      return best ? peftDir : null;
    },
    finish: () => {
      if (best) noGrad(() => trained().forEach((p, i) => p.data.set(best![i]!)));
      else savePeft(peftDir, model, { baseModel });
      if (adapters) return [peftDir];
      mergeLora(model);
      writeCheckpoint(ckpt);
      return [peftDir, ckpt];
    },
  };
}

/** Puts the weights saved in a checkpoint (named as the model's parameters) back into the model. */
function restoreFrom(path: string, model: Module): void {
  const { tensors } = readSafetensors(path);
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      const t = tensors.get(name);
      if (!t || t.data.length !== p.size) throw new Error(`${path}: cannot restore '${name}' from the best checkpoint`);
      p.data.set(t.data);
    }
  });
}
