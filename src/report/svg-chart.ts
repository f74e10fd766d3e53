// A dependency-free SVG line chart for loss, learning-rate and reward curves: axes with round ticks,
// one polyline per series, a legend. Opens in any browser.
import { escapeMarkup } from './escape.js';
export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / 5, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function lineChartSvg(o: ChartOptions): string {
  const W = o.width ?? 720, H = o.height ?? 420, left = 64, right = 20, top = 40, bottom = 50;
  const all = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map(([x]) => x), ys = all.map(([, y]) => y);
  // Reductions, not Math.min(...xs): a long run's curve has more points than a call may take arguments.
  const lo = (v: number[]) => v.reduce((a, b) => Math.min(a, b)), hi = (v: number[]) => v.reduce((a, b) => Math.max(a, b));
  const xLo = all.length ? lo(xs) : 0, xHi = all.length ? hi(xs) : 1;
  let yLo = all.length ? lo(ys) : 0, yHi = all.length ? hi(ys) : 1;
  const pad = (yHi - yLo) * 0.05 || Math.abs(yHi) * 0.05 || 1;
  yLo -= pad;
  yHi += pad;
  const xt = ticks(xLo, xHi), yt = ticks(yLo, yHi);
  const x0 = Math.min(xLo, xt[0]!), x1 = Math.max(xHi, xt[xt.length - 1]!, x0 + 1e-12);
  const y0 = Math.min(yLo, yt[0]!), y1 = Math.max(yHi, yt[yt.length - 1]!);
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const py = (y: number) => H - bottom - ((y - y0) / (y1 - y0 || 1)) * (H - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeMarkup(o.title)}</text>`,
  ];
  for (const v of xt) parts.push(`<line x1="${px(v)}" y1="${top}" x2="${px(v)}" y2="${H - bottom}" stroke="#eee"/><text x="${px(v)}" y="${H - bottom + 16}" text-anchor="middle">${v}</text>`);
  for (const v of yt) parts.push(`<line x1="${left}" y1="${py(v)}" x2="${W - right}" y2="${py(v)}" stroke="#eee"/><text x="${left - 6}" y="${py(v) + 4}" text-anchor="end">${v}</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">${escapeMarkup(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeMarkup(o.yLabel)}</text>`);
  const colors = o.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]!);
  o.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    if (pts.length) parts.push(`<polyline fill="none" stroke="${colors[i]}" stroke-width="1.8" points="${pts.join(' ')}"/>`);
  });
  // The legend goes over the curves on a translucent box, so neither hides the other.
  const legendWidth = 30 + 7 * Math.max(0, ...o.series.map((s) => s.name.length));
  const lx = W - right - legendWidth - 6;
  parts.push(`<rect x="${lx}" y="${top + 4}" width="${legendWidth}" height="${o.series.length * 18 + 6}" fill="white" fill-opacity="0.8" stroke="#ccc"/>`);
  o.series.forEach((s, i) => {
    parts.push(`<rect x="${lx + 6}" y="${top + 12 + i * 18}" width="12" height="3" fill="${colors[i]}"/><text x="${lx + 24}" y="${top + 17 + i * 18}">${escapeMarkup(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
