// The inside of a RewardWorker (reward-worker.ts): loads the rules (JSON or a JS module) once, then
// scores one batch of answers per message. Before each answer it records the answer's index in the
// shared `progress` cell, so the main thread can name the answer a hung call was stuck on.
import { parentPort, workerData } from 'node:worker_threads';
import { finiteScores, loadRules, quoteAnswer } from './rbrm.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './reward-worker.js';

const { path, name, progress } = workerData as WorkerSetup;
const port = parentPort!;
const current = new Int32Array(progress);
const post = (reply: WorkerReply) => port.postMessage(reply);

try {
  const fn = await loadRules(path);
  port.on('message', async ({ id, items }: WorkerRequest) => {
    const scores: unknown[] = [];
    for (let i = 0; i < items.length; i++) {
      Atomics.store(current, 0, i);
      try {
        scores.push(await fn(items[i]!.prompt, items[i]!.answer));
      } catch (err) {
        post({ id, error: `the reward threw on answer ${i + 1} (${quoteAnswer(items[i]!.answer)}): ${err instanceof Error ? err.message : String(err)}` });
        return;
      }
    }
    try {
      post({ id, scores: finiteScores(name, items.map((it) => it.answer), scores) });
    } catch (err) {
      post({ id, error: (err as Error).message, checked: true });
    }
  });
  post({ id: 0, scores: [] });
} catch (err) {
  post({ id: 0, error: (err as Error).message, checked: true });
}
