// Registers the backends and picks one: native when its addon loaded, else js (said once on stderr).
// INKWELL_BACKEND=js|native forces a choice.
import { backendNames, hasActiveBackend, registerBackend, setBackend } from '../backend.js';
import { createJsBackend } from './js.js';
import { loadNativeBackend, nativeLoadError } from './native.js';

registerBackend('js', createJsBackend);
const native = loadNativeBackend();
if (native) registerBackend('native', () => native);

if (!hasActiveBackend()) {
  const wanted = process.env.INKWELL_BACKEND;
  if (wanted) {
    if (!backendNames().includes(wanted)) {
      throw new Error(`INKWELL_BACKEND=${wanted}: no such backend here (available: ${backendNames().join(', ')})` +
        (wanted === 'native' ? `; the native addon did not load: ${nativeLoadError()}` : ''));
    }
    setBackend(wanted);
  } else if (native) {
    setBackend('native');
  } else {
    setBackend('js');
    process.stderr.write(`inkwell: native kernels unavailable (${nativeLoadError()}); using the pure-TypeScript backend (slower)\n`);
  }
}

export { backend, backendNames, getBackendByName, setBackend } from '../backend.js';
