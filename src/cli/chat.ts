// `inkwell chat`: a terminal conversation with a chat-tuned model, each reply streamed as it is decoded.
import { createInterface } from 'node:readline';
import { fitConversation, replyEnding } from '../generate/chat.js';
import { validateSamplingOptions } from '../generate/sampling.js';
import { generateAsync } from '../generate/session.js';
import type { ChatMessage } from '../finetune/template.js';
import { UsageError, type Options } from './args.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';
import { SAMPLING_OPTIONS, SAMPLING_USAGE, samplingFromOptions, generationDefaults } from './sampling-options.js';
import { chooseTemplate, TEMPLATE_USAGE, templateOption } from './template-option.js';

export const usage = `usage: inkwell chat [--checkpoint=FILE|DIR | --init=NAME|DIR] [--template=NAME] [--system=TEXT] [options]

A conversation with a chat-tuned model (fine-tuned on a chat template). Each line typed is a user
message; the reply streams as it is generated and ends where the template ends a turn. The conversation
is kept while it fits the model's context: the prompt may use block_size − min(max_new_tokens,
block_size / 2) tokens, and beyond that the oldest exchanges are forgotten (the system message stays).
/reset forgets the conversation, /exit or end of input quits. Ctrl-C stops a reply; at the prompt it quits.
Standard input need not be a terminal: piped lines are answered in turn, replies one per line.

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${INFERENCE_USAGE}

Chat:
${TEMPLATE_USAGE}
  --system=TEXT            a system message starting the conversation
  --max_new_tokens=256     longest reply, in tokens (default: the model's generation_config.json, else 256)
${SAMPLING_USAGE}
  --seed=1337              same seed, same replies`;

export const booleanFlags = ['offline'];

const KNOWN_OPTIONS = [...INFERENCE_OPTIONS, ...SAMPLING_OPTIONS, 'template', 'system', 'max_new_tokens', 'seed'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN_OPTIONS);
  if (args.length) throw new UsageError(`chat takes no positional arguments (type messages on standard input), got '${args.join(' ')}'`);
  const givenTemplate = templateOption(options);
  const sampling = samplingFromOptions(options);
  validateSamplingOptions(sampling);
  const givenMaxNewTokens = options.number('max_new_tokens');
  if (givenMaxNewTokens !== undefined && !(Number.isInteger(givenMaxNewTokens) && givenMaxNewTokens >= 1)) throw new UsageError(`--max_new_tokens must be an integer ≥ 1, got ${givenMaxNewTokens}`);
  const seed = options.number('seed', 1337)!;
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${seed}`);
  const system = options.string('system');

  const { model, tokenizer, state, generation } = await inferenceModelFromOptions(options);
  // The flag, else the model's generation_config.json, else 256.
  const maxNewTokens = givenMaxNewTokens ?? generation?.maxNewTokens ?? 256;
  const template = chooseTemplate(givenTemplate, state, tokenizer, (message) => process.stderr.write(`note: ${message}\n`));
  const blockSize = model.contextLength;
  const promptBudget = blockSize - Math.min(maxNewTokens, Math.floor(blockSize / 2));
  const ending = replyEnding(template, tokenizer);
  const defaults = generationDefaults(options, generation, ending.eosTokenId);
  const history: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
  const kept = history.length; // the system message is never forgotten

  const interactive = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  let reply: AbortController | null = null;
  rl.on('SIGINT', () => (reply ? reply.abort() : rl.close()));
  /** A problem with one message: told and skipped at a terminal, fatal for piped input. */
  const complain = (message: string) => {
    if (!interactive) throw new Error(message);
    process.stderr.write(`inkwell: ${message}\n`);
  };
  if (interactive) {
    process.stderr.write(`template ${template.name}, context ${blockSize} tokens; /reset forgets the conversation, /exit quits\n`);
    rl.setPrompt('> ');
    rl.prompt();
  }

  let turn = 0;
  for await (const line of rl) {
    const command = line.trim();
    if (command === '/exit' || command === '/quit') break;
    if (command === '/reset') {
      history.splice(kept);
      if (interactive) process.stderr.write('(conversation forgotten)\n');
    } else if (command !== '') {
      history.push({ role: 'user', content: line });
      let fitted;
      try {
        fitted = fitConversation(template, tokenizer, history, promptBudget);
      } catch (err) {
        history.pop();
        const hint = tokenizer.type === 'char' && template.name !== 'qa' ? ' (a character-level vocabulary may lack the template\'s characters: try --template=qa)' : '';
        complain(`cannot send this message with the '${template.name}' template: ${(err as Error).message}${hint}`);
      }
      if (fitted) {
        if (fitted.dropped) {
          history.splice(kept, fitted.dropped);
          process.stderr.write(`(forgot the ${fitted.dropped} oldest message${fitted.dropped === 1 ? '' : 's'} to stay within the model's context of ${blockSize} tokens)\n`);
        }
        reply = new AbortController();
        let shown = '';
        try {
          const [generation] = await generateAsync(model, [fitted.ids], {
            ...sampling, ...ending, ...defaults, tokenizer, maxNewTokens, seed: seed + turn++, signal: reply.signal,
            onText: (_, text) => {
              shown += text;
              process.stdout.write(text);
            },
          });
          shown = generation!.text!;
        } catch (err) {
          if (!reply.signal.aborted) throw err;
          process.stderr.write(' [stopped]');
        }
        reply = null;
        history.push({ role: 'assistant', content: shown });
        process.stdout.write('\n');
      }
    }
    if (interactive) rl.prompt();
  }
  rl.close();
}
