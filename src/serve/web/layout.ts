// The shell every page shares: one stylesheet and a header linking the pages this server offers.
import { escapeMarkup } from '../../report/escape.js';

export interface PageLinks {
  dashboard: boolean;
  playground: boolean;
  feedback: boolean;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,sans-serif;color:#222;background:#f6f6f4}
header{display:flex;gap:18px;align-items:baseline;padding:10px 20px;background:#1d2731;color:#fff}
header b{font-size:16px;margin-right:10px}
header a{color:#cfe3ff;text-decoration:none}
header a.here{color:#fff;border-bottom:2px solid #fff}
main{padding:16px 20px;max-width:1320px;margin:auto}
h1{font-size:19px;margin:4px 0 14px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px}
.chart svg{width:100%;height:auto;display:block}
.stats{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:14px}
.stat{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:130px}
.stat span{display:block;color:#666;font-size:12px}
.stat b{font-size:18px;font-variant-numeric:tabular-nums}
pre,.text{white-space:pre-wrap;word-break:break-word;font:13px/1.4 ui-monospace,monospace;margin:0}
.samples .sample{border-top:1px solid #eee;padding:8px 0}
.muted{color:#777}
label{display:flex;flex-direction:column;font-size:12px;color:#444;gap:2px}
input,textarea,button{font:inherit}
input[type=number],input[type=text]{width:100%;padding:4px 6px}
textarea{width:100%;padding:6px;font:13px/1.4 ui-monospace,monospace}
.controls{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:10px 0}
button{padding:6px 14px;border-radius:5px;border:1px solid #345;background:#2b5d8c;color:#fff;cursor:pointer}
button:disabled{opacity:.45;cursor:default}
button.secondary{background:#fff;color:#234}
.outputs{display:grid;gap:10px;margin-top:12px}
.output .text{min-height:3em}
.response{position:relative;cursor:pointer;user-select:none}
.response:hover{border-color:#2b5d8c}
.response.ranked{border:2px solid #2b5d8c;background:#eef4fb}
.response .rank{position:absolute;top:6px;right:8px;font-weight:bold;font-size:18px;color:#2b5d8c}
.error{color:#b00020}
`;

/** The site icon: an ink drop, as SVG (every current browser takes an SVG favicon). */
export const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f2937"/>' +
  '<path d="M16 5c-4 6-8 10-8 15a8 8 0 0 0 16 0c0-5-4-9-8-15z" fill="#60a5fa"/></svg>';

export function page(title: string, here: keyof PageLinks | 'index', links: PageLinks, body: string, script = ''): string {
  const nav = (['dashboard', 'playground', 'feedback'] as const)
    .filter((name) => links[name])
    .map((name) => `<a href="/${name}"${name === here ? ' class="here"' : ''}>${name}</a>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · inkwell</title><link rel="icon" type="image/svg+xml" href="/favicon.svg"><style>${STYLE}</style></head>
<body><header><b><a href="/" style="color:#fff">inkwell</a></b>${nav}</header>
<main>${body}</main>
${script ? `<script type="module">${script}</script>` : ''}
</body></html>
`;
}

export function indexPage(links: PageLinks): string {
  const items = [
    links.dashboard && '<li><a href="/dashboard">dashboard</a>: live loss and learning-rate curves, throughput, samples taken during training</li>',
    links.playground && '<li><a href="/playground">playground</a>: generate with every sampling control, streamed as it is decoded</li>',
    links.feedback && '<li><a href="/feedback">feedback</a>: rank samples to make comparisons for the reward model</li>',
  ].filter(Boolean);
  return page('inkwell', 'index', links, `<h1>inkwell</h1><ul>${items.join('') || '<li>nothing is served here</li>'}</ul>`);
}

/** What a page this server does not offer says instead (`reason`: plain text), so a link or bookmark explains itself. */
export function unavailablePage(links: PageLinks, name: keyof PageLinks, reason: string): string {
  return page(name, name, links, `<h1>no ${name} here</h1><div class="card" id="unavailable">${escapeMarkup(reason)}</div>`);
}

/** Browser-side helper shared by the pages: escapes text for innerHTML. */
export const ESCAPE_JS = `const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);`;
