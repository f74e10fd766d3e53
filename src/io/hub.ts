// Files from the Hugging Face hub (models and datasets), fetched with resumable downloads into a cache
// folder, following the hub client's conventions: HF_ENDPOINT (mirrors), HF_HOME (cache root), HF_TOKEN
// (bearer auth), HF_HUB_OFFLINE=1 (use the cache, never the network).
import { homedir } from 'node:os';
import { join } from 'node:path';
import { envFlag } from './cache.js';
import { download, offlineFromEnv } from './download.js';

export interface HubOptions {
  /** Only use files already in the cache (default: HF_HUB_OFFLINE or INKWELL_OFFLINE set). */
  offline?: boolean;
  /** Hub URL (default HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Cache root (default $HF_HOME/inkwell, HF_HOME defaulting to ~/.cache/huggingface); files go in <root>/<repo>/. */
  cacheDir?: string;
  /** Access token sent as a bearer token (default HF_TOKEN). */
  token?: string;
  /** Download progress per file (bytes so far, total when known). */
  onProgress?: (file: string, received: number, total: number | undefined) => void;
}

export interface HubRepo {
  /** owner/name */
  id: string;
  kind: 'model' | 'dataset';
  /** A branch or ref (default main; the hub's parquet conversion is refs/convert/parquet). */
  revision?: string;
}

/** The cache folder that holds a repository's files. */
export function hubCacheDir(repo: HubRepo, options: HubOptions = {}): string {
  const root = options.cacheDir ?? join(process.env.HF_HOME ?? join(homedir(), '.cache', 'huggingface'), 'inkwell');
  const revision = repo.revision && repo.revision !== 'main' ? [repo.revision.replace(/\//g, '--')] : [];
  return join(root, ...(repo.kind === 'dataset' ? ['datasets'] : []), ...repo.id.split('/'), ...revision);
}

/** The local path of `file` (a path inside the repository), downloaded into the cache unless already there. */
export async function hubFile(repo: HubRepo, file: string, options: HubOptions = {}): Promise<string> {
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const dir = hubCacheDir(repo, options);
  const token = options.token ?? process.env.HF_TOKEN;
  const revision = encodeURIComponent(repo.revision ?? 'main');
  return download(`${endpoint}/${repo.kind === 'dataset' ? 'datasets/' : ''}${repo.id}/resolve/${revision}/${file}`, {
    cacheDir: dir,
    filename: file.replace(/\//g, '--'),
    offline: options.offline ?? (envFlag('HF_HUB_OFFLINE') || offlineFromEnv()),
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    withoutNetwork: `give a local folder or file with the ${repo.kind}'s files instead (--init=DIR for a model), set HF_ENDPOINT to a hub mirror ` +
      `you can reach, or set HF_HUB_OFFLINE=1 to use only what ${dir} already holds`,
    onProgress: options.onProgress && ((received, total) => options.onProgress!(file, received, total)),
  });
}
