import { ByteLevelBpe, type SplitName } from './byte-bpe.js';

export interface BpeTokenizerJSON {
  type: 'bpe';
  split: SplitName;
  /** Merge i turns the pair [left, right] into token 256 + i. */
  merges: [number, number][];
  /** Special token text -> id (ids follow the merges). */
  specialTokens: Record<string, number>;
}

/** A byte-level BPE learned with trainBpe: ids 0-255 are the bytes, then one id per merge, then specials. */
export class BpeTokenizer extends ByteLevelBpe {
  override readonly type = 'bpe';
  readonly merges: readonly (readonly [number, number])[];

  constructor(merges: readonly (readonly [number, number])[], split: SplitName, specialTokens: Record<string, number> = {}) {
    const tokenBytes: Uint8Array[] = Array.from({ length: 256 }, (_, byte) => Uint8Array.of(byte));
    merges.forEach(([left, right], index) => {
      const id = 256 + index;
      const leftBytes = tokenBytes[left];
      const rightBytes = tokenBytes[right];
      if (leftBytes === undefined || rightBytes === undefined) {
        throw new Error(`Merge ${index} (${left}, ${right}) uses a token that does not exist before it (ids below ${id})`);
      }
      tokenBytes[id] = concatBytes(leftBytes, rightBytes);
    });
    const firstSpecialId = tokenBytes.length;
    const specials = new Map(Object.entries(specialTokens));
    for (const [name, id] of specials) {
      if (!Number.isInteger(id) || id < firstSpecialId) {
        throw new Error(`Special token ${JSON.stringify(name)} has id ${id}; special ids must be integers from ${firstSpecialId} (after the byte and merge ids)`);
      }
      if (tokenBytes[id] !== undefined) throw new Error(`Special token ${JSON.stringify(name)} reuses id ${id}`);
      tokenBytes[id] = new TextEncoder().encode(name);
    }
    super({
      byteToId: Array.from({ length: 256 }, (_, byte) => byte),
      tokenBytes,
      merges: merges.map(([left, right], index) => ({ left, right, result: 256 + index, priority: index })),
      specialTokens: specials,
      split,
    });
    this.merges = merges;
  }

  static fromJSON(json: BpeTokenizerJSON): BpeTokenizer {
    return new BpeTokenizer(json.merges, json.split, json.specialTokens);
  }

  override toJSON(): BpeTokenizerJSON {
    return {
      type: 'bpe',
      split: this.split,
      merges: this.merges.map(([left, right]) => [left, right]),
      specialTokens: Object.fromEntries(this.specialTokens),
    };
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(a.length + b.length);
  bytes.set(a);
  bytes.set(b, a.length);
  return bytes;
}
