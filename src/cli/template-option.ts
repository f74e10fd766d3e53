// --template for the commands that talk to a chat-tuned model (chat, serve).
import { checkpointTemplate, getTemplate, modelTemplate, TEMPLATE_NAMES, type Template } from '../finetune/template.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { UsageError, type Options } from './args.js';

export const TEMPLATE_USAGE = `  --template=NAME          the template the model was fine-tuned with: ${TEMPLATE_NAMES.join(', ')} (default:
                           the one \`inkwell finetune sft\` recorded in the checkpoint, else the model's own
                           chat template (tokenizer_config.json), else chat)`;

/** --template, checked before the model is loaded; null when not given. */
export function templateOption(options: Options): Template | null {
  const name = options.string('template');
  if (name === undefined) return null;
  try {
    return getTemplate(name);
  } catch (err) {
    throw new UsageError(`--template: ${(err as Error).message}`);
  }
}

/**
 * The template to use: the one given, else the checkpoint's own, else the model's own chat template
 * (tokenizer_config.json), else chat — or, where the model's
 * vocabulary cannot spell chat's markers (a character-level model), the first template it can spell,
 * told through `notice`. A template the vocabulary cannot spell is an error that names one that fits.
 */
export function chooseTemplate(given: Template | null, checkpointState: unknown, tokenizer: Tokenizer,
  notice: (message: string) => void = () => {}): Template {
  const chosen = given ?? checkpointTemplate(checkpointState, tokenizer) ?? modelTemplate(tokenizer);
  const fitting = () => TEMPLATE_NAMES.map(getTemplate).filter((t) => unspellable(t, tokenizer) === null);
  if (chosen) {
    const problem = unspellable(chosen, tokenizer);
    if (problem === null) return chosen;
    const others = fitting().map((t) => t.name);
    throw new UsageError(`the '${chosen.name}' template cannot be used with this model: ${problem}` +
      (others.length ? `; templates its vocabulary can spell: ${others.join(', ')} (pass --template=${others[0]})` : ''));
  }
  const chat = getTemplate('chat');
  if (unspellable(chat, tokenizer) === null) return chat;
  const fallback = fitting()[0];
  if (!fallback) throw new NoTemplateFits(`no chat template can be used with this model: ${unspellable(chat, tokenizer)}`);
  notice(`the model's vocabulary cannot spell the chat template (${unspellable(chat, tokenizer)}): using --template=${fallback.name}`);
  return fallback;
}

/** No template was named and none fits the vocabulary: chat cannot run, plain completions still can. */
export class NoTemplateFits extends UsageError {}

/** Why the tokenizer cannot encode the template's fixed text (e.g. a char vocabulary without '<'), or null. */
function unspellable(template: Template, tokenizer: Tokenizer): string | null {
  const text = template.systemPrefix + template.systemSuffix + template.userPrefix + template.userSuffix + template.assistantPrefix + template.turnEnd;
  try {
    tokenizer.encode(text, { allowedSpecial: 'none' });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
