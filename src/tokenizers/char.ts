import { checkTokenId } from './token-ids.js';
import type { Tokenizer } from './tokenizer.js';

export interface CharTokenizerJSON {
  type: 'char';
  /** The vocabulary in id order (a list rather than one string so lone surrogates can't pair up). */
  chars: string[];
}

/** One token per Unicode code point (astral characters such as emoji are one token, not two). */
export class CharTokenizer implements Tokenizer {
  readonly type = 'char';
  readonly vocabSize: number;
  private readonly chars: readonly string[];
  private readonly idByCodePoint: Map<number, number>;

  /** `chars` lists the vocabulary in id order; each entry must be a single code point. */
  constructor(chars: readonly string[]) {
    this.chars = chars;
    this.vocabSize = chars.length;
    this.idByCodePoint = new Map();
    chars.forEach((char, id) => {
      const codePoint = char.codePointAt(0);
      if (codePoint === undefined || String.fromCodePoint(codePoint) !== char) {
        throw new Error(`Char vocabulary entry ${id} (${JSON.stringify(char)}) is not a single code point`);
      }
      if (this.idByCodePoint.has(codePoint)) throw new Error(`Char vocabulary lists ${describeChar(char)} twice`);
      this.idByCodePoint.set(codePoint, id);
    });
  }

  /** Vocabulary = the distinct characters of `text` sorted by code point, like Python's sorted(set(text)). */
  static fromText(text: string): CharTokenizer {
    const codePoints = new Set<number>();
    for (const char of text) codePoints.add(char.codePointAt(0)!);
    return new CharTokenizer([...codePoints].sort((a, b) => a - b).map((cp) => String.fromCodePoint(cp)));
  }

  static fromJSON(json: CharTokenizerJSON): CharTokenizer {
    return new CharTokenizer(json.chars);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (let index = 0; index < text.length; ) {
      const codePoint = text.codePointAt(index)!;
      const id = this.idByCodePoint.get(codePoint);
      if (id === undefined) {
        throw new Error(
          `Character ${describeChar(String.fromCodePoint(codePoint))} at string index ${index} is not in the ` +
            `char tokenizer's vocabulary of ${this.vocabSize} characters`,
        );
      }
      ids.push(id);
      index += codePoint > 0xffff ? 2 : 1;
    }
    return ids;
  }

  decode(ids: readonly number[]): string {
    let text = '';
    for (const id of ids) {
      checkTokenId(id, this.vocabSize);
      text += this.chars[id];
    }
    return text;
  }

  toJSON(): CharTokenizerJSON {
    return { type: 'char', chars: [...this.chars] };
  }
}

function describeChar(char: string): string {
  const hex = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `${JSON.stringify(char)} (U+${hex})`;
}
