// The playground: a prompt, every sampling control of /v1/completions, and n outputs that fill in as the
// server streams them (OpenAI server-sent events: `data: {choices: [{index, text}]}` … `data: [DONE]`).
import { ESCAPE_JS, page, type PageLinks } from './layout.js';

/** [request field, label, default, input attributes]; an empty value is left out of the request. */
const CONTROLS: [string, string, string, string][] = [
  ['max_tokens', 'max_tokens', '100', 'type="number" min="1" step="1"'],
  ['temperature', 'temperature (0 = greedy)', '0.8', 'type="number" min="0" step="0.05"'],
  ['top_k', 'top_k (empty = all)', '200', 'type="number" min="1" step="1"'],
  ['top_p', 'top_p', '1', 'type="number" min="0.01" max="1" step="0.01"'],
  ['repetition_penalty', 'repetition_penalty', '1', 'type="number" min="0.01" step="0.05"'],
  ['no_repeat_ngram_size', 'no_repeat_ngram_size', '0', 'type="number" min="0" step="1"'],
  ['seed', 'seed (empty = random)', '1337', 'type="number" step="1"'],
  ['n', 'n (samples)', '1', 'type="number" min="1" max="16" step="1"'],
  ['stop', 'stop (text, or JSON array)', '', 'type="text" placeholder=\'e.g. ["\\\\n\\\\n"]\''],
];

const body = (modelName: string) => `
<h1>playground <span class="muted" id="model"></span></h1>
<div class="card">
  <textarea id="prompt" rows="6" placeholder="prompt (empty: unconditional)"></textarea>
  <div class="controls">
    ${CONTROLS.map(([name, label, value, attrs]) => `<label>${label}<input id="${name}" name="${name}" value="${value.replace(/"/g, '&quot;')}" ${attrs}></label>`).join('\n    ')}
  </div>
  <label style="max-width:300px;margin-bottom:10px">API key (if the server wants one)<input id="api-key" type="password" autocomplete="off"></label>
  <button id="generate">generate</button> <button id="stop-button" class="secondary" disabled>stop</button>
  <span id="info" class="muted"></span>
</div>
<div class="outputs" id="outputs"></div>
<script type="application/json" id="model-name">${JSON.stringify(modelName).replace(/</g, '\\u003c')}</script>
`;

const SCRIPT = `
${ESCAPE_JS}
const $ = (id) => document.getElementById(id);
const model = JSON.parse($('model-name').textContent);
$('model').textContent = model;
const NUMBER_FIELDS = ${JSON.stringify(CONTROLS.map(([name]) => name).filter((name) => name !== 'stop'))};
let controller = null;

function request() {
  const body = { model, prompt: $('prompt').value, stream: true };
  for (const name of NUMBER_FIELDS) {
    const v = $(name).value.trim();
    if (v !== '') body[name] = Number(v);
  }
  const stop = $('stop').value;
  if (stop !== '') body.stop = stop.startsWith('[') ? JSON.parse(stop) : stop;
  return body;
}

async function run() {
  $('info').textContent = '';
  $('info').classList.remove('error');
  let body;
  try { body = request(); } catch (err) { return fail('stop: ' + err.message); }
  const n = body.n ?? 1;
  $('outputs').innerHTML = Array.from({ length: n }, (_, i) => '<div class="card output"><span class="muted">sample ' + (i + 1) + '</span> <span class="muted finish" id="finish-' + i + '"></span><pre class="text" id="output-' + i + '"><span class="prompt muted">' + esc(body.prompt) + '</span></pre></div>').join('');
  controller = new AbortController();
  $('generate').disabled = true;
  $('stop-button').disabled = false;
  const t0 = performance.now();
  let chunks = 0;
  try {
    const headers = { 'content-type': 'application/json' };
    if ($('api-key').value) headers.authorization = 'Bearer ' + $('api-key').value;
    const res = await fetch('/v1/completions', { method: 'POST', headers, body: JSON.stringify(body), signal: controller.signal });
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try { message = JSON.parse(text).error.message; } catch {}
      return fail(res.status + ': ' + message);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split('\\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) return fail(chunk.error.message);
          for (const c of chunk.choices) {
            $('output-' + c.index)?.append(document.createTextNode(c.text));
            if (c.finish_reason) $('finish-' + c.index).textContent = '(' + c.finish_reason + ')';
          }
          chunks++;
        }
      }
    }
    $('info').textContent = chunks + ' chunks in ' + ((performance.now() - t0) / 1000).toFixed(2) + ' s';
  } catch (err) {
    if (err.name === 'AbortError') $('info').textContent = 'stopped';
    else fail(err.message);
  } finally {
    controller = null;
    $('generate').disabled = false;
    $('stop-button').disabled = true;
  }
}

function fail(message) {
  $('info').textContent = message;
  $('info').classList.add('error');
}

$('generate').onclick = run;
$('stop-button').onclick = () => controller?.abort();
$('prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run(); });
`;

export const playgroundPage = (links: PageLinks, modelName: string): string => page('playground', 'playground', links, body(modelName), SCRIPT);
