// Line charts as plain SVG text (no dependencies), in the style of examples/schedule-plot.mjs:
// panels side by side sharing one legend, a log10 x axis, a linear y axis. Each series is a
// <polyline data-series="NAME" data-panel="K"> whose points are in SVG units (rounded to 1e-3),
// so a test can read the numbers back.

const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#843c39', '#7b4173',
];

const fmt = (v) => String(Math.round(v * 1000) / 1000);
const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * @param {{
 *   title: string,
 *   xLabel: string,
 *   xTicks: number[],                       // x values to label (also the x range)
 *   panels: Array<{ title: string, yLabel: string }>,
 *   series: Array<{ name: string, color?: number | string, dash?: string, points: Array<Array<[number, number] | null>> }>,
 * }} chart - `series[i].points[k]` are the (x, y) of panel k; null or non-finite points are skipped.
 *   `color` indexes the palette or is a CSS colour (default: the series' index in the palette);
 *   `dash` is an SVG stroke-dasharray (default solid).
 * @returns {{ svg: string, panels: Array<{ left: number, top: number, width: number, height: number, xMin: number, xMax: number, yMin: number, yMax: number }> }}
 *   the SVG text and, per panel, its plotting box and axis ranges (for reading points back).
 */
export function lineChart({ title, xLabel, xTicks, panels, series }) {
  const [panelW, panelH, gap, left, top] = [380, 300, 80, 70, 50];
  const columns = 2;
  const legendRows = Math.ceil(series.length / columns);
  const width = left + panels.length * (panelW + gap);
  const height = top + panelH + 60 + legendRows * 18 + 20;
  const [lowTick, highTick] = [Math.min(...xTicks), Math.max(...xTicks)];
  const [xMin, xMax] = lowTick < highTick ? [lowTick, highTick] : [lowTick / 2, highTick * 2];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escape(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  const boxes = panels.map((panel, k) => {
    const box = { left: left + k * (panelW + gap), top, width: panelW, height: panelH };
    const ys = series.flatMap((s) => (s.points[k] ?? []).filter((p) => p && Number.isFinite(p[1])).map((p) => p[1]));
    const [lo, hi] = ys.length > 0 ? niceRange(Math.min(...ys), Math.max(...ys)) : [0, 1];
    const toX = (x) => box.left + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * box.width;
    const toY = (y) => box.top + (1 - (y - lo) / (hi - lo)) * box.height;
    for (const x of xTicks) {
      parts.push(
        `<line x1="${fmt(toX(x))}" y1="${box.top}" x2="${fmt(toX(x))}" y2="${box.top + box.height}" stroke="#e5e5e5"/>`,
        `<text x="${fmt(toX(x))}" y="${box.top + box.height + 16}" text-anchor="middle">${x}</text>`,
      );
    }
    for (let i = 0; i <= 5; i++) {
      const y = lo + ((hi - lo) * i) / 5;
      parts.push(
        `<line x1="${box.left}" y1="${fmt(toY(y))}" x2="${box.left + box.width}" y2="${fmt(toY(y))}" stroke="#e5e5e5"/>`,
        `<text x="${box.left - 6}" y="${fmt(toY(y) + 4)}" text-anchor="end">${Number(y.toPrecision(3))}</text>`,
      );
    }
    parts.push(
      `<rect x="${box.left}" y="${box.top}" width="${box.width}" height="${box.height}" fill="none" stroke="#444"/>`,
      `<text x="${box.left + box.width / 2}" y="${box.top - 8}" text-anchor="middle" font-weight="bold">${escape(panel.title)}</text>`,
      `<text x="${box.left + box.width / 2}" y="${box.top + box.height + 34}" text-anchor="middle">${escape(xLabel)}</text>`,
      `<text x="${box.left - 50}" y="${box.top + box.height / 2}" text-anchor="middle" transform="rotate(-90 ${box.left - 50} ${box.top + box.height / 2})">${escape(panel.yLabel)}</text>`,
    );
    series.forEach((s, i) => {
      const pts = (s.points[k] ?? []).filter((p) => p && Number.isFinite(p[0]) && Number.isFinite(p[1]));
      if (pts.length === 0) return;
      parts.push(
        `<polyline data-series="${escape(s.name)}" data-panel="${k}" fill="none" stroke="${colorOf(s, i)}" stroke-width="1.8"${dashOf(s)} points="${pts.map(([x, y]) => `${fmt(toX(x))},${fmt(toY(y))}`).join(' ')}"/>`,
      );
    });
    return { ...box, xMin, xMax, yMin: lo, yMax: hi };
  });
  // The legend, in columns under the panels.
  const legendTop = top + panelH + 58;
  const column = (width - left) / columns;
  series.forEach((s, i) => {
    const [x, y] = [left + Math.floor(i / legendRows) * column, legendTop + (i % legendRows) * 18]; // down the columns
    parts.push(
      `<line x1="${x}" y1="${y - 4}" x2="${x + 24}" y2="${y - 4}" stroke="${colorOf(s, i)}" stroke-width="2"${dashOf(s)}/>`,
      `<text x="${x + 30}" y="${y}">${escape(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return { svg: `${parts.join('\n')}\n`, panels: boxes };
}

function colorOf(series, i) {
  return typeof series.color === 'string' ? series.color : PALETTE[(series.color ?? i) % PALETTE.length];
}

function dashOf(series) {
  return series.dash ? ` stroke-dasharray="${series.dash}"` : '';
}

/** [lo, hi] around [min, max] on round numbers (a step of 1, 2 or 5 × 10^k, five steps or more). */
function niceRange(min, max) {
  if (min === max) return [min - 1, max + 1];
  const raw = (max - min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  return [Math.floor(min / step) * step, Math.ceil(max / step) * step];
}
