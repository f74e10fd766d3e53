export { tokenizerFromJSON, loadTokenizer, type EncodeOptions, type Tokenizer, type TokenizerJSON, type TokenizerType } from './tokenizer.js';
export { CharTokenizer, type CharTokenizerJSON } from './char.js';
export { ByteLevelBpe, SPLIT_PATTERNS, type SplitName } from './byte-bpe.js';
export { Gpt2Tokenizer, END_OF_TEXT, type Gpt2TokenizerJSON, type HuggingFaceGpt2Options } from './gpt2.js';
export { BpeTokenizer, type BpeTokenizerJSON } from './bpe.js';
export { trainBpe, type TrainBpeOptions } from './bpe-train.js';
export { WordTokenizer, basicEnglishTokenize, UNKNOWN_WORD, END_OF_LINE, type WordTokenizerJSON, type WordVocabularyOptions } from './word.js';
