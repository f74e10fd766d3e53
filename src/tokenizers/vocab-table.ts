// A BPE vocabulary (token string -> id) keyed by the tokens' UTF-8 bytes: one byte arena and a few
// typed arrays instead of a quarter of a million strings. tokenizer.json's scanner (tokenizer-json.ts)
// fills it straight from the file's bytes, so loading creates no string per token and no object per
// merge; token strings are made only for the ids a decode asks for.

const EMPTY = -1;

/** FNV-1a over bytes[start, end), continuing from `hash`. */
function fnv(bytes: Uint8Array, start: number, end: number, hash: number): number {
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash;
}

const FNV_OFFSET = 0x811c9dc5 | 0;

/** A final mix, so that linear probing sees well-spread slots. */
function mix(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  return hash ^ (hash >>> 13);
}

/** A byte buffer that grows (keeping its contents) when asked for room. */
export class GrowableBytes {
  bytes: Buffer;

  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(capacity, 16));
  }

  /** Room for bytes[0, end). */
  ensure(end: number): void {
    if (end <= this.bytes.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, end));
    this.bytes.copy(bigger);
    this.bytes = bigger;
  }
}

/** Collects tokens (UTF-8 bytes + id) in file order; `finish()` makes the table (a later duplicate wins, as in JSON.parse). */
export class VocabBuilder extends GrowableBytes {
  /** Where the next token's bytes go: callers write them at `used` and then call `add`. */
  used = 0;
  private ends: Int32Array;
  private ids: Int32Array;
  private count = 0;

  constructor(capacity: number, entries = 1024) {
    super(capacity);
    this.ends = new Int32Array(Math.max(entries, 16));
    this.ids = new Int32Array(Math.max(entries, 16));
  }

  /** The token whose bytes end at `end` (they start where the previous token's end) has id `id`. */
  add(end: number, id: number): void {
    if (this.count === this.ends.length) {
      const ends = new Int32Array(this.count * 2);
      ends.set(this.ends);
      this.ends = ends;
      const ids = new Int32Array(this.count * 2);
      ids.set(this.ids);
      this.ids = ids;
    }
    this.ends[this.count] = end;
    this.ids[this.count++] = id;
    this.used = end;
  }

  finish(): VocabTable {
    return new VocabTable(Buffer.from(this.bytes.subarray(0, this.used)), this.ends.slice(0, this.count), this.ids.slice(0, this.count));
  }
}

export class VocabTable {
  /** One more than the largest id. */
  readonly size: number;
  /** Entry index + 1 of each slot's token, 0 where empty (open addressing, linear probing). */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** The entry spelling each id (the last one in file order when several do), -1 where none does. */
  private readonly entryOfId: Int32Array;
  private tokenStrings: (string | undefined)[] | undefined;
  private readonly utf8 = new TextEncoder();
  private scratch = new Uint8Array(256);

  /** Entry k is the token arena[ends[k-1], ends[k]) with id ids[k]. */
  constructor(private readonly arena: Buffer, private readonly ends: Int32Array, private readonly ids: Int32Array) {
    let slots = 16;
    while (slots < ends.length * 2) slots *= 2;
    this.mask = slots - 1;
    this.slots = new Int32Array(slots);
    for (let k = 0; k < ends.length; k++) this.slots[this.slotOf(arena, this.start(k), ends[k]!, 0, 0)] = k + 1;
    // Only the entries left in the table count (a duplicate token's earlier id is gone, as in JSON.parse).
    let size = 0;
    for (let slot = 0; slot < this.slots.length; slot++) if (this.slots[slot]! > 0) size = Math.max(size, ids[this.slots[slot]! - 1]! + 1);
    this.size = size;
    this.entryOfId = new Int32Array(size).fill(EMPTY);
    for (let slot = 0; slot < this.slots.length; slot++) {
      const k = this.slots[slot]! - 1;
      if (k >= 0 && this.entryOfId[ids[k]!]! < k) this.entryOfId[ids[k]!] = k;
    }
  }

  /** A table of a JSON vocabulary object (token -> id); ids are checked by the caller. */
  static fromRecord(vocab: Readonly<Record<string, number>>): VocabTable {
    const keys = Object.keys(vocab);
    const builder = new VocabBuilder(keys.length * 8, keys.length);
    const utf8 = new TextEncoder();
    for (const key of keys) {
      // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
      builder.ensure(builder.used + key.length * 3);
      const { written } = utf8.encodeInto(key, builder.bytes.subarray(builder.used));
      builder.add(builder.used + written, vocab[key]!);
    }
    return builder.finish();
  }

  private start(k: number): number {
    return k === 0 ? 0 : this.ends[k - 1]!;
  }

  /** Whether entry k's bytes are bytes[s1, e1) followed by bytes[s2, e2). */
  private equals(k: number, bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
    let at = this.start(k);
    if (this.ends[k]! - at !== e1 - s1 + (e2 - s2)) return false;
    const arena = this.arena;
    for (let i = s1; i < e1; i++) if (arena[at++] !== bytes[i]) return false;
    for (let i = s2; i < e2; i++) if (arena[at++] !== bytes[i]) return false;
    return true;
  }

  /** The slot of the token whose bytes are bytes[s1, e1) then bytes[s2, e2), or the empty slot where it would go. */
  private slotOf(bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
    let slot = mix(fnv(bytes, s2, e2, fnv(bytes, s1, e1, FNV_OFFSET))) & this.mask;
    for (;;) {
      const k = this.slots[slot]! - 1;
      if (k === EMPTY || this.equals(k, bytes, s1, e1, s2, e2)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  /** The entry of the token whose bytes are bytes[s1, e1) then bytes[s2, e2), or -1. */
  entryOfBytes(bytes: Uint8Array, s1: number, e1: number, s2 = 0, e2 = 0): number {
    return this.slots[this.slotOf(bytes, s1, e1, s2, e2)]! - 1;
  }

  /** The entry of `token`, or -1. */
  entryOf(token: string): number {
    if (this.scratch.length < token.length * 3) this.scratch = new Uint8Array(token.length * 3);
    return this.entryOfBytes(this.scratch, 0, this.utf8.encodeInto(token, this.scratch).written);
  }

  /**
   * The entry of entry `left`'s token followed by entry `right`'s minus its first `skip` bytes (a BPE
   * merge's result, the continuing-subword prefix dropped), or -1.
   */
  entryOfJoined(left: number, right: number, skip: number): number {
    return this.entryOfBytes(this.arena, this.start(left), this.ends[left]!, this.start(right) + skip, this.ends[right]!);
  }

  /** Whether entry k's token starts with `prefix`'s bytes. */
  startsWith(k: number, prefix: Uint8Array): boolean {
    const start = this.start(k);
    if (this.ends[k]! - start < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (this.arena[start + i] !== prefix[i]) return false;
    return true;
  }

  /** The id of entry k. */
  idOfEntry(k: number): number {
    return this.ids[k]!;
  }

  /** The id of `token`, or undefined. */
  idOf(token: string): number | undefined {
    const k = this.entryOf(token);
    return k < 0 ? undefined : this.ids[k];
  }

  /** The token string of an id (made on first use), or undefined where no token has that id. */
  token(id: number): string | undefined {
    if (!(id >= 0 && id < this.size)) return undefined;
    this.tokenStrings ??= new Array<string | undefined>(this.size);
    let token = this.tokenStrings[id];
    if (token === undefined) {
      const k = this.entryOfId[id]!;
      if (k < 0) return undefined;
      token = this.tokenStrings[id] = this.arena.toString('utf8', this.start(k), this.ends[k]);
    }
    return token;
  }

  /** The string of entry k (for error messages). */
  entryString(k: number): string {
    return this.arena.toString('utf8', this.start(k), this.ends[k]);
  }
}
