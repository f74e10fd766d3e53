// `npm run bench`: matmul GFLOP/s for the shapes of a GPT step (native and js, OpenBLAS as reference)
// and one training step of the baby and full shakespeare_char configs (PyTorch as reference).
// --json prints one JSON object per measurement; --quick skips the full config.
import { backend } from '../src/tensor/backends/index.js';
import { matmulMeasurements } from './matmul.js';
import { report } from './lib.js';
import { stepConfigs, stepMeasurements } from './step.js';

const quick = process.argv.includes('--quick');
process.stderr.write(`inkwell bench: backend ${backend().name}, ${backend().threads} threads\n`);
report('matmul (GFLOP/s)', matmulMeasurements());
report('training step', stepMeasurements(quick ? stepConfigs.slice(0, 1) : stepConfigs));
