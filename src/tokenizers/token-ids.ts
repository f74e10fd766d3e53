// Kept apart from tokenizer.ts so tokenizer classes can use it without an import cycle
// through the tokenizerFromJSON factory.

/** Throws a RangeError naming the id and vocabulary size unless `id` is a valid token id. */
export function checkTokenId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new RangeError(`Token id ${id} is outside the vocabulary (vocab size ${vocabSize}, valid ids 0..${vocabSize - 1})`);
  }
}
