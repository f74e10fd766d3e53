// Reading a text corpus in bounded memory: files are read `chunkSize` bytes at a time and decoded as a
// UTF-8 stream (a character split across two reads is decoded whole), and the text is handed to the
// tokenizer in chunks cut where cutting cannot change the tokens, so encoding chunk by chunk gives the
// same ids as encoding the whole text at once.
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenizerType } from '../tokenizers/index.js';
import type { Split } from './dataset.js';

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

/** The files of a corpus: the file itself, or a folder's files (hidden ones left out) sorted by name. */
export function corpusFiles(path: string): string[] {
  let isFolder: boolean;
  try {
    isFolder = statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `corpus ${path} does not exist` : `cannot read corpus ${path} (${code ?? (err as Error).message})`);
  }
  if (!isFolder) return [path];
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (err) {
    throw new Error(`cannot read folder ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const files = names.filter((name) => !name.startsWith('.')).sort().map((name) => join(path, name)).filter((file) => statSync(file).isFile());
  if (files.length === 0) throw new Error(`folder ${path} has no files to read`);
  return files;
}

/**
 * The text of `files` in order, in pieces of at most `chunkSize` bytes. A newline is put between two
 * files when the first does not end with one, so their last and first words stay apart. `onRead` gets
 * the byte count of each read, for progress.
 */
export function* readText(files: readonly string[], chunkSize = DEFAULT_CHUNK_SIZE, onRead?: (bytes: number) => void): Generator<string> {
  const buffer = new Uint8Array(chunkSize);
  let separatorDue = false;
  for (const file of files) {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new Error(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      // Python's open() keeps a byte-order mark as a character, so nanoGPT counts it; so does this.
      const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      let lastText = '';
      for (let position = 0; ; ) {
        const n = readSync(fd, buffer, 0, chunkSize, position);
        let text: string;
        try {
          text = decoder.decode(buffer.subarray(0, n), { stream: n > 0 });
        } catch {
          throw new Error(`${file} is not UTF-8 text (invalid bytes at or before byte ${position + n})`);
        }
        if (n > 0) onRead?.(n);
        if (text !== '') {
          if (separatorDue) yield '\n';
          separatorDue = false;
          yield text;
          lastText = text;
        }
        if (n === 0) break;
        position += n;
      }
      if (lastText !== '') separatorDue = !lastText.endsWith('\n');
    } finally {
      closeSync(fd);
    }
  }
}

const isHighSurrogate = (code: number) => (code & 0xfc00) === 0xd800;
const isLowSurrogate = (code: number) => (code & 0xfc00) === 0xdc00;

/** Characters as Python counts them (code points): a surrogate pair is one. */
export function countCodePoints(text: string): number {
  let lowSurrogates = 0;
  for (let i = 0; i < text.length; i++) if (isLowSurrogate(text.charCodeAt(i))) lowSurrogates++;
  return text.length - lowSurrogates;
}

/** The string index where code point number `count` of `text` starts. */
export function codePointIndex(text: string, count: number): number {
  let index = 0;
  for (let seen = 0; seen < count && index < text.length; seen++) index += isHighSurrogate(text.charCodeAt(index)) ? 2 : 1;
  return index;
}

/** Whether the text may be cut before `text[index]` without changing its tokens. */
export type CutRule = (text: string, index: number) => boolean;

/** The char tokenizer sees characters one by one: any cut works that keeps surrogate pairs whole. */
export const cutBetweenCharacters: CutRule = (text, index) => !isLowSurrogate(text.charCodeAt(index));

// Whitespace by both JavaScript's \s (word splits on it) and Unicode's White_Space (the BPE split patterns use it).
const WHITESPACE = /[\s\p{White_Space}]/u;
const isWhitespace = (char: string | undefined) => char !== undefined && WHITESPACE.test(char);

/**
 * Cuts that the word tokenizer and the GPT-2 / GPT-4 pre-tokenisation patterns (gpt2, bpe) cannot notice:
 * - before a space or tab that follows a non-space: no piece runs from a non-space into whitespace, and
 *   the patterns read the text after the cut the same way whatever came before;
 * - after a newline between two non-spaces: that newline is a piece of its own (or ends a punctuation
 *   piece, in GPT-4's pattern) at a chunk's end as in the whole text. Next to other whitespace it is
 *   not: a whitespace run at the very end of a chunk would be read as trailing whitespace.
 * Never inside `<br />`, which basic_english removes as a unit.
 */
export const cutBetweenPieces: CutRule = (text, index) => {
  const next = text[index], previous = text[index - 1];
  if (next === undefined || previous === undefined) return false;
  if (next === ' ' || next === '\t') return !isWhitespace(previous) && text.slice(index - 3, index).toLowerCase() !== '<br';
  const beforeNewline = text[index - 2];
  return previous === '\n' && beforeNewline !== undefined && !isWhitespace(beforeNewline) && !isWhitespace(next);
};

export function cutRuleFor(tokenizer: TokenizerType): CutRule {
  return tokenizer === 'char' ? cutBetweenCharacters : cutBetweenPieces;
}

/**
 * Collects text and hands it back in chunks of at most `size` characters, each ending at the last place
 * the rule allows. Text with no allowed cut in `size` characters (no whitespace at all) is cut anyway,
 * between characters, to keep memory bounded; that may split one pre-token.
 */
export class TextChunker {
  private pending = '';

  constructor(private readonly size: number, private readonly canCut: CutRule) {
    if (!Number.isInteger(size) || size < 2) throw new RangeError(`chunk size must be an integer of at least 2, got ${size}`);
  }

  /** Adds text; yields the chunks that are now complete. */
  *push(text: string): Generator<string> {
    this.pending += text;
    while (this.pending.length > this.size) {
      const cut = this.lastCut();
      yield this.pending.slice(0, cut);
      this.pending = this.pending.slice(cut);
    }
  }

  /** The text held back so far (possibly empty); the chunker is empty after. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  private lastCut(): number {
    for (let index = this.size; index > 0; index--) if (this.canCut(this.pending, index)) return index;
    return cutBetweenCharacters(this.pending, this.size) ? this.size : this.size - 1;
  }
}

/**
 * The corpus as train and val chunks, in order: the first `trainCharacters` code points are train (as
 * nanoGPT's `data[:int(n*0.9)]`), the rest val. Chunks never straddle the split.
 */
export function* splitChunks(files: readonly string[], trainCharacters: number, cut: CutRule, chunkSize = DEFAULT_CHUNK_SIZE,
  onRead?: (bytes: number) => void): Generator<{ split: Split; text: string }> {
  const chunker = new TextChunker(chunkSize, cut);
  let split: Split = 'train';
  let trainSeen = 0;
  for (const piece of readText(files, chunkSize, onRead)) {
    let text = piece;
    if (split === 'train') {
      const count = countCodePoints(piece);
      if (trainSeen + count >= trainCharacters) {
        const splitIndex = codePointIndex(piece, trainCharacters - trainSeen);
        for (const chunk of chunker.push(piece.slice(0, splitIndex))) yield { split, text: chunk };
        const rest = chunker.flush();
        if (rest !== '') yield { split, text: rest };
        split = 'val';
        text = piece.slice(splitIndex);
      }
      trainSeen += count;
    }
    for (const chunk of chunker.push(text)) yield { split, text: chunk };
  }
  const rest = chunker.flush();
  if (rest !== '') yield { split, text: rest };
}
