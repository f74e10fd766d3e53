// safetensors reading and writing, and the errors bad files give: each names the file and the tensor.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { GPT } from '../src/model/gpt.js';
import { loadHFModel, saveHFModel } from '../src/model/hf.js';

const dir = mkdtempSync(join(tmpdir(), 'inkwell-st-'));

function rawFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: number): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLen ?? json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, header padded to 8 bytes', () => {
    const path = join(dir, 'a.safetensors');
    writeSafetensors(path, [['x', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }], ['s', { shape: [], data: Float32Array.of(7) }]], { note: 'hi' });
    const bytes = readFileSync(path);
    assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
    const f = readSafetensors(path);
    assert.deepEqual([...f.tensors.get('x')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(f.tensors.get('s')!.shape, []);
    assert.equal(f.metadata.note, 'hi');
  });

  it('converts F16, BF16 and F64', () => {
    const f16 = Buffer.alloc(4);
    f16.writeUInt16LE(0x3c00, 0); // 1.0
    f16.writeUInt16LE(0xc000, 2); // -2.0
    const bf16 = Buffer.alloc(2);
    bf16.writeUInt16LE(0x3fc0, 0); // 1.5
    const f64 = Buffer.alloc(8);
    f64.writeDoubleLE(0.25, 0);
    const path = rawFile('dtypes.safetensors', {
      h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
      d: { dtype: 'F64', shape: [1], data_offsets: [6, 14] },
    }, Buffer.concat([f16, bf16, f64]));
    const t = readSafetensors(path).tensors;
    assert.deepEqual([...t.get('h')!.data], [1, -2]);
    assert.deepEqual([...t.get('b')!.data], [1.5]);
    assert.deepEqual([...t.get('d')!.data], [0.25]);
  });

  it('names the file and tensor for every kind of bad file', () => {
    const tooShort = join(dir, 'short.safetensors');
    writeFileSync(tooShort, Buffer.from([1, 2, 3]));
    assert.throws(() => readSafetensors(tooShort), /short\.safetensors: too short/);
    assert.throws(() => readSafetensors(rawFile('len.safetensors', {}, undefined, 1000)), /len\.safetensors: header length 1000 runs past the end/);
    assert.throws(() => readSafetensors(rawFile('json.safetensors', '{"x": ')), /json\.safetensors: header is not valid JSON/);
    assert.throws(() => readSafetensors(rawFile('dtype.safetensors', { w: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))), /dtype\.safetensors: tensor 'w': unsupported dtype I8/);
    assert.throws(() => readSafetensors(rawFile('trunc.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8))), /trunc\.safetensors: tensor 'w': data_offsets end 16 is past the end of the data \(8 bytes\)/);
    assert.throws(() => readSafetensors(rawFile('shape.safetensors', { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))), /tensor 'w': shape \[3\] of F32 needs 12 bytes/);
    assert.throws(() => readSafetensors(join(dir, 'nope.safetensors')), /nope\.safetensors: cannot open \(ENOENT\)/);
  });

  it('reports a missing tensor and a shape that disagrees with config.json', () => {
    const model = new GPT({ n_layer: 1, n_head: 2, n_embd: 8, block_size: 4, vocab_size: 5, dropout: 0, bias: true });
    const good = join(dir, 'model');
    saveHFModel(model, good);
    const st = readSafetensors(join(good, 'model.safetensors')).tensors;

    const missing = join(dir, 'missing');
    saveHFModel(model, missing);
    writeSafetensors(join(missing, 'model.safetensors'), [...st].filter(([n]) => n !== 'transformer.h.0.mlp.c_fc.weight'));
    assert.throws(() => loadHFModel(missing), /missing[/\\]config\.json: n_layer = 1, n_embd = 8 imply a tensor 'transformer\.h\.0\.mlp\.c_fc\.weight' of shape \[8, 32\] that .*missing[/\\]model\.safetensors does not hold/);

    const wrong = join(dir, 'wrong');
    saveHFModel(model, wrong);
    const config = JSON.parse(readFileSync(join(wrong, 'config.json'), 'utf8'));
    writeFileSync(join(wrong, 'config.json'), JSON.stringify({ ...config, vocab_size: 6 }));
    assert.throws(() => loadHFModel(wrong), /config\.json: vocab_size = 6, n_embd = 8 imply shape \[6, 8\] for tensor 'transformer\.wte\.weight', but .*model\.safetensors holds \[5, 8\]/);

    writeFileSync(join(wrong, 'config.json'), JSON.stringify({ ...config, n_head: 3 }));
    assert.throws(() => loadHFModel(wrong), /config\.json: GPT config: n_embd \(8\) must be divisible by n_head \(3\)/);
    writeFileSync(join(wrong, 'config.json'), '{oops');
    assert.throws(() => loadHFModel(wrong), /config\.json: invalid JSON/);
  });
});
