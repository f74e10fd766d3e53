import { checkTokenId } from './token-ids.js';
import type { Tokenizer } from './tokenizer.js';

/** Stands for any word outside the vocabulary. */
export const UNKNOWN_WORD = '<unk>';
/** Marks the end of a line, as in the WikiText word-level language-model setups. */
export const END_OF_LINE = '<eos>';

export interface WordTokenizerJSON {
  type: 'word';
  /** The vocabulary in id order, special tokens included. */
  words: string[];
}

export interface WordVocabularyOptions {
  /** Words seen fewer times than this map to `<unk>`; default 1 (keep every word). */
  minFreq?: number;
}

// torchtext's basic_english normaliser, applied in this order after lower-casing.
const BASIC_ENGLISH_RULES: readonly (readonly [RegExp, string])[] = [
  [/'/g, " '  "],
  [/"/g, ''],
  [/\./g, ' . '],
  [/<br \/>/g, ' '],
  [/,/g, ' , '],
  [/\(/g, ' ( '],
  [/\)/g, ' ) '],
  [/!/g, ' ! '],
  [/\?/g, ' ? '],
  [/;/g, ' '],
  [/:/g, ' '],
];

/** torchtext's `get_tokenizer('basic_english')`: lower-case, split off punctuation, drop `"`, `;` and `:`. */
export function basicEnglishTokenize(line: string): string[] {
  let normalized = line.toLowerCase();
  for (const [pattern, replacement] of BASIC_ENGLISH_RULES) normalized = normalized.replace(pattern, replacement);
  return normalized.split(/\s+/).filter((word) => word !== '');
}

/** Word-level tokens from basic_english; each line break becomes `<eos>`, and decode() turns it back into one. */
export class WordTokenizer implements Tokenizer {
  readonly type = 'word';
  readonly vocabSize: number;
  readonly unknownId: number;
  readonly endOfLineId: number;
  private readonly words: readonly string[];
  private readonly idByWord = new Map<string, number>();

  /** `words` is the vocabulary in id order and must include `<unk>` and `<eos>`. */
  constructor(words: readonly string[]) {
    this.words = words;
    this.vocabSize = words.length;
    words.forEach((word, id) => {
      if (this.idByWord.has(word)) throw new Error(`Word vocabulary lists ${JSON.stringify(word)} twice`);
      this.idByWord.set(word, id);
    });
    const idOf = (special: string) => {
      const id = this.idByWord.get(special);
      if (id === undefined) throw new Error(`Word vocabulary must contain ${special}`);
      return id;
    };
    this.unknownId = idOf(UNKNOWN_WORD);
    this.endOfLineId = idOf(END_OF_LINE);
  }

  /**
   * Vocabulary: `<unk>`, `<eos>`, then the words occurring at least minFreq times, most frequent first
   * (ties alphabetical), as torchtext's build_vocab_from_iterator orders them.
   */
  static fromText(text: string, options: WordVocabularyOptions = {}): WordTokenizer {
    const { minFreq = 1 } = options;
    const counts = new Map<string, number>();
    for (const line of text.split('\n')) {
      for (const word of basicEnglishTokenize(line)) counts.set(word, (counts.get(word) ?? 0) + 1);
    }
    counts.delete(UNKNOWN_WORD);
    counts.delete(END_OF_LINE);
    const kept = [...counts].filter(([, count]) => count >= minFreq);
    kept.sort(([wordA, countA], [wordB, countB]) => countB - countA || (wordA < wordB ? -1 : wordA > wordB ? 1 : 0));
    return new WordTokenizer([UNKNOWN_WORD, END_OF_LINE, ...kept.map(([word]) => word)]);
  }

  static fromJSON(json: WordTokenizerJSON): WordTokenizer {
    return new WordTokenizer(json.words);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      for (const word of basicEnglishTokenize(line)) ids.push(this.idByWord.get(word) ?? this.unknownId);
      if (index < lines.length - 1) ids.push(this.endOfLineId);
    });
    return ids;
  }

  decode(ids: readonly number[]): string {
    let text = '';
    let lineStart = true;
    for (const id of ids) {
      checkTokenId(id, this.vocabSize);
      if (id === this.endOfLineId) {
        text += '\n';
        lineStart = true;
      } else {
        text += (lineStart ? '' : ' ') + this.words[id];
        lineStart = false;
      }
    }
    return text;
  }

  toJSON(): WordTokenizerJSON {
    return { type: 'word', words: [...this.words] };
  }
}
