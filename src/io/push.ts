// Uploading a model folder to the Hugging Face hub with the ecosystem's own client (@huggingface/hub):
// the repository is created when it does not exist yet, then every file of the folder goes up in one
// commit (small files inline, large ones through the LFS / Xet upload the client negotiates). HF_TOKEN
// authorises it and HF_ENDPOINT points it at a mirror or a test server, as for downloads (io/hub.ts).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRepo, HubApiError, uploadFiles } from '@huggingface/hub';

export interface PushOptions {
  /** owner/name */
  repo: string;
  /** Access token with write permission (default HF_TOKEN). */
  token?: string;
  /** Hub URL (default HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Create the repository private (when it does not exist yet). */
  private?: boolean;
  commitTitle?: string;
}

export interface PushResult {
  /** The files uploaded (the folder's top-level files). */
  files: string[];
  /** Whether the repository was created by this push. */
  created: boolean;
  commitUrl: string | null;
}

const REPO_ID = /^[\w.-]+\/[\w.-]+$/;

/** The files a push uploads: the folder's top-level files, without hidden files and unfinished atomic writes. */
export function filesToPush(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`${dir}: cannot read the folder to push (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return names.filter((name) => !name.startsWith('.') && !name.endsWith('.tmp') && statSync(join(dir, name)).isFile()).sort();
}

export async function pushFolder(dir: string, options: PushOptions): Promise<PushResult> {
  if (!REPO_ID.test(options.repo)) throw new Error(`repository '${options.repo}' must be owner/name (letters, digits, '-', '_', '.')`);
  const accessToken = options.token ?? process.env.HF_TOKEN;
  if (!accessToken) throw new Error('HF_TOKEN is not set: pushing needs a hub access token with write permission (hub settings → Access Tokens)');
  const hubUrl = (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const files = filesToPush(dir);
  if (!files.length) throw new Error(`${dir}: no files to push`);
  const repo = { type: 'model' as const, name: options.repo };
  let created = true;
  try {
    await createRepo({ repo, accessToken, hubUrl, private: options.private });
  } catch (err) {
    // 409: it exists already, which is the usual case for a second push.
    if (!(err instanceof HubApiError && err.statusCode === 409)) throw hubError(err, `creating ${options.repo} on ${hubUrl}`);
    created = false;
  }
  try {
    const out = await uploadFiles({
      repo, accessToken, hubUrl,
      files: files.map((name) => ({ path: name, content: pathToFileURL(join(dir, name)) })),
      commitTitle: options.commitTitle ?? `Upload ${files.length} files with inkwell push`,
    });
    return { files, created, commitUrl: out?.commit.url ?? null };
  } catch (err) {
    throw hubError(err, `uploading ${dir} to ${options.repo} on ${hubUrl}`);
  }
}

function hubError(err: unknown, what: string): Error {
  const e = err as Error;
  const status = err instanceof HubApiError ? ` (HTTP ${err.statusCode})` : '';
  return new Error(`${what}${status}: ${e.message}`, { cause: err });
}
