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

/** The template to use: the one given, else the checkpoint's, else the model's own chat template, else chat. */
export function chooseTemplate(given: Template | null, checkpointState: unknown, tokenizer: Tokenizer): Template {
  return given ?? checkpointTemplate(checkpointState, tokenizer) ?? modelTemplate(tokenizer) ?? getTemplate('chat');
}
