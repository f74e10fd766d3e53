// Where inkwell keeps what it downloads or measures, and how it reads on/off environment switches.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** $INKWELL_CACHE, else $XDG_CACHE_HOME/inkwell, else ~/.cache/inkwell. */
export function cacheDir(): string {
  return process.env.INKWELL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'inkwell');
}

/** True when the environment variable is set to anything but '', '0' or 'false'. */
export function envFlag(name: string): boolean {
  const value = process.env[name]?.toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}
