// The training dashboard: stats, loss and learning-rate charts (SVG drawn by the server from the hub's
// history, refetched at most a few times a second), and the samples taken at each evaluation. Events
// arrive by server-sent events from /dashboard/events; the first ones replay the run so far, and a
// 'reset' (a followed log rewritten by a new run) clears the page for the new run. An RL run's step rows
// switch the page to its step view: reward, solved groups, KL, … and the report card's charts of them.
import { ESCAPE_JS, page, type PageLinks } from './layout.js';

const BODY = `
<h1 id="title">training</h1>
<div class="stats">
  <div class="stat"><span>status</span><b id="status">waiting</b> <a id="report" href="/report" hidden>report card</a></div>
</div>
<div id="step-view" hidden>
<div class="stats">
  <div class="stat"><span>step</span><b id="step">–</b></div>
  <div class="stat"><span>mean reward</span><b id="reward">–</b></div>
  <div class="stat"><span>solved groups</span><b id="solved">–</b></div>
  <div class="stat"><span>equal-reward groups</span><b id="equal-groups">–</b></div>
  <div class="stat"><span>KL</span><b id="kl">–</b></div>
  <div class="stat"><span>clip fraction</span><b id="clip-fraction">–</b></div>
  <div class="stat"><span>length</span><b id="length">–</b></div>
  <div class="stat"><span>entropy</span><b id="entropy">–</b></div>
</div>
<div class="grid" id="step-charts"></div>
</div>
<div id="train-view">
<div class="stats">
  <div class="stat"><span>iteration</span><b id="iter">–</b></div>
  <div class="stat"><span>loss (batch)</span><b id="loss">–</b></div>
  <div class="stat"><span>val loss</span><b id="val-loss">–</b></div>
  <div class="stat"><span>learning rate</span><b id="lr">–</b></div>
  <div class="stat"><span>tokens/s</span><b id="tokens-per-s">–</b></div>
  <div class="stat"><span>MFU</span><b id="mfu">–</b></div>
</div>
<div class="grid">
  <div class="card chart" id="loss-chart"></div>
  <div class="card chart" id="lr-chart"></div>
</div>
</div>
<div class="card samples" style="margin-top:14px"><b>samples</b> <span class="muted">(taken at each evaluation, newest first)</span><div id="samples"><p class="muted">none yet</p></div></div>
<p class="muted" id="settings"></p>
`;

const SCRIPT = `
${ESCAPE_JS}
const $ = (id) => document.getElementById(id);
let maxIters = 0, samples = 0, chartTimer = null, steps = false;
async function refreshCharts() {
  chartTimer = null;
  if (steps) $('step-charts').innerHTML = await fetch('/dashboard/charts/steps.html').then((r) => r.text());
  else {
    const [loss, lr] = await Promise.all(['loss', 'lr'].map((c) => fetch('/dashboard/charts/' + c + '.svg').then((r) => r.text())));
    $('loss-chart').innerHTML = loss;
    $('lr-chart').innerHTML = lr;
  }
  document.body.dataset.charted = String(Number(document.body.dataset.charted || 0) + 1);
}
const showSteps = (on) => { steps = on; $('step-view').hidden = !on; $('train-view').hidden = on; };
const STEP_STATS = { reward: (v) => v.toFixed(4), solved: (v) => (100 * v).toFixed(0) + '%', equal_groups: String, kl: (v) => v.toFixed(4),
  clip_fraction: (v) => v.toFixed(3), length: (v) => v.toFixed(1), entropy: (v) => v.toFixed(3) };
const scheduleCharts = () => { if (!chartTimer) chartTimer = setTimeout(refreshCharts, 250); };
const handlers = {
  run(e) {
    $('title').textContent = e.run.title;
    maxIters = e.run.max_iters;
    $('settings').textContent = Object.entries(e.run.settings || {}).map(([k, v]) => k + '=' + v).join('  ');
    if (e.run.samples === false) $('samples').innerHTML = '<p class="muted">none: a training log holds no samples (<code>inkwell train --dashboard</code> takes them)</p>';
  },
  log(e) {
    const r = e.row;
    $('iter').textContent = r.iter + (maxIters ? ' / ' + maxIters : '');
    $('loss').textContent = r.loss.toFixed(4);
    $('lr').textContent = r.lr.toExponential(2);
    $('tokens-per-s').textContent = Math.round(r.tokens_per_s).toLocaleString('en-US');
    $('mfu').textContent = (r.mfu * 100).toFixed(2) + '%';
    scheduleCharts();
  },
  step(e) {
    if (!steps) showSteps(true);
    $('step').textContent = e.row.step + (maxIters ? ' / ' + maxIters : '');
    for (const [key, show] of Object.entries(STEP_STATS)) if (typeof e.row[key] === 'number') $(key.replace('_', '-')).textContent = show(e.row[key]);
    scheduleCharts();
  },
  eval(e) {
    $('val-loss').textContent = e.row.val_loss.toFixed(4);
    scheduleCharts();
  },
  sample(e) {
    if (samples++ === 0) $('samples').innerHTML = '';
    const div = document.createElement('div');
    div.className = 'sample';
    div.innerHTML = '<span class="muted">' + (steps ? 'step ' : 'iter ') + e.iter + '</span><pre>' + esc(e.prompt) + '<b>' + esc(e.text) + '</b></pre>';
    $('samples').prepend(div);
  },
  status(e) {
    $('status').textContent = e.state + (e.message ? ': ' + e.message : '');
    // The run writes its report card when it ends.
    $('report').hidden = !e.report;
  },
  reset() {
    for (const id of ['iter', 'loss', 'val-loss', 'lr', 'tokens-per-s', 'mfu', 'step', ...Object.keys(STEP_STATS).map((k) => k.replace('_', '-'))]) $(id).textContent = '–';
    showSteps(false);
    clearSamples();
    scheduleCharts();
  },
};
const clearSamples = () => { samples = 0; $('samples').innerHTML = '<p class="muted">none yet</p>'; };
const source = new EventSource('/dashboard/events');
source.onmessage = (m) => { const e = JSON.parse(m.data); handlers[e.type]?.(e); };
// A reconnect replays the whole history: start the samples afresh.
source.onopen = clearSamples;
source.onerror = () => { if (/^(training|watching)/.test($('status').textContent)) $('status').textContent = 'disconnected'; };
`;

export const dashboardPage = (links: PageLinks): string => page('dashboard', 'dashboard', links, BODY, SCRIPT);
