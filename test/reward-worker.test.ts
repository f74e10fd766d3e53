// User reward code runs in a RewardWorker: a batch of answers is one call; a hang, a catastrophic
// regular expression, process.exit() or a throw inside the rules fails the call with the rules file,
// the call and the answer named, and every later call fails the same way.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadRewardSource } from '../src/align/reward-source.js';
import { RewardWorker } from '../src/align/reward-worker.js';

const root = mkdtempSync(join(tmpdir(), 'inkwell-reward-worker-'));
after(() => rmSync(root, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  writeFileSync(join(root, name), text);
  return join(root, name);
};
const items = (...answers: string[]) => answers.map((answer) => ({ prompt: 'p', answer }));

describe('RewardWorker', () => {
  test('scores a batch per call with the module loaded once; an idle worker does not hold the process', async () => {
    // `calls` counts module evaluations × answers: loaded once, it grows across batches.
    const file = write('count.mjs', 'let calls = 0;\nexport default (prompt, answer) => answer.length * 100 + ++calls;\n');
    const rw = await RewardWorker.start(file, { timeoutMs: 5000 });
    assert.deepEqual(await rw.score(items('a', 'bb', '')), [101, 202, 3]);
    assert.deepEqual(await rw.score(items('ccc')), [304]);
    assert.deepEqual(await rw.score([]), []);
    const json = await loadRewardSource(write('no-e.json', JSON.stringify({ rules: [{ forbid: 'e', per_match: true }] })));
    assert.deepEqual(await json.score(items('eel', 'ox')), [-2, 0]);
    // Neither worker is closed: were they referenced while idle, this test file would never end.
  });

  test('a reward that never settles fails its call after the time limit, naming file, call and answer', async () => {
    const file = write('hang.mjs', 'let n = 0;\nexport default async (prompt, answer) => (++n >= 3 ? new Promise(() => {}) : 1);\n');
    const rw = await RewardWorker.start(file, { timeoutMs: 300, timeoutHint: 'raise it with --x' });
    assert.deepEqual(await rw.score(items('a', 'b')), [1, 1]);
    const hung = /rules .*hang\.mjs: call 2 \(2 answers\) did not finish within 0\.3 s, on answer 1 \("c"\); its worker was stopped \(raise it with --x\)/;
    await assert.rejects(rw.score(items('c', 'd')), hung);
    await assert.rejects(rw.score(items('e')), hung);
  });

  test('a catastrophic regular expression in JSON rules is stopped by the time limit', async () => {
    const source = await loadRewardSource(write('re.json', JSON.stringify({ rules: [{ require: '(a+)+$' }] })), { timeoutMs: 300 });
    assert.deepEqual(await source.score(items('aaa')), [1]);
    await assert.rejects(source.score(items('ok', `${'a'.repeat(40)}!`)), /rules .*re\.json: call 2 \(2 answers\) did not finish within 0\.3 s, on answer 2 \("a{40}!"\)/);
  });

  test('process.exit() and throws inside the rules fail the call instead of ending the process', async () => {
    const exiting = await RewardWorker.start(write('exit.mjs', 'export default (p, a) => (a === "bye" ? process.exit(0) : 1);\n'));
    await assert.rejects(exiting.score(items('hi', 'bye')), /rules .*exit\.mjs: the reward code ended its worker \(exit code 0, e\.g\. process\.exit\(\)\) during call 1 \(2 answers\), on answer 2 \("bye"\)/);
    const throwing = await RewardWorker.start(write('throw.mjs', 'export default (p, a) => { if (a) throw new Error("boom"); return 0; };\n'));
    await assert.rejects(throwing.score(items('', 'x')), /rules .*throw\.mjs: call 1 \(2 answers\): the reward threw on answer 2 \("x"\): boom/);
    // A load error keeps the module's own message, as before the worker.
    await assert.rejects(RewardWorker.start(write('none.mjs', 'export const x = 1;\n')), /none\.mjs: the module must export a function/);
    const uncaught = await RewardWorker.start(write('late.mjs', 'export default () => { setTimeout(() => { throw new Error("later"); }); return new Promise(() => {}); };\n'));
    await assert.rejects(uncaught.score(items('z')), /rules .*late\.mjs: the reward code raised an uncaught error during call 1 \(1 answer\), on answer 1 \("z"\): later/);
  });

  test('a closed worker refuses calls', async () => {
    const rw = await RewardWorker.start(write('one.mjs', 'export default () => 1;\n'));
    await rw.close();
    await assert.rejects(rw.score(items('a')), /one\.mjs: the reward worker was closed/);
  });
});
