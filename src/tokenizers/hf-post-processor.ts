// tokenizer.json `post_processor`: the special tokens wrapped around an encoded text (BOS, EOS, CLS/SEP)
// when special tokens are added. Only single sequences: inkwell never encodes sentence pairs.
import { UnsupportedTokenizerError } from './hf-regex.js';

export type PostProcessor = (ids: number[]) => number[];

export const POST_PROCESSOR_TYPES = ['TemplateProcessing', 'ByteLevel', 'BertProcessing', 'RobertaProcessing', 'Sequence'];

export function parsePostProcessor(config: unknown, where = 'post_processor'): PostProcessor | null {
  if (config === null || config === undefined) return null;
  const c = config as Record<string, unknown>;
  switch (c.type) {
    case 'ByteLevel':
      return null; // it only trims offsets, which inkwell does not compute
    case 'Sequence': {
      if (!Array.isArray(c.processors)) throw new Error(`${where}: Sequence needs a "processors" list`);
      const steps = c.processors.map((p, i) => parsePostProcessor(p, `${where}.processors[${i}]`)).filter((s): s is PostProcessor => s !== null);
      return (ids) => steps.reduce((acc, step) => step(acc), ids);
    }
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const cls = tokenPair(c.cls, `${where}.cls`);
      const sep = tokenPair(c.sep, `${where}.sep`);
      return (ids) => [cls, ...ids, sep];
    }
    case 'TemplateProcessing':
      return templateProcessing(c, where);
    default:
      throw new UnsupportedTokenizerError(`${where}: post-processor type ${JSON.stringify(c.type)} is not supported (supported: ${POST_PROCESSOR_TYPES.join(', ')})`);
  }
}

function tokenPair(value: unknown, where: string): number {
  if (!Array.isArray(value) || typeof value[0] !== 'string' || !Number.isInteger(value[1])) throw new Error(`${where} must be [token, id], got ${JSON.stringify(value)}`);
  return value[1] as number;
}

/** `single`: a list of {SpecialToken: {id}} and {Sequence: {id: "A"}} pieces; ids come from `special_tokens`. */
function templateProcessing(c: Record<string, unknown>, where: string): PostProcessor {
  if (!Array.isArray(c.single)) throw new Error(`${where}: TemplateProcessing needs a "single" list`);
  const specials = (c.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
  const parts: (readonly number[] | 'A')[] = c.single.map((piece: Record<string, { id?: unknown }>, i: number) => {
    if (piece?.Sequence !== undefined) {
      if (piece.Sequence.id !== 'A') throw new UnsupportedTokenizerError(`${where}.single[${i}]: sequence ${JSON.stringify(piece.Sequence.id)} (only A is used for single texts)`);
      return 'A';
    }
    const name = piece?.SpecialToken?.id;
    if (typeof name !== 'string') throw new Error(`${where}.single[${i}] must be {"SpecialToken": {"id": …}} or {"Sequence": {"id": "A"}}`);
    const ids = specials[name]?.ids;
    if (!Array.isArray(ids) || !ids.every(Number.isInteger)) throw new Error(`${where}.special_tokens has no ids for ${JSON.stringify(name)}`);
    return ids as number[];
  });
  return (ids) => parts.flatMap((part) => (part === 'A' ? ids : part));
}

/** The TemplateProcessing transformers' Llama and Gemma tokenizers build from add_bos_token / add_eos_token. */
export function bosEosProcessor(bos: number | null, eos: number | null): PostProcessor {
  return (ids) => [...(bos === null ? [] : [bos]), ...ids, ...(eos === null ? [] : [eos])];
}
