// A model's own chat template (tokenizer_config.json's `chat_template`, Jinja) rendered as transformers'
// apply_chat_template does: @huggingface/jinja (trim_blocks and lstrip_blocks on, as HF sets them),
// with `messages`, `add_generation_prompt`, the special tokens (`bos_token`, `eos_token`, …), `tools`
// and `documents` in scope; the library itself provides `raise_exception` and `strftime_now`.
import { Template } from '@huggingface/jinja';
import type { HFTokenizer, HFTokenizerConfig } from './hf-tokenizer.js';

/** A message as templates read it: role and content, plus whatever else a template uses (tool_calls, …). */
export interface ChatTemplateMessage {
  role: string;
  content: unknown;
}

export interface RenderOptions {
  /** Append the cue for the assistant's next turn (HF's add_generation_prompt). */
  addGenerationPrompt?: boolean;
  /** Tool (function) definitions, for templates that take them. */
  tools?: readonly unknown[];
  /** Retrieved documents, for templates that take them. */
  documents?: readonly unknown[];
  /** Further template variables (e.g. Qwen 3's `enable_thinking`). */
  variables?: Record<string, unknown>;
}

/** A template that fails to render, or calls raise_exception (e.g. roles that do not alternate). */
export class ChatTemplateError extends Error {}

export class ChatTemplate {
  private readonly template: Template;

  /** `specialTokens`: bos_token, eos_token, … as tokenizer_config.json names them (null when absent). */
  constructor(readonly source: string, private readonly specialTokens: Readonly<Record<string, string | null>>, private readonly where = 'chat_template') {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new Error(`${where}: cannot parse the Jinja template (${(err as Error).message})`);
    }
  }

  render(messages: readonly ChatTemplateMessage[], options: RenderOptions = {}): string {
    const context: Record<string, unknown> = {
      ...this.specialTokens,
      ...options.variables,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    };
    if (options.tools !== undefined) context.tools = options.tools;
    if (options.documents !== undefined) context.documents = options.documents;
    try {
      return this.template.render(context);
    } catch (err) {
      // raise_exception(message) (the library's own) lands here too, with the template's message.
      throw new ChatTemplateError(`${this.where}: ${(err as Error).message}`);
    }
  }
}

/** The default chat template of a tokenizer_config.json (HFTokenizer's `config`), or null when it has none. */
export function chatTemplateOf(config: HFTokenizerConfig): ChatTemplate | null {
  const { chatTemplate, bosToken, eosToken, unkToken, padToken } = config;
  if (chatTemplate === null) return null;
  return new ChatTemplate(chatTemplate, { bos_token: bosToken, eos_token: eosToken, unk_token: unkToken, pad_token: padToken }, 'tokenizer_config.json: chat_template');
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * The token that ends an assistant turn in this template (<|im_end|>, <|eot_id|>, <end_of_turn>…): the
 * special token the template writes right after an assistant message's content. Null when it writes
 * none there (the tokenizer's EOS then ends replies, if it has one).
 */
export function endOfTurnToken(template: ChatTemplate, tokenizer: HFTokenizer): { id: number; text: string } | null {
  const probe = 'inkwell-probe-reply';
  let rendered: string;
  try {
    rendered = template.render([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: probe }]);
  } catch {
    return null; // a template that refuses this conversation (e.g. requires a system message)
  }
  const at = rendered.indexOf(probe);
  if (at < 0) return null;
  const [first] = tokenizer.encode(rendered.slice(at + probe.length), { addSpecialTokens: false });
  if (first === undefined) return null;
  const text = tokenizer.idToToken(first)!;
  return tokenizer.specialTokens.get(text) === first ? { id: first, text } : null;
}

/**
 * The rendered conversation cut into stretches, `assistant` marking what the model writes for each
 * assistant message: from where the rendering of the messages before it with the generation prompt
 * stops agreeing with the whole, through its end-of-turn token (`endText`; without one, to where the
 * rendering up to and including it stops agreeing). At inference the model sees exactly the text before
 * and writes this, so SFT trains exactly on it. Comparing renderings rather than searching for the
 * content copes with templates that render history differently (Qwen 3 drops earlier thinking).
 */
export function assistantSpans(template: ChatTemplate, messages: readonly ChatTemplateMessage[], endText: string | null, options: RenderOptions = {}): { text: string; assistant: boolean }[] {
  const full = template.render(messages, { ...options, addGenerationPrompt: false });
  const spans: { text: string; assistant: boolean }[] = [];
  let at = 0;
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    const before = template.render(messages.slice(0, i), { ...options, addGenerationPrompt: true });
    const start = Math.max(at, commonPrefixLength(before, full));
    const endToken = endText === null ? -1 : full.indexOf(endText, start);
    const end = endToken >= 0 ? endToken + endText!.length : Math.max(start, commonPrefixLength(template.render(messages.slice(0, i + 1), options), full));
    if (start > at) spans.push({ text: full.slice(at, start), assistant: false });
    if (end > start) spans.push({ text: full.slice(start, end), assistant: true });
    at = end;
  });
  if (at < full.length) spans.push({ text: full.slice(at), assistant: false });
  return spans;
}
