// A model folder's own chat template and generation_config.json as the rest of inkwell uses them: SFT
// trains on exactly what the model writes after each generation prompt, chat and serve render with the
// model's template by default, EOS id lists and sampling defaults reach generation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseTemplate } from '../src/cli/template-option.js';
import { generationDefaults } from '../src/cli/sampling-options.js';
import { Options, parseArgs } from '../src/cli/args.js';
import { encodeChat, endOfTurn, formatPrompt, getTemplate, modelTemplate } from '../src/finetune/template.js';
import { generate } from '../src/generate/generate.js';
import { parseGenerationConfig } from '../src/generate/generation-config.js';
import { loadModelAndTokenizer } from '../src/model/load.js';
import { saveHFModel } from '../src/model/hf.js';
import { createOpenAIServer } from '../src/serve/openai-server.js';
import { HFTokenizer } from '../src/tokenizers/index.js';
import { randomizeWeights } from './tiny-model.js';
import { spawnSync } from 'node:child_process';
import { repoRoot } from './helpers.js';
import { GPT } from '../src/model/gpt.js';

const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** A byte-level tokenizer.json (bytes only, no merges) with ChatML's special tokens. */
function chatmlFiles(): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  const vocab = Object.fromEntries(Array.from({ length: 256 }, (_, b) => [String.fromCharCode(printable(b) ? b : next++), b]));
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    tokenizer: {
      version: '1.0', truncation: null, padding: null,
      added_tokens: [special(256, '<|endoftext|>'), special(257, '<|im_start|>'), special(258, '<|im_end|>')],
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, vocab, merges: [] },
    },
    config: { chat_template: CHATML, eos_token: '<|endoftext|>', tokenizer_class: 'Qwen2Tokenizer' },
  };
}

const files = chatmlFiles();
const tokenizer = new HFTokenizer({ type: 'huggingface', tokenizer: files.tokenizer, config: files.config });
const conversation = [
  { role: 'system' as const, content: 'Be brief.' },
  { role: 'user' as const, content: 'Hi' },
  { role: 'assistant' as const, content: 'Hello.' },
  { role: 'user' as const, content: '2+2?' },
  { role: 'assistant' as const, content: '4' },
];

describe("the model's own chat template", () => {
  const template = modelTemplate(tokenizer)!;

  it('trains on each assistant reply through <|im_end|>, on the very ids of the whole rendering', () => {
    assert.equal(template.name, 'model');
    const { ids, trained } = encodeChat(template, conversation, tokenizer);
    assert.deepEqual(ids, tokenizer.encode(template.own!.template.render(conversation), { addSpecialTokens: false }));
    const runs: string[] = [];
    let run: number[] = [];
    ids.forEach((id, i) => {
      if (trained[i]) run.push(id);
      if ((!trained[i] || i === ids.length - 1) && run.length) {
        runs.push(tokenizer.decode(run));
        run = [];
      }
    });
    assert.deepEqual(runs, ['Hello.<|im_end|>', '4<|im_end|>']);
  });

  it('ends replies at its end-of-turn token and renders prompts with the generation prompt', () => {
    assert.deepEqual(endOfTurn(template, tokenizer), { eosId: 258, stopText: '<|im_end|>' });
    assert.equal(formatPrompt(template, 'Hi'), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    const prompt = encodeChat(template, conversation.slice(0, 4), tokenizer, true).ids;
    assert.equal(tokenizer.decode(prompt), template.own!.template.render(conversation.slice(0, 4), { addGenerationPrompt: true }));
  });

  it('is the default for chat and serve; --template and a checkpoint’s recorded template still win', () => {
    assert.equal(chooseTemplate(null, null, tokenizer).name, 'model');
    assert.equal(chooseTemplate(getTemplate('qa'), null, tokenizer).name, 'qa');
    assert.equal(chooseTemplate(null, { finetune: { template: 'instruction' } }, tokenizer).name, 'instruction');
    assert.equal(chooseTemplate(null, { finetune: { template: 'model' } }, tokenizer).name, 'model');
    const plain = new HFTokenizer({ type: 'huggingface', tokenizer: files.tokenizer, config: {} });
    assert.equal(chooseTemplate(null, null, plain).name, 'chat');
  });

  it('serve renders /v1/chat/completions with it', async () => {
    const model = randomizeWeights(new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 96, vocab_size: 259, dropout: 0, bias: true }, { init: false }), 3);
    const server = createOpenAIServer({ model, tokenizer, modelName: 'm', template, generation: parseGenerationConfig({ eos_token_id: [256, 258], temperature: 0 }) });
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: conversation.slice(0, 2), max_tokens: 3 }),
      });
      const body = (await response.json()) as { usage: { prompt_tokens: number } };
      assert.equal(response.status, 200, JSON.stringify(body));
      const rendered = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
      assert.equal(body.usage.prompt_tokens, tokenizer.encode(rendered).length);
    } finally {
      await server.close();
    }
  });
});

describe('generation_config.json', () => {
  it('reads EOS ids as a list, do_sample: false as greedy, and names bad fields', () => {
    assert.deepEqual(parseGenerationConfig({ eos_token_id: 2, do_sample: false, temperature: 0.6, top_p: 0.9, top_k: 0, max_length: 64 }), { eosTokenIds: [2], sampling: { temperature: 0, topP: 0.9 }, maxLength: 64 });
    assert.deepEqual(parseGenerationConfig({ eos_token_id: [1, 7], do_sample: true, temperature: 0.6, top_k: 50, repetition_penalty: 1.1 }).sampling, { temperature: 0.6, topK: 50, repetitionPenalty: 1.1 });
    assert.throws(() => parseGenerationConfig({ eos_token_id: 'x' }, 'dir/generation_config.json'), /^Error: dir\/generation_config\.json: eos_token_id must be a token id or a list of them, got "x"$/);
    assert.throws(() => parseGenerationConfig({ top_p: 2 }), /top_p must be a number in \(0, 1\]/);
  });

  it('gives the defaults the command line does not override, and adds its EOS ids', () => {
    const config = parseGenerationConfig({ eos_token_id: [5, 6], temperature: 0.3, top_p: 0.5, max_new_tokens: 9 });
    const options = new Options(parseArgs(['--top_p=0.7']));
    assert.deepEqual(generationDefaults(options, config, 4), { temperature: 0.3, eosTokenId: [4, 5, 6], maxNewTokens: 9 });
  });

  it('generation stops on any of the EOS ids, and at max_length', () => {
    const model = randomizeWeights(new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 32, vocab_size: 20, dropout: 0, bias: true }, { init: false }), 5);
    // Force the token sampled at each step: 3, then 9 (the second EOS id).
    const forced = [3, 9, 3, 3];
    const force = (logits: Float32Array, _: number, step: number) => logits.fill(-1e9).fill(0, forced[step]!, forced[step]! + 1);
    const [stopped] = generate(model, [[1, 2]], { temperature: 0, maxNewTokens: 4, eosTokenId: [8, 9], onLogits: force });
    assert.deepEqual([stopped!.tokens, stopped!.finishReason], [[3], 'eos']);
    const [cut] = generate(model, [[1, 2]], { temperature: 0, maxNewTokens: 4, maxLength: 3, eosTokenId: null, onLogits: force });
    assert.deepEqual([cut!.tokens, cut!.finishReason], [[3], 'length']);
  });

  it('comes with an HF folder, whose tokenizer.json is used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-hf-folder-'));
    saveHFModel(new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 32, vocab_size: 259, dropout: 0, bias: true }), dir);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(files.config));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [256, 258], temperature: 0.7 }));
    const loaded = await loadModelAndTokenizer({ checkpoint: dir });
    assert.ok(loaded.tokenizer instanceof HFTokenizer);
    assert.deepEqual(loaded.generation, { eosTokenIds: [256, 258], sampling: { temperature: 0.7 } });
    assert.equal(modelTemplate(loaded.tokenizer)?.name, 'model');
  });

  it('sets chat\'s reply length unless --max_new_tokens does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-hf-chat-'));
    saveHFModel(randomizeWeights(new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 64, vocab_size: 259, dropout: 0, bias: true }), 5), dir);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(files.config));
    // No end of turn the random model could sample: every reply runs to its length limit.
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [], max_new_tokens: 3, do_sample: false }));
    const reply = (...flags: string[]) => {
      const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'chat', `--checkpoint=${dir}`, ...flags], { input: 'hi\n', encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    // Byte-level with no merges: a token per byte, and a replacement character (3 bytes) stands for at most
    // 3 bytes that do not decode: n tokens print between n and 3n bytes (+ the newline).
    const short = Buffer.byteLength(reply()), long = Buffer.byteLength(reply('--max_new_tokens=12'));
    assert.ok(short <= 3 * 3 + 1, `reply of ${short} bytes`);
    assert.ok(long >= 12 + 1, `reply of ${long} bytes`);
  });
});
