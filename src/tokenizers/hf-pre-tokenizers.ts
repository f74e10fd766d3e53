// tokenizer.json `pre_tokenizer`: cuts normalized text into the pieces BPE runs on (it never merges
// across two). Each step hands its pieces to the next through a callback, so no piece list is built.
import { SPLIT_PATTERNS } from './byte-bpe.js';
import { patternOf } from './hf-normalizers.js';
import { literalRegex, UnsupportedTokenizerError } from './hf-regex.js';

/** `atStart`: the piece begins at offset 0 of the original text (Metaspace's prepend_scheme "first"). */
export type Emit = (piece: string, atStart: boolean) => void;
export type PreTokenizer = (text: string, atStart: boolean, emit: Emit) => void;

export interface ParsedPreTokenizer {
  run: PreTokenizer;
  /** A ByteLevel step maps each piece's UTF-8 bytes to characters; the model then works on bytes. */
  byteLevel: boolean;
}

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS: readonly Behavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

export const PRE_TOKENIZER_TYPES = ['Sequence', 'Split', 'ByteLevel', 'Metaspace', 'Digits'];

const GPT2_PATTERN = new RegExp(SPLIT_PATTERNS.gpt2, 'gu');
const NUMERIC = /\p{N}/gu;

export function parsePreTokenizer(config: unknown, where = 'pre_tokenizer'): ParsedPreTokenizer {
  if (config === null || config === undefined) return { run: (text, atStart, emit) => emit(text, atStart), byteLevel: false };
  const steps = flatten(config, where);
  const byteLevelAt = steps.findIndex((s) => s.config.type === 'ByteLevel');
  if (byteLevelAt >= 0 && byteLevelAt !== steps.length - 1) {
    throw new UnsupportedTokenizerError(`${steps[byteLevelAt + 1]!.where}: a pre-tokenizer after ByteLevel is not supported`);
  }
  let run: PreTokenizer = (text, atStart, emit) => emit(text, atStart);
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = parseStep(steps[i]!.config, steps[i]!.where);
    const next = run;
    run = i === steps.length - 1 ? step : (text, atStart, emit) => step(text, atStart, (piece, start) => next(piece, start, emit));
  }
  return { run, byteLevel: byteLevelAt >= 0 };
}

function flatten(config: unknown, where: string): { config: Record<string, unknown>; where: string }[] {
  const c = config as Record<string, unknown>;
  if (c?.type !== 'Sequence') return [{ config: c, where }];
  if (!Array.isArray(c.pretokenizers)) throw new Error(`${where}: Sequence needs a "pretokenizers" list`);
  return c.pretokenizers.flatMap((part, i) => flatten(part, `${where}.pretokenizers[${i}]`));
}

function parseStep(c: Record<string, unknown>, where: string): PreTokenizer {
  switch (c?.type) {
    case 'Split': {
      const behavior = c.behavior as Behavior;
      if (!BEHAVIORS.includes(behavior)) throw new Error(`${where}: behavior ${JSON.stringify(c.behavior)} is not one of ${BEHAVIORS.join(', ')}`);
      const regex = patternOf(c.pattern, `${where}.pattern`);
      const invert = c.invert === true;
      return (text, atStart, emit) => split(text, regex, behavior, invert, atStart, emit);
    }
    case 'ByteLevel': {
      const addPrefixSpace = c.add_prefix_space === true;
      const useRegex = c.use_regex !== false;
      return (text, atStart, emit) => {
        const spaced = addPrefixSpace && !text.startsWith(' ') ? ` ${text}` : text;
        if (useRegex) split(spaced, GPT2_PATTERN, 'Isolated', false, atStart, emit);
        else emit(spaced, atStart);
      };
    }
    case 'Metaspace': {
      const replacement = c.replacement;
      if (typeof replacement !== 'string' || [...replacement].length !== 1) throw new Error(`${where}: replacement must be one character, got ${JSON.stringify(replacement)}`);
      // Files written before prepend_scheme existed say add_prefix_space instead.
      const scheme = c.prepend_scheme ?? (c.add_prefix_space === false ? 'never' : 'always');
      if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw new Error(`${where}: prepend_scheme ${JSON.stringify(scheme)} is not always, first or never`);
      const splitPieces = c.split !== false;
      const spaces = / /g;
      const replacementRegex = literalRegex(replacement);
      return (text, atStart, emit) => {
        let t = text.replace(spaces, replacement);
        if ((scheme === 'always' || (scheme === 'first' && atStart)) && !t.startsWith(replacement)) t = replacement + t;
        if (splitPieces) split(t, replacementRegex, 'MergedWithNext', false, atStart, emit);
        else emit(t, atStart);
      };
    }
    case 'Digits': {
      const behavior: Behavior = c.individual_digits === true ? 'Isolated' : 'Contiguous';
      return (text, atStart, emit) => split(text, NUMERIC, behavior, false, atStart, emit);
    }
    default:
      throw new UnsupportedTokenizerError(`${where}: pre-tokenizer type ${JSON.stringify(c?.type)} is not supported (supported: ${PRE_TOKENIZER_TYPES.join(', ')})`);
  }
}

/** Calls onMatch(start, end) for each non-empty match of the global `regex` in `text`, in order. */
function eachMatch(text: string, regex: RegExp, onMatch: (start: number, end: number) => void): void {
  regex.lastIndex = 0;
  for (let m; (m = regex.exec(text)) !== null; ) {
    if (m[0].length === 0) regex.lastIndex++;
    else onMatch(m.index, m.index + m[0].length);
  }
}

/** Splits on the matches of `regex` as tokenizers' NormalizedString::split does for `behavior`. */
function split(text: string, regex: RegExp, behavior: Behavior, invert: boolean, atStart: boolean, emit: Emit): void {
  if (text === '') return;
  let last = 0;
  if (behavior === 'Isolated' && !invert) {
    // The common case (every byte-level vocabulary): pieces are the matches and the gaps between them.
    eachMatch(text, regex, (start, end) => {
      if (start > last) emit(text.slice(last, start), atStart && last === 0);
      emit(text.slice(start, end), atStart && start === 0);
      last = end;
    });
    if (last < text.length) emit(text.slice(last), atStart && last === 0);
    return;
  }
  // [start, end, isMatch] segments covering the text.
  const segments: [number, number, boolean][] = [];
  eachMatch(text, regex, (start, end) => {
    if (start > last) segments.push([last, start, invert]);
    segments.push([start, end, !invert]);
    last = end;
  });
  if (last < text.length) segments.push([last, text.length, invert]);

  const pieces: [number, number][] = [];
  let previousMatch = false;
  if (behavior === 'MergedWithNext') {
    for (let i = segments.length - 1; i >= 0; i--) {
      const [start, end, isMatch] = segments[i]!;
      if (isMatch && !previousMatch && pieces.length > 0) pieces[pieces.length - 1]![0] = start;
      else pieces.push([start, end]);
      previousMatch = isMatch;
    }
    pieces.reverse();
  } else {
    for (const [start, end, isMatch] of segments) {
      if (behavior === 'Removed' && isMatch) continue;
      const merge = (behavior === 'MergedWithPrevious' && isMatch && !previousMatch) || (behavior === 'Contiguous' && isMatch === previousMatch);
      if (merge && pieces.length > 0) pieces[pieces.length - 1]![1] = end;
      else pieces.push([start, end]);
      previousMatch = isMatch;
    }
  }
  for (const [start, end] of pieces) emit(text.slice(start, end), atStart && start === 0);
}
