// A BPE vocabulary (token string -> id) keyed by the tokens' UTF-8 bytes: one byte arena and a few
// typed arrays instead of a quarter of a million strings. tokenizer.json's scanner (tokenizer-json.ts)
// fills it straight from the file's bytes, so loading creates no string per token and no object per
// merge; token strings are made only for the ids a decode asks for.
import { slotOrder } from './slot-order.js';

const EMPTY = -1;

/** FNV-1a over bytes[s1, e1) then bytes[s2, e2), with a final mix so that linear probing sees well-spread slots. */
function hashOf(bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = s1; i < e1; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  for (let i = s2; i < e2; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
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
  private records: Int32Array;
  private count = 0;

  constructor(capacity: number, entries = 1024) {
    super(capacity);
    this.records = new Int32Array(Math.max(entries, 16) * RECORD);
  }

  /** The token whose bytes end at `end` (they start where the previous token's end) has id `id`. */
  add(end: number, id: number): void {
    if ((this.count + 1) * RECORD > this.records.length) {
      const bigger = new Int32Array(this.records.length * 2);
      bigger.set(this.records);
      this.records = bigger;
    }
    this.records[this.count * RECORD + END] = end;
    this.records[this.count * RECORD + ID] = id;
    this.count++;
    this.used = end;
  }

  finish(): VocabTable {
    return new VocabTable(Buffer.from(this.bytes.subarray(0, this.used)), this.records.slice(0, this.count * RECORD));
  }
}

/** An entry's record: where its bytes end in the arena (they start where the previous entry's end), and its id. */
const END = 0;
const ID = 1;
const RECORD = 2;
/**
 * A slot: entry index + 1 (0 where empty), the entry's bytes (start, end) and id. Random reads of the
 * slots are the cost of loading a large vocabulary, so a lookup reads one slot and the token's bytes.
 */
const SLOT_ENTRY = 0;
const SLOT_START = 1;
const SLOT_END = 2;
const SLOT_ID = 3;
const SLOT = 4;

export class VocabTable {
  /** One more than the largest id. */
  readonly size: number;
  /** Open addressing with linear probing. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** The entry spelling each id (the last one in file order when several do), -1 where none does. */
  private readonly entryOfId: Int32Array;
  private tokenStrings: (string | undefined)[] | undefined;
  private readonly utf8 = new TextEncoder();
  private scratch = Buffer.allocUnsafe(256);

  /** Entry k is the token arena[records[RECORD * (k - 1) + END], records[RECORD * k + END]) with id records[RECORD * k + ID]. */
  constructor(private readonly arena: Buffer, private readonly records: Int32Array) {
    const count = records.length / RECORD;
    let slots = 16;
    while (slots < count * 2) slots *= 2;
    this.mask = slots - 1;
    this.slots = new Int32Array(slots * SLOT);
    const kept = this.insertAll(count);
    // Only the entries left in the table count (a duplicate token's earlier id is gone, as in JSON.parse).
    let size = 0;
    for (let k = 0; k < count; k++) if (kept[k] === 1) size = Math.max(size, this.id(k) + 1);
    this.size = size;
    this.entryOfId = this.entriesOfIds(kept);
  }

  /** Puts every entry in its slot, in slot order (see slot-order.ts); returns 1 for each entry kept, 0 where a later duplicate replaced it. */
  private insertAll(count: number): Uint8Array {
    const hashes = new Int32Array(count);
    const first = new Int32Array(count);
    for (let k = 0; k < count; k++) {
      hashes[k] = hashOf(this.arena, this.start(k), this.end(k), 0, 0);
      first[k] = hashes[k]! & this.mask;
    }
    const order = slotOrder(first, this.mask + 1);
    const kept = new Uint8Array(count).fill(1);
    const slots = this.slots;
    for (let j = 0; j < count; j++) {
      const k = order[j]!;
      const start = this.start(k);
      const end = this.end(k);
      const at = this.slotOf(hashes[k]!, this.arena, start, end, 0, 0);
      if (slots[at + SLOT_ENTRY] !== 0) kept[slots[at + SLOT_ENTRY]! - 1] = 0;
      slots[at + SLOT_ENTRY] = k + 1;
      slots[at + SLOT_START] = start;
      slots[at + SLOT_END] = end;
      slots[at + SLOT_ID] = this.id(k);
    }
    return kept;
  }

  /** The entry of each id (the last one kept in file order), -1 where none. */
  private entriesOfIds(kept: Uint8Array): Int32Array {
    const entryOfId = new Int32Array(this.size).fill(EMPTY);
    for (let k = 0; k < kept.length; k++) if (kept[k] === 1) entryOfId[this.id(k)] = k;
    return entryOfId;
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
    return k === 0 ? 0 : this.records[(k - 1) * RECORD + END]!;
  }

  private end(k: number): number {
    return this.records[k * RECORD + END]!;
  }

  private id(k: number): number {
    return this.records[k * RECORD + ID]!;
  }

  /** Whether arena[at, end) holds bytes[s1, e1) followed by bytes[s2, e2). */
  private equals(at: number, end: number, bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
    if (end - at !== e1 - s1 + (e2 - s2)) return false;
    const arena = this.arena;
    for (let i = s1; i < e1; i++) if (arena[at++] !== bytes[i]) return false;
    for (let i = s2; i < e2; i++) if (arena[at++] !== bytes[i]) return false;
    return true;
  }

  /** Where the slot of the token bytes[s1, e1) + bytes[s2, e2) (of hash `hash`) starts, or the empty slot where it would go. */
  private slotOf(hash: number, bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
    const slots = this.slots;
    let slot = hash & this.mask;
    for (;;) {
      const at = slot * SLOT;
      if (slots[at + SLOT_ENTRY] === 0 || this.equals(slots[at + SLOT_START]!, slots[at + SLOT_END]!, bytes, s1, e1, s2, e2)) return at;
      slot = (slot + 1) & this.mask;
    }
  }

  /**
   * The id of the token whose bytes are bytes[s1, e1) then bytes[s2, e2), or -1. `near`: an id likely
   * to be it, tried first with the one after it: merge lists come nearly sorted by their result, so
   * that reads the vocabulary in order instead of probing the table at random.
   */
  idOfBytes(bytes: Uint8Array, s1: number, e1: number, s2 = 0, e2 = 0, near = -1): number {
    for (let id = near; id >= 0 && id <= near + 1 && id < this.size; id++) {
      const k = this.entryOfId[id]!;
      // entryOfId holds only entries the table keeps, so a match is the table's answer.
      if (k >= 0 && this.equals(this.start(k), this.end(k), bytes, s1, e1, s2, e2)) return id;
    }
    const at = this.slotOf(hashOf(bytes, s1, e1, s2, e2), bytes, s1, e1, s2, e2);
    return this.slots[at + SLOT_ENTRY] === 0 ? -1 : this.slots[at + SLOT_ID]!;
  }

  /** The id of `token`, or undefined. */
  idOf(token: string): number | undefined {
    if (this.scratch.length < token.length * 3) this.scratch = Buffer.allocUnsafe(token.length * 3);
    const id = this.idOfBytes(this.scratch, 0, this.utf8.encodeInto(token, this.scratch).written);
    return id < 0 ? undefined : id;
  }

  /** The token string of an id (made on first use), or undefined where no token has that id. */
  token(id: number): string | undefined {
    if (!(id >= 0 && id < this.size)) return undefined;
    this.tokenStrings ??= new Array<string | undefined>(this.size);
    let token = this.tokenStrings[id];
    if (token === undefined) {
      const k = this.entryOfId[id]!;
      if (k < 0) return undefined;
      token = this.tokenStrings[id] = this.arena.toString('utf8', this.start(k), this.end(k));
    }
    return token;
  }
}
