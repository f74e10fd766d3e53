// Fine-tuning data: JSONL/CSV readers with line numbers, bad lines stopped or skipped, unseen labels,
// truncation counts, SFT masking and packing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IGNORE_INDEX, padBatch, truncateTokens } from '../src/finetune/batch.js';
import { encodeExamples, labelSet, loadClassificationFile } from '../src/finetune/classify-data.js';
import { DataLineError, parseCsv, parseJsonl } from '../src/io/records.js';
import { encodeSft, encodeSftRecords, loadSftFile, packSftSequences, sftBatch } from '../src/finetune/sft-data.js';
import { getTemplate } from '../src/finetune/template.js';
import { CharTokenizer } from '../src/tokenizers/char.js';

const tok = CharTokenizer.fromText("\n !$&',-.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
const dir = mkdtempSync(join(tmpdir(), 'inkwell-ft-data-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('JSONL and CSV readers', () => {
  const text = '{"text": "a", "label": "x"}\n\n{"text": "b", "label": \n{"text": "c", "label": "y"}\n';

  it('reports the line number of a malformed line and stops by default', () => {
    assert.throws(() => parseJsonl(text, 'd.jsonl'), (err: unknown) => {
      assert.ok(err instanceof DataLineError);
      assert.equal(err.line, 3);
      assert.match(err.message, /^d\.jsonl:3: invalid JSON .*--skip_bad_lines/);
      return true;
    });
  });

  it('skips malformed lines with their numbers when asked', () => {
    const { records, skipped } = parseJsonl(text, 'd.jsonl', { onBadLine: 'skip' });
    assert.deepEqual(records.map((r) => r.line), [1, 4]);
    assert.deepEqual(skipped.map((s) => s.line), [3]);
  });

  it('reports a record failing validation with its line and field', () => {
    const path = file('bad-field.jsonl', '{"text": "a", "label": "x"}\n{"text": "", "label": "x"}\n');
    assert.throws(() => loadClassificationFile(path, false, 'stop'), /bad-field\.jsonl:2: "text" must be a non-empty string/);
  });

  it('parses quoted CSV fields with commas, quotes and newlines, counting lines', () => {
    const { records } = parseCsv('text,label\n"Hello, world",greet\n"He said ""no""\nthen left",story\nplain,x\n', 'd.csv');
    assert.deepEqual(records.map((r) => [r.line, r.value.text, r.value.label]), [
      [2, 'Hello, world', 'greet'], [3, 'He said "no"\nthen left', 'story'], [5, 'plain', 'x'],
    ]);
    assert.throws(() => parseCsv('text,label\na,b,c\n', 'd.csv'), /d\.csv:2: 3 fields but the header has 2/);
  });
});

describe('classification data', () => {
  it('reads CSV and JSONL, single and multi-label', () => {
    const csv = loadClassificationFile(file('c.csv', 'text,label\nfoo,b\nbar,a\n'), false, 'stop');
    assert.deepEqual(labelSet(csv.examples), ['a', 'b']);
    const multi = loadClassificationFile(file('m.jsonl', '{"text":"x","label":["p","q"]}\n{"text":"y","label":"q"}\n'), true, 'stop');
    assert.deepEqual(multi.examples.map((e) => e.labels), [['p', 'q'], ['q']]);
    const multiCsv = loadClassificationFile(file('m.csv', 'text,label\nx,p|q\n'), true, 'stop');
    assert.deepEqual(multiCsv.examples[0]!.labels, ['p', 'q']);
    assert.throws(() => loadClassificationFile(file('l.jsonl', '{"text":"x","label":["p"]}\n'), false, 'stop'), /l\.jsonl:1: .*--multi_label/);
  });

  it('names a label never seen in training, or skips and counts it', () => {
    const val = loadClassificationFile(file('v.jsonl', '{"text":"ab","label":"a"}\n{"text":"cd","label":"zzz"}\n'), false, 'stop');
    assert.throws(() => encodeExamples(val, ['a', 'b'], tok, 16, 'stop'), /v\.jsonl:2: label "zzz" never occurs in the training data \(labels: a, b\)/);
    const set = encodeExamples(val, ['a', 'b'], tok, 16, 'skip');
    assert.equal(set.examples.length, 1);
    assert.deepEqual(set.unknownLabel.map((s) => s.line), [2]);
  });

  it('truncates long texts to their last tokens and counts them', () => {
    const loaded = loadClassificationFile(file('t.jsonl', '{"text":"abcdefgh","label":"a"}\n{"text":"abc","label":"b"}\n'), false, 'stop');
    const set = encodeExamples(loaded, ['a', 'b'], tok, 5, 'stop');
    assert.equal(set.truncated, 1);
    assert.equal(tok.decode(set.examples[0]!.ids), 'defgh');
    assert.equal(tok.decode(set.examples[1]!.ids), 'abc');
    assert.deepEqual(truncateTokens([1, 2, 3], 5), [1, 2, 3]);
  });

  it('pads batches on the right and records the real lengths', () => {
    const b = padBatch([[5, 6, 7], [8]]);
    assert.deepEqual([...b.idx], [5, 6, 7, 8, 0, 0]);
    assert.deepEqual([...b.lengths], [3, 1]);
    assert.equal(b.T, 3);
  });
});

describe('SFT data', () => {
  const qa = getTemplate('qa');

  it('masks every target but the completion and its end', () => {
    const { sequence } = encodeSft(qa, [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }], tok, 100);
    assert.equal(tok.decode(sequence.ids), 'Q: hi\nA: yo\n\n');
    const trained = sequence.targets.map((t) => (t === IGNORE_INDEX ? '.' : tok.decode([t]))).join('');
    assert.equal(trained, '........yo\n\n', 'position t predicts token t+1; only "yo\\n\\n" is predicted');
    assert.equal(sequence.targets.length, sequence.ids.length - 1);
  });

  it('reads prompt/completion and chat records, naming bad fields by line', () => {
    const path = file('s.jsonl', [
      '{"prompt":"a","completion":"b"}',
      '{"messages":[{"role":"user","content":"c"},{"role":"assistant","content":"d"}]}',
      '{"messages":[{"role":"user","content":"e"}]}',
      '{"prompt":"f"}',
      'not json',
    ].join('\n'));
    assert.throws(() => loadSftFile(path, 'stop'), /s\.jsonl:3: the last message must be the assistant's/);
    const { records, skipped } = loadSftFile(path, 'skip');
    assert.equal(records.length, 2);
    assert.deepEqual(skipped.map((s) => [s.line, s.message.split(' ')[0]]), [[3, 'the'], [4, '"completion"'], [5, 'invalid']]);
  });

  it('keeps the last block_size+1 tokens of a long example and counts it', () => {
    const records = [
      { line: 1, messages: [{ role: 'user' as const, content: 'a long long prompt' }, { role: 'assistant' as const, content: 'end' }] },
      { line: 2, messages: [{ role: 'user' as const, content: 'x' }, { role: 'assistant' as const, content: 'y' }] },
    ];
    const { sequences, truncated } = encodeSftRecords(records, qa, tok, 10);
    assert.equal(truncated, 1);
    assert.equal(sequences[0]!.ids.length, 11);
    assert.equal(tok.decode(sequences[0]!.ids), 'pt\nA: end\n\n');
    assert.equal(sequences[0]!.targets.filter((t) => t !== IGNORE_INDEX).length, 5);
  });

  it('packs examples end to end without splitting one, first tokens of later ones untrained', () => {
    const seqs = [
      { ids: [1, 2, 3], targets: [IGNORE_INDEX, 3] },
      { ids: [4, 5], targets: [5] },
      { ids: [6, 7, 8, 9], targets: [IGNORE_INDEX, 8, 9] },
    ];
    const rows = packSftSequences(seqs, 6);
    assert.deepEqual(rows, [
      { ids: [1, 2, 3, 4, 5], targets: [IGNORE_INDEX, 3, IGNORE_INDEX, 5] },
      { ids: [6, 7, 8, 9], targets: [IGNORE_INDEX, 8, 9] },
    ]);
    const batch = sftBatch(rows);
    assert.equal(batch.T, 4);
    assert.deepEqual([...batch.idx], [1, 2, 3, 4, 6, 7, 8, 0]);
    assert.deepEqual([...batch.targets], [IGNORE_INDEX, 3, IGNORE_INDEX, 5, IGNORE_INDEX, 8, 9, IGNORE_INDEX]);
    assert.throws(() => packSftSequences([{ ids: [1, 2, 3], targets: [2, 3] }], 2), /exceeds the row size 2/);
  });
});
