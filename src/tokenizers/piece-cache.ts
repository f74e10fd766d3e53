// Most text repeats a small set of pre-tokens, so BPE tokenizers cache the ids of each piece they
// merge; long pieces rarely repeat and are not kept, and the cache starts over when full.
const MAX_CACHED_PIECE_LENGTH = 64;
const MAX_CACHE_ENTRIES = 200_000;

export class PieceCache {
  private readonly ids = new Map<string, readonly number[]>();

  /** Appends the ids of `piece` to `out`, from the cache or from `merge` (then kept if short). */
  encodeInto(piece: string, out: number[], merge: (piece: string) => readonly number[]): void {
    let ids = this.ids.get(piece);
    if (ids === undefined) {
      ids = merge(piece);
      if (piece.length <= MAX_CACHED_PIECE_LENGTH) {
        if (this.ids.size >= MAX_CACHE_ENTRIES) this.ids.clear();
        this.ids.set(piece, ids);
      }
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }
}
