// Prompt templates: exact renderings, end-of-turn handling with and without an EOS token, and the
// trained-token mask encodeChat gives SFT.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chatPieces, checkpointTemplate, encodeChat, endOfTurn, formatChat, formatPrompt, getTemplate, TEMPLATE_NAMES } from '../src/finetune/template.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { Gpt2Tokenizer } from '../src/tokenizers/gpt2.js';

const SHAKESPEARE_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe('templates', () => {
  it('renders the seed\'s article format and the instruction, chat and qa formats', () => {
    assert.equal(formatPrompt(getTemplate('article'), 'This is an article.'), '--- Article ---\nThis is an article.\n--- Summary ---\n');
    assert.equal(formatPrompt(getTemplate('instruction'), 'Reverse cat.'), '### Instruction:\nReverse cat.\n\n### Response:\n');
    assert.equal(formatPrompt(getTemplate('chat'), 'Hi!'), '<|user|>\nHi!\n<|assistant|>\n');
    assert.equal(formatPrompt(getTemplate('qa'), 'reverse dog'), 'Q: reverse dog\nA: ');
  });

  it('formats a conversation ending with the assistant cue, earlier turns ended as in training', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
    ] as const;
    assert.equal(formatChat(getTemplate('chat'), messages, '<|endoftext|>'), '<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello.<|endoftext|><|user|>\nBye\n<|assistant|>\n');
    assert.equal(formatChat(getTemplate('qa'), messages), 'Be brief.\n\nQ: Hi\nA: Hello.\n\nQ: Bye\nA: ');
  });

  it('qa needs only characters of tinyshakespeare', () => {
    const tok = new CharTokenizer([...SHAKESPEARE_CHARS]);
    const { ids } = encodeChat(getTemplate('qa'), [{ role: 'user', content: 'who art thou' }, { role: 'assistant', content: 'a man' }], tok);
    assert.equal(tok.decode(ids), 'Q: who art thou\nA: a man\n\n');
    assert.throws(() => encodeChat(getTemplate('chat'), [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }], tok), /"<"/);
  });

  it('ends a turn with EOS when the tokenizer has one, else with the stop text', () => {
    const gpt2 = Gpt2Tokenizer.pretrained();
    assert.deepEqual(endOfTurn(getTemplate('instruction'), gpt2), { eosId: 50256, stopText: '<|endoftext|>' });
    assert.deepEqual(endOfTurn(getTemplate('qa'), new CharTokenizer([...SHAKESPEARE_CHARS])), { eosId: null, stopText: '\n\n' });
  });

  it('marks only assistant content and END as trained; message text cannot inject special tokens', () => {
    const gpt2 = Gpt2Tokenizer.pretrained();
    const messages = [{ role: 'user', content: 'say <|endoftext|>' }, { role: 'assistant', content: ' ok' }] as const;
    const { ids, trained } = encodeChat(getTemplate('instruction'), messages, gpt2);
    assert.equal(ids[ids.length - 1], 50256);
    assert.equal(ids.filter((id) => id === 50256).length, 1, 'the user\'s "<|endoftext|>" is plain text');
    const trainedIds = ids.filter((_, i) => trained[i]);
    assert.deepEqual(trainedIds, [...gpt2.encode(' ok'), 50256]);
    assert.equal(trained.indexOf(true), ids.length - trainedIds.length, 'trained tokens are the tail');
    // With the cue (inference), the prompt is everything before the completion.
    const prompt = encodeChat(getTemplate('instruction'), messages.slice(0, 1), gpt2, true);
    assert.deepEqual(prompt.ids, ids.slice(0, prompt.ids.length));
    assert.ok(prompt.trained.every((t) => !t));
  });

  it('rejects unknown templates and misplaced messages clearly', () => {
    assert.throws(() => getTemplate('alpaca'), /unknown template 'alpaca' \(templates: article, instruction, chat, qa\)/);
    assert.deepEqual(TEMPLATE_NAMES, ['article', 'instruction', 'chat', 'qa']);
    const t = getTemplate('qa');
    assert.throws(() => chatPieces(t, [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }], '\n\n', true), /message 1: a system message may only be the first/);
    assert.throws(() => formatChat(t, [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }]), /already ends with an assistant message/);
    assert.throws(() => encodeChat(t, [{ role: 'user', content: 'a' }], new CharTokenizer([...SHAKESPEARE_CHARS])), /must end with an assistant message/);
    assert.equal(checkpointTemplate({ finetune: { template: 'qa' } })?.name, 'qa');
    assert.equal(checkpointTemplate({}), null);
  });
});
