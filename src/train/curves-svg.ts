import type { EpochMetrics } from './metrics-log.js';

interface Series {
  name: string;
  colour: string;
  points: Array<[x: number, y: number]>;
}

interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range (R@1 is always 0..100); otherwise from the data. */
  yRange?: [number, number];
}

const WIDTH = 420;
const HEIGHT = 260;
const MARGIN = { left: 52, right: 16, top: 28, bottom: 40 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || 1;
  const raw = span / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function formatTick(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

function renderPanel(panel: Panel, offsetX: number, xMax: number): string {
  const values = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  let [yLo, yHi] = panel.yRange ?? [Math.min(0, ...values), Math.max(...values, 1e-6)];
  if (yHi <= yLo) yHi = yLo + 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => offsetX + MARGIN.left + (xMax > 1 ? ((v - 1) / (xMax - 1)) * plotW : plotW / 2);
  const y = (v: number) => MARGIN.top + plotH - ((v - yLo) / (yHi - yLo)) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${offsetX + WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`);
  for (const t of ticks(yLo, yHi)) {
    parts.push(`<line x1="${x(1)}" x2="${x(xMax)}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${offsetX + MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${formatTick(t)}</text>`);
  }
  for (const t of ticks(1, xMax).filter((v) => Number.isInteger(v) && v >= 1)) {
    parts.push(`<text x="${x(t).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<rect x="${offsetX + MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${offsetX + MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" text-anchor="middle">epoch</text>`);
  parts.push(`<text transform="translate(${offsetX + 14} ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`);
  panel.series.forEach((s, i) => {
    const pts = s.points.filter(([, v]) => Number.isFinite(v));
    if (pts.length === 0) return;
    const d = pts.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="1.5" points="${d}"/>`);
    for (const [px, py] of pts) parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="2" fill="${s.colour}"/>`);
    parts.push(`<text x="${offsetX + MARGIN.left + 8}" y="${MARGIN.top + 14 + 14 * i}" fill="${s.colour}">${escapeXml(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** Training loss and validation R@1 per epoch, as two side-by-side line charts. */
export function renderCurves(epochs: readonly EpochMetrics[], title = ''): string {
  const xMax = Math.max(1, ...epochs.map((e) => e.epoch));
  const lossSeries: Series[] = [{ name: 'total loss', colour: '#1f77b4', points: epochs.map((e) => [e.epoch, e.loss.total]) }];
  if (epochs.some((e) => e.loss.retrieval !== undefined)) {
    lossSeries.push({ name: 'L_tri (image-recipe)', colour: '#ff7f0e', points: epochs.map((e) => [e.epoch, e.loss.retrieval ?? NaN]) });
  }
  if (epochs.some((e) => e.loss.recipe !== undefined)) {
    lossSeries.push({ name: 'L_rec', colour: '#2ca02c', points: epochs.map((e) => [e.epoch, e.loss.recipe ?? NaN]) });
  }
  const recallSeries: Series[] = [
    { name: 'image→recipe R@1 (e_I)', colour: '#1f77b4', points: epochs.map((e) => [e.epoch, e.val.imageToRecipe.r1]) },
  ];
  if (epochs.some((e) => e.val.debiased)) {
    recallSeries.push({ name: 'image→recipe R@1 (ẽ_I)', colour: '#d62728', points: epochs.map((e) => [e.epoch, e.val.debiased?.imageToRecipe.r1 ?? NaN]) });
  }
  recallSeries.push({ name: 'recipe→image R@1', colour: '#9467bd', points: epochs.map((e) => [e.epoch, e.val.recipeToImage.r1]) });
  const body = [
    renderPanel({ title: `${title ? `${title}: ` : ''}training loss`, yLabel: 'loss (epoch mean)', series: lossSeries }, 0, xMax),
    renderPanel({ title: 'validation R@1', yLabel: 'R@1 (%)', series: recallSeries, yRange: [0, 100] }, WIDTH, xMax),
  ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${body}
</svg>
`;
}
