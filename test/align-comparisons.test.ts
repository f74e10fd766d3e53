// Comparison files: pairs, rankings expanded to every pair, line-numbered errors, safe appends.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { appendComparison, parseComparisons, readComparisons } from '../src/align/comparisons.js';

const root = mkdtempSync(join(tmpdir(), 'inkwell-align-cmp-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('comparisons', () => {
  test('reads pairs and expands a ranking into every pair, best first', () => {
    const text = [
      JSON.stringify({ prompt: 'p', chosen: 'a', rejected: 'b' }),
      '',
      JSON.stringify({ prompt: 'q', responses: ['x', 'y', 'z'], ranking: [2, 0, 1] }),
    ].join('\n');
    const pairs = parseComparisons(text, 'f.jsonl');
    assert.deepEqual(pairs.map((p) => [p.prompt, p.chosen, p.rejected, p.line]), [
      ['p', 'a', 'b', 1],
      ['q', 'z', 'x', 3],
      ['q', 'z', 'y', 3],
      ['q', 'x', 'y', 3],
    ]);
  });

  test('names the file and line of a bad row', () => {
    const good = JSON.stringify({ prompt: 'p', chosen: 'a', rejected: 'b' });
    assert.throws(() => parseComparisons(`${good}\n{"prompt": "p",`, 'f.jsonl'), /f\.jsonl:2: invalid JSON/);
    assert.throws(() => parseComparisons(`${good}\n${JSON.stringify({ prompt: 'p', chosen: 'a', rejected: 'a' })}`, 'f.jsonl'), /f\.jsonl:2: chosen and rejected are the same text/);
    assert.throws(() => parseComparisons(JSON.stringify({ prompt: 'p', chosen: '  ', rejected: 'b' }), 'f.jsonl'), /f\.jsonl:1: field 'chosen' is an empty answer/);
    assert.throws(() => parseComparisons(JSON.stringify({ prompt: 'p', chosen: 'a' }), 'f.jsonl'), /f\.jsonl:1: field 'rejected' must be a string, got nothing/);
    assert.throws(() => parseComparisons(JSON.stringify({ prompt: 'p', responses: ['a', 'b'], ranking: [0, 0] }), 'f.jsonl'), /permutation of 0\.\.1/);
    assert.throws(() => parseComparisons(JSON.stringify({ prompt: 'p', responses: ['a', ''], ranking: [0, 1] }), 'f.jsonl'), /responses\[1\]' is an empty answer/);
    assert.throws(() => readComparisons(join(root, 'missing.jsonl')), /cannot read comparisons file/);
  });

  test('appends whole validated lines, repairing a missing final newline', () => {
    const file = join(root, 'sub', 'prefs.jsonl');
    appendComparison(file, { prompt: 'p', chosen: 'a', rejected: 'b' });
    writeFileSync(file, `${readFileSync(file, 'utf8')}${JSON.stringify({ prompt: 'q', chosen: 'c', rejected: 'd' })}`);
    appendComparison(file, { prompt: 'r', responses: ['e', 'f'], ranking: [1, 0] });
    assert.throws(() => appendComparison(file, { prompt: 'p', chosen: 'same', rejected: 'same' }), /same text/);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.endsWith('\n'));
    assert.deepEqual(readComparisons(file).map((p) => p.chosen), ['a', 'c', 'f']);
  });
});
