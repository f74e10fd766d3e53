// `npm run bench`: matmul GFLOP/s for the shapes of a GPT step (native and js, OpenBLAS as reference)
// and one training step of the baby (float32 and bfloat16) and full shakespeare_char configs (PyTorch as
// reference, under torch.autocast for bfloat16), then a LoRA SFT step and a full training step of the
// SmolLM2-135M shape (batch 4 × 512; PyTorch running HF's eager Llama maths as reference), and
// multiple-choice scoring of a GPT-2 124M shape, and GGUF export of that shape (safetensors write as reference).
// --json prints one JSON object per measurement; --quick skips the full config and the SmolLM2 steps
// (--quick --full-bf16 keeps the full config's bfloat16 step, against float32 taking turns).
import { backend } from '../src/tensor/backends/index.js';
import { nativeMatmulPath } from '../src/tensor/backends/native.js';
import { matmulMeasurements } from './matmul.js';
import { report } from './lib.js';
import { recordPeak } from '../src/train/peak.js';
import { llamaStepConfigs, llamaStepMeasurements, stepConfigs, stepMeasurements } from './step.js';
import { multipleChoiceMeasurements } from './eval.js';
import { exportMeasurements } from './export.js';

const quick = process.argv.includes('--quick');
const { cpu, path, supported } = nativeMatmulPath();
process.stderr.write(`inkwell bench: backend ${backend().name}, ${backend().threads} threads, ${cpu}, bfloat16 path ${path} ` +
  `(supported: ${supported.join(', ')})${supported.includes('amx') ? '' : '; no AMX here: the AMX targets do not apply'}\n`);
const matmul = matmulMeasurements();
report('matmul (GFLOP/s)', matmul);
// The MFU that `inkwell train` prints is measured against this: the best GPT-shaped product rate.
const best = (suffix: string) => Math.max(...matmul.filter((m) => m.name.endsWith(suffix)).map((m) => m.value));
if (Number.isFinite(best(' native'))) recordPeak(best(' native') * 1e9);
if (Number.isFinite(best(` native bfloat16 ${path}`))) recordPeak(best(` native bfloat16 ${path}`) * 1e9, 'bfloat16');
const fullBf16 = process.argv.includes('--full-bf16');
report('training step', stepMeasurements(quick ? stepConfigs.filter((c) => c.name.startsWith('baby') || (fullBf16 && c.name === 'full bfloat16')) : stepConfigs));
if (!quick) report('Llama-family training step', llamaStepMeasurements(llamaStepConfigs));
report('multiple-choice scoring', multipleChoiceMeasurements());
report('GGUF export (MB of float32 model per second)', exportMeasurements());
