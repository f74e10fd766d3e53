// The downloader against a local HTTP server: plain, cached, resumed (206 and a server without ranges),
// redirected, failing (404, refused connection, cut connection) and offline.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { download, downloadName } from '../src/io/download.js';

/** 200 KB, so the body arrives in several pieces; bytes vary so a misplaced range shows. */
const CONTENT = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7 + (i >> 8)) % 251));

interface TestServer {
  base: string;
  /** Path and headers of every request, in order. */
  requests: { path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/**
 * /file.bin honours Range (206, or 416 past the end); /no-range/file.bin ignores it; /redirect and
 * /redirect-twice lead to /file.bin; /cut/file.bin promises the whole file and hangs up halfway; the
 * rest is 404.
 */
async function startFileServer(content: Buffer = CONTENT): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server: Server = createServer((request, response) => {
    const path = request.url ?? '/';
    requests.push({ path, headers: request.headers });
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (path === '/file.bin' && range) {
      const start = Number(range[1]);
      if (start >= content.length) {
        response.writeHead(416, { 'content-range': `bytes */${content.length}` }).end();
        return;
      }
      response.writeHead(206, { 'content-range': `bytes ${start}-${content.length - 1}/${content.length}`, 'content-length': content.length - start });
      response.end(content.subarray(start));
    } else if (path === '/file.bin' || path === '/no-range/file.bin') {
      response.writeHead(200, { 'content-length': content.length }).end(content);
    } else if (path === '/redirect' || path === '/redirect-twice') {
      response.writeHead(302, { location: path === '/redirect' ? '/file.bin' : '/redirect' }).end();
    } else if (path === '/cut/file.bin') {
      response.writeHead(200, { 'content-length': content.length });
      response.write(content.subarray(0, content.length / 2), () => response.destroy());
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('download', () => {
  let server: TestServer;
  let root: string;
  let cacheCount = 0;
  /** A fresh cache folder per test. */
  const newCache = () => mkdirSync(join(root, `cache-${cacheCount++}`), { recursive: true })!;

  before(async () => {
    server = await startFileServer();
    root = mkdtempSync(join(tmpdir(), 'inkwell-download-'));
  });
  after(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('downloads into the cache under a stable name, with progress and custom headers', async () => {
    const cacheDir = newCache();
    const url = `${server.base}/file.bin`;
    const progress: [number, number | undefined][] = [];
    const path = await download(url, { cacheDir, headers: { Authorization: 'Bearer test-token' }, onProgress: (done, total) => progress.push([done, total]) });
    assert.equal(path, join(cacheDir, downloadName(url)));
    assert.match(downloadName(url), /^[0-9a-f]{16}-file\.bin$/);
    assert.notEqual(downloadName(url), downloadName(`${server.base}/no-range/file.bin`));
    assert.deepEqual(readFileSync(path), CONTENT);
    assert.ok(!existsSync(`${path}.part`));
    assert.equal(server.requests.at(-1)!.headers.authorization, 'Bearer test-token');
    assert.equal(server.requests.at(-1)!.headers['accept-encoding'], 'identity');
    assert.deepEqual(progress.at(-1), [CONTENT.length, CONTENT.length]);
    assert.ok(progress.every(([done], i) => i === 0 || done >= progress[i - 1]![0]));
  });

  test('a cached file is used without asking the server', async () => {
    const cacheDir = newCache();
    const url = `${server.base}/file.bin`;
    const first = await download(url, { cacheDir });
    const requestsBefore = server.requests.length;
    assert.equal(await download(url, { cacheDir }), first);
    assert.equal(await download(url, { cacheDir, offline: true }), first);
    assert.equal(server.requests.length, requestsBefore);
  });

  test('resumes from a .part with a Range request', async () => {
    const cacheDir = newCache();
    const url = `${server.base}/file.bin`;
    const path = join(cacheDir, downloadName(url));
    writeFileSync(`${path}.part`, CONTENT.subarray(0, 12_345));
    const progress: number[] = [];
    assert.equal(await download(url, { cacheDir, onProgress: (done) => progress.push(done) }), path);
    assert.equal(server.requests.at(-1)!.headers.range, 'bytes=12345-');
    assert.equal(progress[0], 12_345);
    assert.deepEqual(readFileSync(path), CONTENT);
  });

  test('a complete .part answered with 416 is taken as it is', async () => {
    const cacheDir = newCache();
    const url = `${server.base}/file.bin`;
    const path = join(cacheDir, downloadName(url));
    writeFileSync(`${path}.part`, CONTENT);
    assert.equal(await download(url, { cacheDir }), path);
    assert.deepEqual(readFileSync(path), CONTENT);
  });

  test('starts over when the server ignores Range (200)', async () => {
    const cacheDir = newCache();
    const url = `${server.base}/no-range/file.bin`;
    const path = join(cacheDir, downloadName(url));
    writeFileSync(`${path}.part`, CONTENT.subarray(0, 5000));
    await download(url, { cacheDir });
    assert.equal(server.requests.at(-1)!.headers.range, 'bytes=5000-');
    assert.deepEqual(readFileSync(path), CONTENT);
  });

  test('an interrupted download keeps its .part, and the next run resumes it', async () => {
    const cacheDir = newCache();
    await assert.rejects(download(`${server.base}/cut/file.bin`, { cacheDir, filename: 'file.bin' }), (err: Error) => {
      assert.match(err.message, new RegExp(`^cannot download ${server.base}/cut/file\\.bin: connection (lost|closed) after \\d+ `));
      assert.match(err.message, /run again to resume/);
      return true;
    });
    assert.ok(!existsSync(join(cacheDir, 'file.bin')));
    assert.ok(readFileSync(join(cacheDir, 'file.bin.part')).length > 0);
    const path = await download(`${server.base}/file.bin`, { cacheDir, filename: 'file.bin' });
    assert.match(server.requests.at(-1)!.headers.range ?? '', /^bytes=[1-9]\d*-$/);
    assert.deepEqual(readFileSync(path), CONTENT);
  });

  test('follows redirects', async () => {
    const cacheDir = newCache();
    const path = await download(`${server.base}/redirect-twice`, { cacheDir });
    assert.deepEqual(readFileSync(path), CONTENT);
    assert.deepEqual(server.requests.slice(-3).map((r) => r.path), ['/redirect-twice', '/redirect', '/file.bin']);
  });

  test('an HTTP error names the URL and the status, and leaves nothing behind', async () => {
    const cacheDir = newCache();
    const url = `${server.base}/missing.txt`;
    await assert.rejects(download(url, { cacheDir }), { message: `cannot download ${url}: HTTP 404 Not Found` });
    assert.ok(!existsSync(join(cacheDir, downloadName(url))));
  });

  test('a network error names the URL and the cause', async () => {
    const closed = await startFileServer();
    await closed.close();
    const url = `${closed.base}/file.bin`;
    await assert.rejects(download(url, { cacheDir: newCache() }), (err: Error) => {
      assert.match(err.message, new RegExp(`^cannot download ${url}: .*ECONNREFUSED.* \\(no network\\? pass a local file instead\\)$`));
      return true;
    });
  });

  test('offline mode (option or INKWELL_OFFLINE=1) fails clearly when the file is not cached', async () => {
    const url = `${server.base}/file.bin`;
    const requestsBefore = server.requests.length;
    await assert.rejects(download(url, { cacheDir: newCache(), offline: true }), /^Error: cannot download .*: offline mode is on and it is not in the cache \(/);
    const saved = process.env.INKWELL_OFFLINE;
    process.env.INKWELL_OFFLINE = '1';
    try {
      await assert.rejects(download(url, { cacheDir: newCache() }), /offline mode is on/);
      // An explicit option wins over the environment.
      assert.deepEqual(readFileSync(await download(url, { cacheDir: newCache(), offline: false })), CONTENT);
    } finally {
      if (saved === undefined) delete process.env.INKWELL_OFFLINE;
      else process.env.INKWELL_OFFLINE = saved;
    }
    assert.equal(server.requests.length, requestsBefore + 1);
  });

  test('rejects what is not an http(s) URL', async () => {
    await assert.rejects(download('ftp://example.com/x.txt', { cacheDir: newCache() }), { message: 'cannot download ftp://example.com/x.txt: not an http(s) URL' });
  });
});
