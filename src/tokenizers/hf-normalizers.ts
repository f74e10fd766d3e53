// tokenizer.json `normalizer`: a text-to-text step run on the text between added tokens.
import { literalRegex, onigToJs, UnsupportedTokenizerError } from './hf-regex.js';

export type Normalizer = (text: string) => string;

/** A `{String: …}` or `{Regex: …}` pattern of tokenizer.json as a global regex. */
export function patternOf(pattern: unknown, where: string): RegExp {
  const p = pattern as { String?: unknown; Regex?: unknown } | null;
  if (typeof p?.String === 'string') return literalRegex(p.String);
  if (typeof p?.Regex === 'string') return onigToJs(p.Regex, where);
  throw new Error(`${where}: pattern must be {"String": …} or {"Regex": …}, got ${JSON.stringify(pattern)}`);
}

function field<T>(config: Record<string, unknown>, name: string, kind: string, where: string): T {
  const value = config[name];
  if (typeof value !== kind) throw new Error(`${where}: field "${name}" must be a ${kind}, got ${JSON.stringify(value)}`);
  return value as T;
}

export const NORMALIZER_TYPES = ['Sequence', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'Prepend', 'Replace', 'Strip', 'StripAccents'];

/** The normalizer of a tokenizer.json (null for none); `where` names the field in errors. */
export function parseNormalizer(config: unknown, where = 'normalizer'): Normalizer | null {
  if (config === null || config === undefined) return null;
  const c = config as Record<string, unknown>;
  const type = c.type;
  switch (type) {
    case 'Sequence': {
      const parts = c.normalizers;
      if (!Array.isArray(parts)) throw new Error(`${where}: Sequence needs a "normalizers" list`);
      const steps = parts.map((part, i) => parseNormalizer(part, `${where}.normalizers[${i}]`)).filter((s): s is Normalizer => s !== null);
      return (text) => steps.reduce((t, step) => step(t), text);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (text) => text.normalize(type);
    case 'Lowercase':
      return (text) => text.toLowerCase();
    case 'Prepend': {
      const prepend = field<string>(c, 'prepend', 'string', where);
      return (text) => (text === '' ? text : prepend + text);
    }
    case 'Replace': {
      const regex = patternOf(c.pattern, `${where}.pattern`);
      const content = field<string>(c, 'content', 'string', where);
      return (text) => text.replace(regex, () => content);
    }
    case 'Strip': {
      const left = c.strip_left !== false;
      const right = c.strip_right !== false;
      return (text) => (left ? (right ? text.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '') : text.replace(/^\p{White_Space}+/u, '')) : right ? text.replace(/\p{White_Space}+$/u, '') : text);
    }
    case 'StripAccents':
      return (text) => text.replace(/\p{Mn}/gu, '');
    default:
      throw new UnsupportedTokenizerError(`${where}: normalizer type ${JSON.stringify(type)} is not supported (supported: ${NORMALIZER_TYPES.join(', ')})`);
  }
}
