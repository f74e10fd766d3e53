// The binary GPT as a finite-state Markov chain (`inkwell markov`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';
import { markovSvg, stateSpaceSize, trainBinaryGPT, validateSequence, windowCounts } from '../src/markov/binary-gpt.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

test('50 steps make the transitions seen in the data dominate', () => {
  // 111101111011110: 011, 101 and 110 are always followed by 1; 111 is followed by 0 and 1 three times
  // each (a tie, so its optimum is 0.5 and it has no "most frequent" next token).
  const r = trainBinaryGPT({ seed: 1337 });
  assert.equal(r.states.length, 8);
  assert.equal(r.transitions.length, 16);
  assert.ok(r.losses[r.losses.length - 1]! < r.losses[0]!, 'training lowers the loss');
  const counts = windowCounts(r.sequence);
  let majorities = 0;
  for (const s of r.states) {
    const c = counts.get(s.state);
    assert.deepEqual(s.counts, c ?? [0, 0]);
    assert.ok(Math.abs(s.probs[0] + s.probs[1] - 1) < 1e-5);
    if (!c || c[0] === c[1]) continue;
    const majority = c[1] > c[0] ? 1 : 0;
    assert.ok(s.probs[majority] > 0.5, `${s.state} → ${majority} has p=${s.probs[majority]}`);
    majorities++;
  }
  assert.equal(majorities, 3);
  // The tied state stays near even odds (0.41 / 0.59 here after 50 steps; 0.35–0.65 over a few seeds).
  const tie = r.states.find((s) => s.state === '111')!;
  assert.ok(Math.abs(tie.probs[0] - 0.5) < 0.25, `111 has P(0)=${tie.probs[0]}`);
  // Aggregate: the seen transitions with a strict majority average well above 0.5 (about 0.8).
  const seen = r.transitions.filter((t) => t.count > 0 && t.from !== '111');
  assert.ok(seen.reduce((a, t) => a + t.p, 0) / seen.length > 0.7);
});

test('the same seed gives the same chain', () => {
  const a = trainBinaryGPT({ seed: 3, steps: 5 }), b = trainBinaryGPT({ seed: 3, steps: 5 });
  assert.deepEqual(a.transitions, b.transitions);
});

test('state space: 8 full contexts, 14 with the shorter ones', () => {
  assert.equal(stateSpaceSize(), 14);
  const r = trainBinaryGPT({ steps: 2 });
  assert.equal(r.stateCount, 14);
  assert.equal(r.states.length + r.shortStates.length, 14);
  for (const t of r.transitions) assert.equal(t.to, t.from.slice(1) + t.token);
});

test('the SVG has 8 nodes and 16 edges, seen ones marked', () => {
  const svg = markovSvg(trainBinaryGPT({ steps: 5 }));
  assert.equal(svg.match(/<g class="node"/g)?.length, 8);
  assert.equal(svg.match(/<path class="edge /g)?.length, 16);
  assert.equal(svg.match(/<path class="edge seen"/g)?.length, 5); // 011→111, 101→011, 110→101, 111→110, 111→111
});

test('invalid sequences are rejected clearly', () => {
  assert.throws(() => validateSequence('11a1'), /only 0 and 1, found 'a' at position 3/);
  assert.throws(() => validateSequence('101'), /at least 4 bits/);
  assert.doesNotThrow(() => validateSequence('1010'));
});

test('inkwell markov prints the table and writes the SVG; bad --sequence is a usage error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-markov-'));
  try {
    const out = join(dir, 'chain.svg');
    const ok = spawnSync(process.execPath, [CLI, 'markov', '--steps=10', `--out=${out}`], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /= 14 states/);
    assert.match(ok.stdout, /011 \+ 1 → 111 {2}p=0\.\d{3} {2}seen 2×/);
    assert.equal(readFileSync(out, 'utf8').match(/<path class="edge /g)?.length, 16);
    for (const [bad, msg] of [['10x01', /only 0 and 1/], ['101', /at least 4 bits/]] as const) {
      const r = spawnSync(process.execPath, [CLI, 'markov', `--sequence=${bad}`, `--out=${join(dir, 'bad.svg')}`], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /inkwell: usage: --sequence: /);
      assert.match(r.stderr, msg);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
