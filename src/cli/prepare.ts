// `inkwell prepare [SOURCE]`: nanoGPT's prepare.py. A text corpus becomes train.bin, val.bin and meta.json.
import { SHAKESPEARE_URL, TOKENIZER_NAMES, isTokenizerName, prepareDataset, type PrepareStage } from '../data/prepare.js';
import type { TokenizerType } from '../tokenizers/index.js';
import { UsageError, type Options } from './args.js';
import { ProgressBar } from './progress.js';

export const usage = `usage: inkwell prepare [SOURCE] [--tokenizer=char|gpt2|word|bpe] [--out=DIR] [--val_fraction=0.1]
                       [--vocab_size=N] [--min_freq=N] [--allow_uint32] [--offline]

Turns a text corpus into a dataset for \`inkwell train\`: DIR/train.bin and DIR/val.bin (token ids as
nanoGPT writes them, uint16) and DIR/meta.json (the tokenizer, vocabulary size and token counts). The first
90% of the text's characters are train, the rest val. Any corpus size works: it is read in 4 MiB chunks.

  SOURCE           a text file, a folder (its files sorted by name and concatenated) or an http(s) URL
                   (downloaded once into ~/.cache/inkwell/downloads, or $INKWELL_CACHE/downloads).
                   Default: tinyshakespeare, ${SHAKESPEARE_URL}
  --tokenizer      char (default): one token per character, vocabulary = the text's characters;
                   gpt2: GPT-2's 50,257 tokens; word: basic_english words; bpe: byte-level BPE
                   (word and bpe learn their vocabulary from the train split)
  --out            output folder; default data/shakespeare_<tokenizer> for the default SOURCE,
                   else data/<SOURCE name without extension>
  --val_fraction   the share of the text that becomes val (default 0.1)
  --vocab_size     bpe: vocabulary size, 256 bytes plus the merges to learn (default 512)
  --min_freq       word: words seen fewer times become <unk> (default 1)
  --allow_uint32   write uint32 ids when the vocabulary has more than 65,536 tokens
  --offline        never use the network: a URL must be in the download cache (also INKWELL_OFFLINE=1)

If prepare fails, an existing dataset in the output folder is left as it was.`;

export const booleanFlags = ['allow_uint32', 'offline'];

const OPTIONS = ['tokenizer', 'out', 'val_fraction', 'vocab_size', 'min_freq', 'allow_uint32', 'offline'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(OPTIONS);
  if (args.length > 1) throw new UsageError(`prepare takes one SOURCE, got ${args.length}: ${args.join(' ')}`);
  let stage: PrepareStage | undefined;
  let bar = new ProgressBar('prepare');
  try {
    const { outDir } = await prepareDataset({
      source: args[0],
      tokenizer: tokenizerOption(options),
      outDir: options.string('out'),
      valFraction: options.number('val_fraction'),
      vocabSize: options.number('vocab_size'),
      minFreq: options.number('min_freq'),
      allowUint32: options.flag('allow_uint32'),
      download: options.has('offline') ? { offline: options.flag('offline') } : {},
      log: (line) => bar.print(line),
      onProgress: (nextStage, done, total) => {
        if (nextStage !== stage) {
          bar.done();
          bar = new ProgressBar(nextStage);
          stage = nextStage;
        }
        bar.update(toMegabytes(done), toMegabytes(total ?? 0), 'MB');
        if (done === total) bar.done();
      },
    });
    bar.print(`wrote ${outDir}: train.bin, val.bin, meta.json`);
  } finally {
    bar.done();
  }
}

/** --tokenizer, checked: one of char, gpt2, word, bpe, or undefined when not given. */
export function tokenizerOption(options: Options): TokenizerType | undefined {
  const name = options.string('tokenizer');
  if (name !== undefined && !isTokenizerName(name)) throw new UsageError(`--tokenizer must be one of ${TOKENIZER_NAMES.join(', ')}, got '${name}'`);
  return name;
}

function toMegabytes(bytes: number): number {
  return Math.round(bytes / 1e5) / 10;
}
