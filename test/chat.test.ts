// `inkwell chat`: the history trimming that keeps a conversation within the context, and the CLI driven
// through standard input, its replies equal to generate() continuing the template-encoded conversation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fitConversation, replyEnding } from '../src/generate/chat.js';
import { generate } from '../src/generate/generate.js';
import { encodeChat, getTemplate, type ChatMessage } from '../src/finetune/template.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { repoRoot } from './helpers.js';
import { asciiTokenizer as tokenizer, tinyModel } from './tiny-model.js';

const template = getTemplate('chat');
const length = (messages: ChatMessage[]) => encodeChat(template, messages, tokenizer, true).ids.length;
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

describe('fitConversation', () => {
  const system: ChatMessage = { role: 'system', content: 'Answer briefly.' };
  const history = [system, user('first question'), assistant('first answer'), user('second'), assistant('second answer'), user('third?')];

  it('keeps everything that fits', () => {
    const fitted = fitConversation(template, tokenizer, history, length(history));
    assert.deepEqual(fitted.messages, history);
    assert.equal(fitted.dropped, 0);
    assert.deepEqual(fitted.ids, encodeChat(template, history, tokenizer, true).ids);
  });

  it('drops the oldest whole exchanges, keeping the system message', () => {
    const lastTwo = [system, ...history.slice(3)];
    for (const budget of [length(history) - 1, length(lastTwo)]) {
      const fitted = fitConversation(template, tokenizer, history, budget);
      assert.deepEqual(fitted.messages, lastTwo);
      assert.equal(fitted.dropped, 2);
      assert.ok(fitted.ids.length <= budget);
    }
    const fitted = fitConversation(template, tokenizer, history, length(lastTwo) - 1);
    assert.deepEqual(fitted.messages, [system, user('third?')]);
    assert.equal(fitted.dropped, 4);
    const noSystem = fitConversation(template, tokenizer, history.slice(1), length(history.slice(3)));
    assert.deepEqual(noSystem.messages, history.slice(3));
  });

  it('says so when even the last message does not fit', () => {
    assert.throws(() => fitConversation(template, tokenizer, history, length([system, user('third?')]) - 1), /the system message and the last message take \d+ tokens with the template; the prompt may use at most \d+/);
    assert.throws(() => fitConversation(template, tokenizer, [user('x'.repeat(50))], 20), /the last message takes 74 tokens/);
  });
});

describe('inkwell chat', () => {
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const model = tinyModel();
  const checkpoint = join(mkdtempSync(join(tmpdir(), 'inkwell-chat-')), 'chat.safetensors');
  saveCheckpoint(checkpoint, model, null, { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON() });
  const chat = (input: string, args: string[] = []) => spawnSync(process.execPath, [cli, 'chat', `--checkpoint=${checkpoint}`, '--temperature=0', ...args], { encoding: 'utf8', input });

  /** The conversation the CLI should have: greedy replies to `lines`, history trimmed to `budget` tokens. */
  function expectedReplies(lines: string[], maxNewTokens: number, budget: number): { replies: string[]; dropped: number } {
    let history: ChatMessage[] = [];
    let dropped = 0;
    const replies = lines.map((line) => {
      if (line === '/reset') {
        history = [];
        return null;
      }
      const fitted = fitConversation(template, tokenizer, [...history, user(line)], budget);
      dropped += fitted.dropped;
      const [g] = generate(model, [fitted.ids], { tokenizer, temperature: 0, maxNewTokens, ...replyEnding(template, tokenizer) });
      history = [...fitted.messages, assistant(g!.text!)];
      return g!.text!;
    });
    return { replies: replies.filter((r): r is string => r !== null), dropped };
  }

  it('answers each line of standard input in turn, remembering the conversation until /reset', () => {
    const lines = ['Hello', 'How are you?', '/reset', 'Hello'];
    const r = chat(`${lines.join('\n')}\n/exit\nnever read\n`, ['--max_new_tokens=12']);
    assert.equal(r.status, 0, r.stderr);
    const { replies, dropped } = expectedReplies(lines, 12, 128 - 12);
    assert.equal(dropped, 0);
    assert.equal(r.stdout, replies.map((t) => `${t}\n`).join(''));
    assert.equal(replies[0], replies[2], 'after /reset the conversation starts again');
    assert.notEqual(replies[1], expectedReplies(['How are you?'], 12, 116).replies[0], 'the second reply depends on the first exchange');
  });

  it('forgets the oldest exchanges to stay within the context', () => {
    const lines = ['Tell me about the weather today, please.', 'And what about tomorrow, will it rain?', 'Thanks a lot, that helps!'];
    const r = chat(lines.join('\n'), ['--max_new_tokens=24']);
    assert.equal(r.status, 0, r.stderr);
    const { replies, dropped } = expectedReplies(lines, 24, 128 - 24);
    assert.ok(dropped > 0, 'the test conversation should overflow the context');
    assert.equal(r.stdout, replies.map((t) => `${t}\n`).join(''));
    assert.match(r.stderr, /forgot the 2 oldest messages to stay within the model's context of 128 tokens/);
  });

  it('uses the template the checkpoint was fine-tuned with, unless --template says otherwise', () => {
    const sft = join(dirname(checkpoint), 'sft.safetensors');
    const state = { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON(), finetune: { task: 'sft', template: 'qa' } };
    saveCheckpoint(sft, model, null, state);
    const reply = (name: string) => {
      const qa = getTemplate(name);
      return generate(model, [encodeChat(qa, [user('Hi')], tokenizer, true).ids], { tokenizer, temperature: 0, maxNewTokens: 8, ...replyEnding(qa, tokenizer) })[0]!.text;
    };
    const run = (args: string[]) => spawnSync(process.execPath, [cli, 'chat', `--checkpoint=${sft}`, '--temperature=0', '--max_new_tokens=8', ...args], { encoding: 'utf8', input: 'Hi\n' });
    assert.notEqual(reply('qa'), reply('chat'));
    assert.equal(run([]).stdout, `${reply('qa')}\n`);
    assert.equal(run(['--template=chat']).stdout, `${reply('chat')}\n`);
  });

  it('stops on messages it cannot encode and on bad options', () => {
    const bad = chat('héllo\n');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /inkwell: cannot send this message with the 'chat' template: Character "é" \(U\+00E9\).*not in the char tokenizer's vocabulary.*try --template=qa/);
    const template = chat('hi\n', ['--template=nope']);
    assert.equal(template.status, 2);
    assert.match(template.stderr, /--template: unknown template 'nope' \(templates: article, instruction, chat, qa\)/);
    assert.match(chat('hi\n', ['--top_p=0']).stderr, /top_p must be in \(0, 1\]/);
  });
});
