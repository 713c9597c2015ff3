// Canvas drawing for the browser demo: a 2-D scatter, a loss curve and a grid of digits.

const VIEW = 1.25; // the scatter shows [−VIEW, VIEW]²

/** Data points (grey) under model points (red), both flat [n·2]. */
export function drawScatter(canvas, { data, points, caption }) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  const dot = (pts, color, r) => {
    ctx.fillStyle = color;
    for (let i = 0; i < pts.length; i += 2) {
      const x = ((pts[i] + VIEW) / (2 * VIEW)) * w;
      const y = ((VIEW - pts[i + 1]) / (2 * VIEW)) * h;
      if (x >= 0 && x < w && y >= 0 && y < h) ctx.fillRect(x - r / 2, y - r / 2, r, r);
    }
  };
  if (data) dot(data, '#c8ccd4', 3);
  if (points) dot(points, '#d6332a', 3);
  if (caption) {
    ctx.fillStyle = '#222';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText(caption, 8, 18);
  }
}

/** The training loss per step (faint) and its running mean over 25 steps, log scale. */
export function drawLoss(canvas, losses) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  if (losses.length < 2) return;
  const logs = losses.map((l) => Math.log10(Math.max(l, 1e-6)));
  const [lo, hi] = [Math.min(...logs), Math.max(...logs)];
  const pad = 20;
  const px = (i) => pad + (i / (losses.length - 1)) * (w - 2 * pad);
  const py = (v) => h - pad - ((v - lo) / Math.max(hi - lo, 1e-9)) * (h - 2 * pad);
  const line = (values, color, width) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(px(i), py(v)) : ctx.moveTo(px(i), py(v))));
    ctx.stroke();
  };
  line(logs, '#b9c3d6', 1);
  const smooth = logs.map((_, i) => {
    const from = Math.max(0, i - 24);
    return logs.slice(from, i + 1).reduce((a, b) => a + b, 0) / (i + 1 - from);
  });
  line(smooth, '#1f5fbf', 2);
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(`loss (log scale) ${losses[losses.length - 1].toFixed(3)} at step ${losses.length}`, pad, 14);
}

/** `n` grayscale digits (flat [n·size·size] in [−1, 1]) in rows of `cols`, each `scale`× enlarged. */
export function drawDigits(canvas, pixels, { n, size, cols, scale = 4 }) {
  const rows = Math.ceil(n / cols);
  const cell = size * scale + 2;
  canvas.width = cols * cell;
  canvas.height = rows * cell;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(canvas.width, canvas.height);
  image.data.fill(255);
  for (let k = 0; k < n; k++) {
    const [ox, oy] = [(k % cols) * cell + 1, Math.floor(k / cols) * cell + 1];
    for (let y = 0; y < size * scale; y++) {
      for (let x = 0; x < size * scale; x++) {
        const v = pixels[k * size * size + Math.floor(y / scale) * size + Math.floor(x / scale)];
        const g = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
        const i = ((oy + y) * canvas.width + ox + x) * 4;
        image.data[i] = image.data[i + 1] = image.data[i + 2] = g;
      }
    }
  }
  ctx.putImageData(image, 0, 0);
}
