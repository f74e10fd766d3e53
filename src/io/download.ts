// Cached, resumable HTTP(S) downloads. A file is fetched once into the cache (cacheDir()/downloads) and
// reused after; bytes land in `<name>.part`, renamed to `<name>` only when complete, so the cache never
// holds a truncated file, and an interrupted download continues from the .part with a Range request.
// Generic on purpose: headers (e.g. Authorization for the Hugging Face hub) are passed through, and fetch
// follows redirects (it drops Authorization when a redirect leaves the origin, e.g. for a CDN).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { cacheDir, envFlag } from './cache.js';

export interface DownloadOptions {
  /** Folder of cached downloads; default `cacheDir()/downloads` (~/.cache/inkwell or $INKWELL_CACHE). */
  cacheDir?: string;
  /** File name in the cache; default a stable name derived from the URL. */
  filename?: string;
  /** Extra request headers, e.g. `{ Authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
  /** Called as bytes arrive: bytes on disk so far (a resumed .part included) and the full size when known. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Use the cache only, never the network; default: the environment variable INKWELL_OFFLINE=1. */
  offline?: boolean;
  /** What to do instead when the file cannot be fetched (no network, offline mode); default: pass a local file. */
  withoutNetwork?: string;
}

const LOCAL_FILE_HINT = 'pass a local file instead';

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

export function offlineFromEnv(): boolean {
  return envFlag('INKWELL_OFFLINE');
}

/** The name `download` gives `url` in the cache: the URL's last path segment, prefixed by a hash of the whole URL. */
export function downloadName(url: string): string {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const name = basename(new URL(url).pathname).replace(/[^\w.-]/g, '_') || 'download';
  return `${hash}-${name}`;
}

/** The local path of `url`, downloading it first unless it is already cached. */
export async function download(url: string, options: DownloadOptions = {}): Promise<string> {
  if (!isUrl(url) || !URL.canParse(url)) throw new Error(`cannot download ${url}: not an http(s) URL`);
  const dir = options.cacheDir ?? join(cacheDir(), 'downloads');
  const target = join(dir, options.filename ?? downloadName(url));
  if (existsSync(target)) return target;
  if (options.offline ?? offlineFromEnv()) {
    throw new Error(`cannot download ${url}: offline mode is on and it is not in the cache (${target}); ${options.withoutNetwork ?? LOCAL_FILE_HINT}`);
  }
  mkdirSync(dir, { recursive: true });
  await fetchInto(url, `${target}.part`, options);
  renameSync(`${target}.part`, target);
  return target;
}

/** Fills `part` with the body of `url`, continuing an existing .part where the server allows it. */
async function fetchInto(url: string, part: string, options: DownloadOptions): Promise<void> {
  // At most two requests: a resume attempt, then a fresh start if the server can't resume.
  for (let attempt = 0; ; attempt++) {
    const resumeFrom = existsSync(part) ? statSync(part).size : 0;
    const headers = new Headers(options.headers);
    // Compressed transfer would make Content-Length and byte ranges refer to other bytes than the file's.
    headers.set('accept-encoding', 'identity');
    if (resumeFrom > 0) headers.set('range', `bytes=${resumeFrom}-`);
    let response: Response;
    try {
      response = await fetch(url, { headers, redirect: 'follow' });
    } catch (err) {
      throw new Error(`cannot download ${url}: ${networkReason(err)} (no network? ${options.withoutNetwork ?? LOCAL_FILE_HINT})`);
    }

    const range = parseContentRange(response.headers.get('content-range'));
    if (response.status === 416 && resumeFrom > 0 && range?.total === resumeFrom) {
      await response.body?.cancel();
      return; // the .part already holds the whole file
    }
    const resumed = response.status === 206 && range?.start === resumeFrom;
    if (resumeFrom > 0 && !resumed && attempt === 0 && (response.status === 206 || response.status === 416)) {
      // A range we did not ask for, or a .part longer than the file (it changed on the server): start over.
      await response.body?.cancel();
      rmSync(part, { force: true });
      continue;
    }
    if (!response.ok || (response.status === 206 && !resumed)) {
      await response.body?.cancel();
      throw new Error(`cannot download ${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    }

    // A 200 answers a Range request when the server ignores ranges: the body is the whole file again.
    const offset = resumed ? resumeFrom : 0;
    const length = response.headers.get('content-length');
    const total = resumed ? range?.total : length === null ? undefined : Number(length);
    await writeBody(url, response, part, offset, total, options.onProgress);
    return;
  }
}

async function writeBody(url: string, response: Response, part: string, offset: number, total: number | undefined,
  onProgress: DownloadOptions['onProgress']): Promise<void> {
  const file = await open(part, offset > 0 ? 'a' : 'w');
  let received = offset;
  try {
    onProgress?.(received, total);
    try {
      for await (const chunk of response.body ?? []) {
        await file.write(chunk);
        received += chunk.length;
        onProgress?.(received, total);
      }
    } catch (err) {
      throw new Error(`cannot download ${url}: connection lost after ${received} bytes (${networkReason(err)}); run again to resume`);
    }
    if (total !== undefined && received !== total) {
      throw new Error(`cannot download ${url}: connection closed after ${received} of ${total} bytes; run again to resume`);
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

// Content-Range: "bytes START-END/TOTAL", or "bytes */TOTAL" on a 416; TOTAL may be "*".
function parseContentRange(header: string | null): { start?: number; total?: number } | undefined {
  const match = header === null ? null : /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(header.trim());
  if (!match) return undefined;
  return {
    start: match[1] === undefined ? undefined : Number(match[1]),
    total: match[2] === '*' ? undefined : Number(match[2]),
  };
}

/** fetch's own message is just "fetch failed"; the cause names the real problem (ENOTFOUND, ECONNREFUSED, …). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string } }).cause;
  return cause?.message || cause?.code || (err as Error).message || String(err);
}
