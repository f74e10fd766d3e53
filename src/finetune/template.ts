// Prompt templates: how a prompt/completion pair or a chat conversation becomes the text a GPT is
// fine-tuned on and later continues. Training (SFT) and inference (sample, chat, serve) must render
// conversations identically, so both go through this file.
//
// Each turn is rendered as  system: systemPrefix + content + systemSuffix
//                           user:   userPrefix + content + userSuffix
//                           assistant: assistantPrefix + content + END
// where END ends an assistant turn: the tokenizer's end-of-text token when it has one (GPT-2's
// <|endoftext|>), otherwise the template's `turnEnd` text ("\n\n" for every template). SFT appends END
// to every completion and trains on it, so the model learns to stop; sampling stops on the EOS token or
// on the stop text (see endOfTurn). Consequence for tokenizers without EOS: a completion must not
// contain a blank line, or sampling will cut it there.
//
// Tokenization: every piece is encoded on its own and the ids are concatenated (encodeChat), which is
// what inference sees too: the prompt is encoded, then the model generates. Message contents are
// encoded with special tokens disabled, so a user typing "<|endoftext|>" cannot end a turn.
//
// A model with its own chat template (tokenizer_config.json's chat_template) gets the 'model' template:
// conversations are rendered by that Jinja template exactly as transformers renders them, encoded as a
// whole with the tokenizer's special tokens recognised, and SFT trains on what the model writes after
// each generation prompt (assistantSpans), its end-of-turn token included.
import { eosTokenOf } from '../generate/generate.js';
import { assistantSpans, chatTemplateOf, endOfTurnToken, type ChatTemplate } from '../tokenizers/chat-template.js';
import { END_OF_TEXT } from '../tokenizers/gpt2.js';
import { HFTokenizer } from '../tokenizers/hf-tokenizer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export type TemplateName = 'article' | 'instruction' | 'chat' | 'qa';

export interface Template {
  name: TemplateName | 'model';
  description: string;
  systemPrefix: string;
  systemSuffix: string;
  userPrefix: string;
  userSuffix: string;
  /** The cue after which the model writes the assistant's turn (the completion follows directly). */
  assistantPrefix: string;
  /** Ends an assistant turn when the tokenizer has no end-of-text token. */
  turnEnd: string;
  /** The model's own Jinja template (name 'model'), which then renders everything in place of the fields above. */
  own?: OwnTemplate;
}

export interface OwnTemplate {
  template: ChatTemplate;
  /** The token the template ends an assistant turn with, if any (<|im_end|>, <|eot_id|>, …). */
  endOfTurn: { id: number; text: string } | null;
}

const TEMPLATES: Record<TemplateName, Template> = {
  /**
   * The seed's generative fine-tuning format (summarisation):
   *   --- Article ---
   *   This is an article I would like to summarize.
   *   --- Summary ---
   *   This is the summary.<END>
   * A system message, if any, is a first line of its own.
   */
  article: {
    name: 'article',
    description: 'the seed\'s "--- Article --- / --- Summary ---" format',
    systemPrefix: '',
    systemSuffix: '\n',
    userPrefix: '--- Article ---\n',
    userSuffix: '\n',
    assistantPrefix: '--- Summary ---\n',
    turnEnd: '\n\n',
  },
  /**
   * Alpaca-style instruction format:
   *   You are helpful.            (optional system message)
   *
   *   ### Instruction:
   *   Reverse the word "cat".
   *
   *   ### Response:
   *   tac<END>
   */
  instruction: {
    name: 'instruction',
    description: 'Alpaca-style "### Instruction: / ### Response:"',
    systemPrefix: '',
    systemSuffix: '\n\n',
    userPrefix: '### Instruction:\n',
    userSuffix: '\n\n',
    assistantPrefix: '### Response:\n',
    turnEnd: '\n\n',
  },
  /**
   * Role-tagged multi-turn chat (the tags are ordinary text, not special tokens):
   *   <|system|>
   *   You are helpful.
   *   <|user|>
   *   Hi!
   *   <|assistant|>
   *   Hello.<END><|user|>
   *   …
   */
  chat: {
    name: 'chat',
    description: 'multi-turn "<|system|> / <|user|> / <|assistant|>" tags',
    systemPrefix: '<|system|>\n',
    systemSuffix: '\n',
    userPrefix: '<|user|>\n',
    userSuffix: '\n',
    assistantPrefix: '<|assistant|>\n',
    turnEnd: '\n\n',
  },
  /**
   * Minimal question/answer format whose characters all occur in tinyshakespeare, so a char-level
   * Shakespeare model can be fine-tuned with it:
   *   Q: reverse dog
   *   A: god<END>
   * (with a char tokenizer <END> is "\n\n", so the rendering is "Q: reverse dog\nA: god\n\n").
   */
  qa: {
    name: 'qa',
    description: '"Q: … / A: …", usable with a character-level tinyshakespeare vocabulary',
    systemPrefix: '',
    systemSuffix: '\n\n',
    userPrefix: 'Q: ',
    userSuffix: '\n',
    assistantPrefix: 'A: ',
    turnEnd: '\n\n',
  },
};

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

export function getTemplate(name: string): Template {
  const template = TEMPLATES[name as TemplateName];
  if (!Object.hasOwn(TEMPLATES, name) || !template) {
    throw new Error(`unknown template '${name}' (templates: ${TEMPLATE_NAMES.join(', ')})`);
  }
  return template;
}

/** The model's own chat template as a Template, or null when its tokenizer has none. */
export function modelTemplate(tokenizer: Tokenizer): Template | null {
  if (!(tokenizer instanceof HFTokenizer)) return null;
  const template = chatTemplateOf(tokenizer.config);
  if (template === null) return null;
  return {
    name: 'model',
    description: "the model's own chat template (tokenizer_config.json)",
    systemPrefix: '', systemSuffix: '', userPrefix: '', userSuffix: '', assistantPrefix: '',
    turnEnd: '\n\n',
    own: { template, endOfTurn: endOfTurnToken(template, tokenizer) },
  };
}

/** The text the model continues for a single prompt; the completion follows it directly. */
export function formatPrompt(template: Template, prompt: string): string {
  if (template.own) return template.own.template.render([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
  return template.userPrefix + prompt + template.userSuffix + template.assistantPrefix;
}

/**
 * How a completion ends: the tokenizer's EOS token when it has one, else the template's turn-end text,
 * which SFT appends in training and sampling uses as a stop string. stopText is what formatChat writes
 * after an earlier assistant turn: "<|endoftext|>" (the EOS token's text) or the turn-end text.
 */
export function endOfTurn(template: Template, tokenizer: Tokenizer): { eosId: number | null; stopText: string } {
  const end = template.own?.endOfTurn;
  if (end) return { eosId: end.id, stopText: end.text };
  const eosId = eosTokenOf(tokenizer);
  if (template.own && eosId !== null) return { eosId, stopText: (tokenizer as HFTokenizer).idToToken(eosId)! };
  return { eosId, stopText: eosId === null ? template.turnEnd : END_OF_TEXT };
}

/** One rendered piece of a conversation; `trained` pieces are the assistant's (content and END). */
export interface ChatPiece {
  text: string;
  trained: boolean;
  /** The END of an assistant turn: the EOS token when the tokenizer has one. */
  end?: boolean;
}

/**
 * The conversation as pieces. With `cue`, the assistant prefix is appended so the model writes the
 * next assistant turn (inference); without, the conversation must end with an assistant message
 * (training). A system message may only come first.
 */
export function chatPieces(template: Template, messages: readonly ChatMessage[], endText: string, cue: boolean): ChatPiece[] {
  if (messages.length === 0) throw new Error('a conversation needs at least one message');
  if (template.own) return ownPieces(template.own, messages, cue);
  const pieces: ChatPiece[] = [];
  messages.forEach((m, i) => {
    if (typeof m?.content !== 'string') throw new Error(`message ${i}: content must be a string`);
    if (m.role === 'system') {
      if (i !== 0) throw new Error(`message ${i}: a system message may only be the first`);
      pieces.push({ text: template.systemPrefix + m.content + template.systemSuffix, trained: false });
    } else if (m.role === 'user') {
      pieces.push({ text: template.userPrefix + m.content + template.userSuffix, trained: false });
    } else if (m.role === 'assistant') {
      pieces.push({ text: template.assistantPrefix, trained: false });
      pieces.push({ text: m.content, trained: true });
      pieces.push({ text: endText, trained: true, end: true });
    } else {
      throw new Error(`message ${i}: role must be 'system', 'user' or 'assistant', got ${JSON.stringify((m as { role?: unknown }).role)}`);
    }
  });
  const last = messages[messages.length - 1]!.role;
  if (cue) {
    if (last === 'assistant') throw new Error('the conversation already ends with an assistant message: add a user message to continue it');
    pieces.push({ text: template.assistantPrefix, trained: false });
  } else if (last !== 'assistant') {
    throw new Error(`a training conversation must end with an assistant message, not ${last}`);
  }
  return pieces;
}

/** chatPieces for the model's own template: the rendering cut into what the model writes and the rest. */
function ownPieces(own: OwnTemplate, messages: readonly ChatMessage[], cue: boolean): ChatPiece[] {
  const last = messages[messages.length - 1]!.role;
  if (cue) {
    if (last === 'assistant') throw new Error('the conversation already ends with an assistant message: add a user message to continue it');
    return [{ text: own.template.render(messages, { addGenerationPrompt: true }), trained: false }];
  }
  if (last !== 'assistant') throw new Error(`a training conversation must end with an assistant message, not ${last}`);
  return assistantSpans(own.template, messages, own.endOfTurn?.text ?? null).map(({ text, assistant }) => ({ text, trained: assistant }));
}

/**
 * The whole conversation as text ending with the assistant cue, ready to generate the next assistant
 * turn. Earlier assistant turns end with `endText`: pass endOfTurn(...).stopText so they end as in
 * training ("<|endoftext|>" for GPT-2 tokenizers, which encodePrompt turns into the EOS token).
 */
export function formatChat(template: Template, messages: readonly ChatMessage[], endText = template.turnEnd): string {
  return chatPieces(template, messages, endText, true).map((p) => p.text).join('');
}

/**
 * Token ids of a conversation and which of them are trained (assistant content + END). Message text
 * is encoded without special tokens; END is the EOS token when the tokenizer has one. `cue`: as in
 * chatPieces (true for inference prompts).
 */
export function encodeChat(template: Template, messages: readonly ChatMessage[], tokenizer: Tokenizer, cue = false): { ids: number[]; trained: boolean[] } {
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  const ids: number[] = [];
  const trained: boolean[] = [];
  for (const piece of chatPieces(template, messages, stopText, cue)) {
    // The model's own template writes its special tokens as text, to be read as such (as transformers does).
    const pieceIds = piece.end && eosId !== null ? [eosId] : piece.text ? tokenizer.encode(piece.text, { allowedSpecial: template.own ? 'all' : 'none', addSpecialTokens: false }) : [];
    for (const id of pieceIds) {
      ids.push(id);
      trained.push(piece.trained);
    }
  }
  return { ids, trained };
}

/**
 * What training teaches the model to write for the conversation's last (assistant) turn, up to its end of
 * turn: the message's content, or what the model's own template renders there (Qwen3 puts an empty
 * `<think>\n\n</think>\n\n` before the content), so a greedy reply can be compared with it as text.
 */
export function assistantTarget(template: Template, messages: readonly ChatMessage[], tokenizer: Tokenizer): string {
  const { stopText } = endOfTurn(template, tokenizer);
  const pieces = chatPieces(template, messages, stopText, false);
  let last = pieces.length;
  while (last > 0 && !pieces[last - 1]!.trained) last--;
  let first = last;
  while (first > 0 && pieces[first - 1]!.trained) first--;
  const text = pieces.slice(first, last).filter((p) => !p.end).map((p) => p.text).join('');
  return template.own && text.endsWith(stopText) ? text.slice(0, -stopText.length) : text;
}

/**
 * The template a checkpoint was fine-tuned with: `inkwell finetune sft` records it in the checkpoint
 * state as `finetune.template`. Null for checkpoints without one (pretrained or plain `inkwell train`).
 */
export function checkpointTemplate(state: unknown, tokenizer?: Tokenizer): Template | null {
  const name = (state as { finetune?: { template?: unknown } } | null)?.finetune?.template;
  if (name === 'model') {
    const own = tokenizer && modelTemplate(tokenizer);
    if (!own) throw new Error("the checkpoint was fine-tuned with the model's own chat template, but its tokenizer has none");
    return own;
  }
  return typeof name === 'string' ? getTemplate(name) : null;
}
