// tokenizer.json `added_tokens`: strings cut out of the text before the model sees it, each becoming its
// own id (never merged with its neighbours), with the lstrip / rstrip / single_word rules of `tokenizers`.

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  normalized: boolean;
}

/** Which special tokens are recognised: all, none (their text is ordinary text), or the named ones. */
export type SpecialFilter = (token: AddedToken) => boolean;

/** Called for each stretch of text between tokens (`id` undefined) and for each token found. */
export type OnSegment = (text: string, start: number, id: number | undefined) => void;

interface TrieNode {
  children: Map<number, TrieNode>;
  token: AddedToken | undefined;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const WHITESPACE = /\p{White_Space}/u; // White_Space has no astral characters

export function parseAddedTokens(list: unknown, where = 'added_tokens'): AddedToken[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`${where} must be a list`);
  return list.map((entry, i) => {
    const t = entry as Record<string, unknown>;
    if (!Number.isInteger(t?.id) || (t.id as number) < 0) throw new Error(`${where}[${i}]: id must be a non-negative integer, got ${JSON.stringify(t?.id)}`);
    if (typeof t.content !== 'string' || t.content === '') throw new Error(`${where}[${i}]: content must be a non-empty string`);
    const special = t.special === true;
    return {
      id: t.id as number,
      content: t.content,
      special,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      singleWord: t.single_word === true,
      // The default of `tokenizers`: special tokens match the raw text, others the normalized text.
      normalized: typeof t.normalized === 'boolean' ? t.normalized : !special,
    };
  });
}

/**
 * Finds added tokens leftmost-longest, as `tokenizers`' Aho-Corasick automaton does: a trie of the
 * tokens' UTF-16 units, entered only at positions whose unit starts some token.
 */
export class AddedTokenMatcher {
  private readonly root: TrieNode = { children: new Map(), token: undefined };
  private readonly firstUnits = new Uint8Array(65536);
  readonly empty: boolean;

  /** `contentOf` gives the string to look for (the normalized content for normalized tokens). */
  constructor(tokens: readonly AddedToken[], contentOf: (token: AddedToken) => string = (t) => t.content) {
    for (const token of tokens) {
      const content = contentOf(token);
      if (content === '') continue;
      let node = this.root;
      for (let i = 0; i < content.length; i++) {
        const unit = content.charCodeAt(i);
        let child = node.children.get(unit);
        if (child === undefined) {
          child = { children: new Map(), token: undefined };
          node.children.set(unit, child);
        }
        node = child;
      }
      // A content listed twice keeps its last entry, as `tokenizers` does.
      node.token = token;
      this.firstUnits[content.charCodeAt(0)] = 1;
    }
    this.empty = this.root.children.size === 0;
  }

  /** Cuts `text` into stretches and tokens; `allow` decides which special tokens count. */
  split(text: string, allow: SpecialFilter, onSegment: OnSegment): void {
    if (this.empty) {
      if (text !== '') onSegment(text, 0, undefined);
      return;
    }
    let emitted = 0; // text before this is already handed out
    let i = 0;
    while (i < text.length) {
      if (this.firstUnits[text.charCodeAt(i)] === 0) {
        i++;
        continue;
      }
      let node: TrieNode | undefined = this.root;
      let found: AddedToken | undefined;
      let foundEnd = i;
      for (let j = i; j < text.length; j++) {
        node = node.children.get(text.charCodeAt(j));
        if (node === undefined) break;
        if (node.token !== undefined) {
          found = node.token;
          foundEnd = j + 1;
        }
      }
      if (found === undefined) {
        i++;
        continue;
      }
      let start = i;
      let stop = foundEnd;
      i = foundEnd; // a refused match is still consumed, as the automaton's iterator does
      if (found.special && !allow(found)) continue;
      if (found.singleWord && (wordCharBefore(text, start) || wordCharAfter(text, stop))) continue;
      if (found.lstrip) while (start > emitted && WHITESPACE.test(text[start - 1]!)) start--;
      if (found.rstrip) while (stop < text.length && WHITESPACE.test(text[stop]!)) stop++;
      if (emitted < start) onSegment(text.slice(emitted, start), emitted, undefined);
      onSegment(text.slice(start, stop), start, found.id);
      emitted = stop;
      i = stop;
    }
    if (emitted < text.length) onSegment(text.slice(emitted), emitted, undefined);
  }
}

function wordCharBefore(text: string, at: number): boolean {
  if (at === 0) return false;
  const low = text.charCodeAt(at - 1);
  const char = low >= 0xdc00 && low <= 0xdfff && at >= 2 ? text.slice(at - 2, at) : text[at - 1]!;
  return WORD_CHAR.test(char);
}

function wordCharAfter(text: string, at: number): boolean {
  if (at >= text.length) return false;
  return WORD_CHAR.test(String.fromCodePoint(text.codePointAt(at)!));
}
