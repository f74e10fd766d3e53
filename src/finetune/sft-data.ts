// Supervised fine-tuning data: JSONL of `{"prompt": …, "completion": …}` or chat
// `{"messages": [{"role": "system"|"user"|"assistant", "content": …}, …]}` (ending with an assistant
// message). Each example is rendered with a template (template.ts) and tokenized; the targets are the
// next tokens, with every position whose next token is not the assistant's (prompt, system, user turns,
// template cues) set to IGNORE_INDEX, so the loss is the mean over completion tokens only, END included.
//
// Longer than the context (block_size + 1 tokens, since a sequence of n tokens gives n − 1 predictions):
// the example keeps its last block_size + 1 tokens (truncateTokens) and is counted. The end holds the
// completion, so at least the last tokens stay trained.
//
// Packing (optional): examples are laid end to end, in file order, into rows of up to block_size + 1
// tokens (an example never straddles two rows), so short examples do not waste compute on padding.
// Attention is not masked between the examples of a row: a later example can see the earlier ones, as
// in Hugging Face's plain packing; the loss still counts only completion tokens.
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { IGNORE_INDEX, padBatch, padTargets, truncateTokens, type PaddedBatch } from './batch.js';
import { DataLineError, readJsonl, type BadLinePolicy, type SkippedLine } from '../io/records.js';
import { encodeChat, type ChatMessage, type Template } from './template.js';

export interface SftRecord {
  line: number;
  messages: ChatMessage[];
}

/** One training sequence: token ids and the target of each position (IGNORE_INDEX where untrained). */
export interface SftSequence {
  ids: number[];
  targets: number[];
}

/** A record's messages, or an error naming the bad field. */
export function toMessages(value: unknown): ChatMessage[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected an object with "prompt" and "completion", or "messages"');
  const v = value as { prompt?: unknown; completion?: unknown; messages?: unknown };
  if (v.messages !== undefined) {
    if (!Array.isArray(v.messages) || v.messages.length === 0) throw new Error('"messages" must be a non-empty array');
    const messages = v.messages.map((m: unknown, i: number): ChatMessage => {
      const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
      if (role !== 'system' && role !== 'user' && role !== 'assistant') throw new Error(`messages[${i}].role must be "system", "user" or "assistant", got ${JSON.stringify(role)}`);
      if (typeof content !== 'string') throw new Error(`messages[${i}].content must be a string, got ${JSON.stringify(content)}`);
      return { role, content };
    });
    if (messages[messages.length - 1]!.role !== 'assistant') throw new Error('the last message must be the assistant\'s (the turn to learn)');
    return messages;
  }
  if (typeof v.prompt !== 'string') throw new Error(`"prompt" must be a string, got ${JSON.stringify(v.prompt)}`);
  if (typeof v.completion !== 'string' || v.completion === '') throw new Error(`"completion" must be a non-empty string, got ${JSON.stringify(v.completion)}`);
  return [{ role: 'user', content: v.prompt }, { role: 'assistant', content: v.completion }];
}

export function loadSftFile(file: string, onBadLine: BadLinePolicy): { records: SftRecord[]; skipped: SkippedLine[] } {
  const { records, skipped } = readJsonl(file, { onBadLine, validate: toMessages });
  return { records: records.map((r) => ({ line: r.line, messages: r.value })), skipped };
}

/** Renders and tokenizes one conversation into a training sequence of at most maxTokens tokens. */
export function encodeSft(template: Template, messages: readonly ChatMessage[], tokenizer: Tokenizer, maxTokens: number): { sequence: SftSequence; truncated: boolean } {
  const encoded = encodeChat(template, messages, tokenizer);
  const truncated = encoded.ids.length > maxTokens;
  const ids = truncateTokens(encoded.ids, maxTokens);
  const trained = truncateTokens(encoded.trained, maxTokens);
  // Position t predicts token t + 1: trained when that token is the assistant's.
  const targets = ids.slice(1).map((id, t) => (trained[t + 1] ? id : IGNORE_INDEX));
  return { sequence: { ids, targets }, truncated };
}

/** Encodes every record; a record the tokenizer cannot encode stops with `file:line:` (DataLineError). */
export function encodeSftRecords(records: readonly SftRecord[], template: Template, tokenizer: Tokenizer, blockSize: number, file = 'data'): { sequences: SftSequence[]; truncated: number } {
  let truncated = 0;
  const sequences = records.map((r) => {
    let out: ReturnType<typeof encodeSft>;
    try {
      out = encodeSft(template, r.messages, tokenizer, blockSize + 1);
    } catch (err) {
      throw new DataLineError(file, r.line, `cannot render the example with the '${template.name}' template: ${(err as Error).message}`);
    }
    if (out.truncated) truncated++;
    return out.sequence;
  });
  return { sequences, truncated };
}

/** Lays sequences end to end into rows of at most maxTokens tokens (see the file comment). */
export function packSftSequences(sequences: readonly SftSequence[], maxTokens: number): SftSequence[] {
  const rows: SftSequence[] = [];
  let row: SftSequence | null = null;
  for (const s of sequences) {
    if (s.ids.length > maxTokens) throw new Error(`packSftSequences: a sequence of ${s.ids.length} tokens exceeds the row size ${maxTokens} (truncate first)`);
    if (row && row.ids.length + s.ids.length <= maxTokens) {
      // The row's last position now predicts this sequence's first token: a prompt token, untrained.
      row.targets.push(IGNORE_INDEX, ...s.targets);
      row.ids.push(...s.ids);
    } else {
      row = { ids: [...s.ids], targets: [...s.targets] };
      rows.push(row);
    }
  }
  return rows;
}

export interface SftBatch extends PaddedBatch {
  targets: Int32Array;
}

/** Inputs are ids[0..n−2] of each sequence, right-padded; targets are IGNORE_INDEX past each sequence. */
export function sftBatch(sequences: readonly SftSequence[]): SftBatch {
  const batch = padBatch(sequences.map((s) => s.ids.slice(0, -1)));
  return { ...batch, targets: padTargets(sequences.map((s) => s.targets), batch.T) };
}

/** Random batches of batchSize sequences, reproducible from the seed. */
export function randomSftBatches(sequences: readonly SftSequence[], batchSize: number, seed: number): () => SftBatch {
  if (sequences.length === 0) throw new Error('no training sequences');
  const rng = new Rng(streamSeed(seed, STREAM.order));
  return () => sftBatch(Array.from({ length: Math.min(batchSize, sequences.length) }, () => sequences[rng.int(sequences.length)]!));
}
