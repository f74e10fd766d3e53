// The ranking page for human feedback: one prompt at a time with its samples; clicking the samples in
// order of preference numbers them 1, 2, 3 … (clicking a numbered one takes it out again), and submitting
// posts the order to /feedback/rankings, which appends the comparison for the reward model.
import { ESCAPE_JS, page, type PageLinks } from './layout.js';

const BODY = `
<h1>feedback <span class="muted" id="progress"></span></h1>
<p class="muted">Click the samples from best to worst, then submit. Click a numbered sample to take it out of the order.</p>
<div id="item"><p class="muted">loading…</p></div>
`;

const SCRIPT = `
${ESCAPE_JS}
const $ = (id) => document.getElementById(id);
let items = [], position = 0, ranking = [], info = null;

async function load() {
  const res = await fetch('/feedback/items');
  info = await res.json();
  items = info.items;
  position = 0;
  show();
}

function show() {
  $('progress').textContent = '(' + info.ranked + ' of ' + info.total + ' prompts ranked)';
  const item = items[position];
  if (!item) {
    $('item').innerHTML = '<div class="card" id="finished">' + (items.length ? 'no more prompts in this round.' : 'every prompt is ranked.') + ' The comparisons are in <code>' + esc(info.file) + '</code>.</div>';
    return;
  }
  ranking = [];
  $('item').innerHTML = '<div class="card"><span class="muted">prompt</span><pre id="prompt">' + esc(item.prompt) + '</pre></div>'
    + '<div class="outputs">' + item.responses.map((r, i) => '<div class="card response" data-index="' + i + '"><span class="rank"></span><pre class="text">' + esc(r) + '</pre></div>').join('') + '</div>'
    + '<p><button id="submit" disabled>submit ranking</button> <button id="skip" class="secondary">skip</button> <button id="reset" class="secondary">reset</button> <span id="message" class="muted"></span></p>';
  for (const card of document.querySelectorAll('.response')) card.onclick = () => toggle(Number(card.dataset.index));
  $('submit').onclick = submit;
  $('skip').onclick = () => { position++; show(); };
  $('reset').onclick = () => { ranking = []; paint(); };
}

function toggle(index) {
  const at = ranking.indexOf(index);
  if (at >= 0) ranking.splice(at, 1); else ranking.push(index);
  paint();
}

function paint() {
  for (const card of document.querySelectorAll('.response')) {
    const at = ranking.indexOf(Number(card.dataset.index));
    card.classList.toggle('ranked', at >= 0);
    card.querySelector('.rank').textContent = at >= 0 ? String(at + 1) : '';
  }
  $('submit').disabled = ranking.length !== items[position].responses.length;
}

async function submit() {
  $('submit').disabled = true;
  const res = await fetch('/feedback/rankings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: items[position].id, ranking }) });
  const reply = await res.json();
  if (!res.ok) {
    $('message').textContent = reply.error;
    $('message').className = 'error';
    $('submit').disabled = false;
    return;
  }
  info.ranked = reply.ranked;
  position++;
  show();
}

load();
`;

export const feedbackPage = (links: PageLinks): string => page('feedback', 'feedback', links, BODY, SCRIPT);
