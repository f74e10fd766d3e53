// `inkwell tokenize TEXT`: the ids a tokenizer gives a text, or with --decode the text of some ids.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDatasetMeta } from '../data/dataset.js';
import { isTokenizerName, TOKENIZER_NAMES } from '../data/prepare.js';
import { hubRepoOf } from '../model/pretrained.js';
import { Gpt2Tokenizer, loadTokenizer, tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/index.js';
import { UsageError, type Options } from './args.js';
import { tokenizerOption } from './prepare.js';

export const usage = `usage: inkwell tokenize [TEXT | FILE:path] [--tokenizer=NAME|DIR|HUB_ID | --data=DIR | --checkpoint=FILE] [--json]
       inkwell tokenize --decode [IDS | FILE:path] [--tokenizer=NAME|DIR|HUB_ID | --data=DIR | --checkpoint=FILE]

Prints the token ids of TEXT as a JSON array on one line (--json says so explicitly). With --decode, prints the text of IDS, given
as a JSON array ("[464, 3290]") or as numbers separated by spaces or commas. Without TEXT or IDS the input
is read from standard input; FILE:path reads it from a file. Special tokens written out in TEXT, such as
GPT-2's <|endoftext|>, become their ids.

  --tokenizer    gpt2 (the default) has a fixed vocabulary; char, word and bpe tokenizers are made for a
                 corpus, so take theirs from the dataset or checkpoint with --data or --checkpoint.
                 A folder with a Hugging Face tokenizer.json, or a hub repository (owner/name, fetched
                 into the hub cache), uses that tokenizer: ids include its BOS/EOS as HF's encode does
                 unless --no_special_tokens; --decode keeps special tokens unless --skip_special_tokens
  --no_special_tokens    encode without the special tokens the tokenizer adds (add_special_tokens=False)
  --skip_special_tokens  decode without special tokens
  --data         a dataset folder made by \`inkwell prepare\` (its meta.json holds the tokenizer)
  --checkpoint   a checkpoint written by \`inkwell train\` (ckpt.safetensors), which holds the tokenizer
  --decode       ids to text`;

export const booleanFlags = ['decode', 'json', 'no_special_tokens', 'skip_special_tokens'];

const OPTIONS = ['tokenizer', 'data', 'checkpoint', 'decode', 'json', 'no_special_tokens', 'skip_special_tokens'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(OPTIONS);
  // --decode=IDS carries the ids itself; --decode alone takes them like text.
  const decodeValue = options.entries().find(([key]) => key === 'decode')?.[1];
  const decode = decodeValue !== undefined && decodeValue !== false;
  const tokenizer = await resolveTokenizer(options);
  const input = typeof decodeValue === 'string' ? [decodeValue, ...args].join(' ') : await readInput(args);
  if (decode) console.log(tokenizer.decode(parseIds(input), { skipSpecialTokens: options.flag('skip_special_tokens') }));
  else console.log(JSON.stringify(tokenizer.encode(input, { addSpecialTokens: !options.flag('no_special_tokens') })));
}

async function readInput(args: string[]): Promise<string> {
  if (args.length === 1 && args[0]!.startsWith('FILE:')) {
    const path = args[0]!.slice('FILE:'.length);
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (args.length > 0) return args.join(' ');
  if (process.stdin.isTTY) throw new UsageError('give the text as an argument, as FILE:path, or on standard input');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** "[1, 2, 3]", "1 2 3" or "1,2,3". */
function parseIds(text: string): number[] {
  const trimmed = text.trim();
  const list = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  return list.split(/[\s,]+/).filter((item) => item !== '').map((item) => {
    if (!/^\d+$/.test(item)) throw new Error(`cannot decode '${item}': token ids are non-negative integers`);
    return Number(item);
  });
}

async function resolveTokenizer(options: Options): Promise<Tokenizer> {
  const source = options.string('tokenizer');
  if (source !== undefined && !isTokenizerName(source)) {
    if (!existsSync(source) && hubRepoOf(source) === undefined) {
      throw new UsageError(`--tokenizer must be one of ${TOKENIZER_NAMES.join(', ')}, a folder with tokenizer.json or a hub repository (owner/name), got '${source}'`);
    }
    if (options.has('data') || options.has('checkpoint')) throw new UsageError('give --tokenizer=DIR|HUB_ID or --data / --checkpoint, not both');
    return loadTokenizer(source);
  }
  const name = tokenizerOption(options);
  const data = options.string('data');
  const checkpoint = options.string('checkpoint');
  if (data !== undefined && checkpoint !== undefined) throw new UsageError('give --data or --checkpoint, not both');
  let json: unknown;
  let from: string;
  if (data !== undefined) {
    json = readDatasetMeta(data).tokenizer;
    from = join(data, 'meta.json');
  } else if (checkpoint !== undefined) {
    // Loaded only here: checkpoints bring in the model and the compute backends.
    const { loadCheckpoint } = await import('../train/checkpoint.js');
    json = loadCheckpoint(checkpoint).state.tokenizer;
    from = checkpoint;
  } else if (name === undefined || name === 'gpt2') {
    return Gpt2Tokenizer.pretrained();
  } else {
    throw new Error(`the ${name} tokenizer has no fixed vocabulary: pass --data=DIR (a dataset made by \`inkwell prepare\`) ` +
      'or --checkpoint=FILE to use the one made for that corpus');
  }
  if (json === undefined || json === null) throw new Error(`${from} holds no tokenizer (make the dataset with \`inkwell prepare\`)`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(json as TokenizerJSON);
  } catch (err) {
    throw new Error(`${from}: invalid tokenizer (${(err as Error).message})`);
  }
  if (name !== undefined && name !== tokenizer.type) throw new Error(`--tokenizer=${name} does not match ${from}, whose tokenizer is ${tokenizer.type}`);
  return tokenizer;
}
