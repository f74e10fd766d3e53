// Chatting with a chat-tuned model: the conversation rendered with its fine-tuning template (template.ts),
// kept within the model's context by forgetting the oldest exchanges, and the settings that make a reply
// end where training taught the model to end a turn.
import { encodeChat, endOfTurn, type ChatMessage, type Template } from '../finetune/template.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export interface FittedConversation {
  /** The prompt: the kept messages rendered and encoded, ending with the assistant cue. */
  ids: number[];
  /** The messages kept: a leading system message, then the most recent exchanges. */
  messages: ChatMessage[];
  /** Messages left out from the start of the history. */
  dropped: number;
}

/**
 * The prompt for the next assistant turn in at most `maxTokens` tokens: whole exchanges are dropped from
 * the start (each kept part begins with a user message; a leading system message always stays) until
 * it fits. Throws when even the system message and the last exchange do not fit.
 */
export function fitConversation(template: Template, tokenizer: Tokenizer, messages: readonly ChatMessage[], maxTokens: number): FittedConversation {
  const system = messages[0]?.role === 'system' ? [messages[0]] : [];
  if (messages.length === system.length) throw new RangeError('the conversation has no message to reply to');
  let shortest = Infinity;
  for (let start = system.length; start < messages.length; start++) {
    if (messages[start]!.role !== 'user' && start > system.length) continue;
    const kept = [...system, ...messages.slice(start)];
    const { ids } = encodeChat(template, kept, tokenizer, true);
    if (ids.length <= maxTokens) return { ids, messages: kept, dropped: start - system.length };
    shortest = ids.length;
  }
  const what = system.length ? 'the system message and the last message' : 'the last message';
  throw new RangeError(`${what} take${system.length ? '' : 's'} ${shortest} tokens with the template; the prompt may use at most ${maxTokens} of the model's context: shorten it`);
}

/** How a reply ends: the EOS token when the tokenizer has one, else the template's turn-end text as a stop string. */
export function replyEnding(template: Template, tokenizer: Tokenizer): { eosTokenId: number | null; stop: string[] } {
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  return { eosTokenId: eosId, stop: eosId === null ? [stopText] : [] };
}
