// The text table of a bench:peer result: per side forward ms, images/s and train step ms,
// and difflib's time over PyTorch's (above 1: difflib is slower).

const median = (v) => v.median.toFixed(1);
const spread = (v) => `${v.p25.toFixed(1)}–${v.p75.toFixed(1)}`;
// [label, key of the side's result, how its value is shown, whether every side has it]; a side
// without a key every side has failed there (the wasm heap is difflib's alone: '—' for PyTorch).
const ROWS = [
  ['forward ms (median)', 'forward_ms', median],
  ['forward ms (p25–p75)', 'forward_ms', spread],
  ['forward images/s', 'forward_images_per_s', (v) => v.toFixed(1)],
  ['DDIM step ms (median)', 'ddim_step_ms', median],
  ['train step ms (median)', 'train_step_ms', median],
  ['train step ms (p25–p75)', 'train_step_ms', spread],
  ['peak RSS MiB after forward', 'peak_rss_forward_mb', (v) => v.toFixed(0)],
  ['peak RSS MiB after train steps', 'peak_rss_train_mb', (v) => v.toFixed(0)],
  ['  of which wasm heap', 'wasm_heap_train_mb', (v) => v.toFixed(0), false],
];
/** How far (of the output's scale) an ONNX Runtime output may be from difflib's and still count as the same network. */
const ONNX_TOLERANCE = 1e-4;
// Measurements whose difflib/PyTorch ratio of median times is shown.
const RATIOS = [
  ['forward', 'forward_ms'],
  ['DDIM step', 'ddim_step_ms'],
  ['train step', 'train_step_ms'],
];

/**
 * @param {object} r - what run.mjs writes to JSON: config, batch, machine, reference,
 *   check, difflib {backend, params, forward_ms, forward_images_per_s, and train_step_ms or
 *   train_step_error} and torch (one such object per thread count, with `threads` and `blas`).
 * @returns {string}
 */
export function formatReport(r) {
  const sides = [
    { name: 'difflib', stats: r.difflib },
    ...r.torch.map((t) => ({ name: `PyTorch ${t.threads}t`, stats: t })),
  ];
  const header = ['', ...sides.map((s) => s.name)];
  const body = ROWS.map(([label, key, show, everySide = true]) => [
    label,
    ...sides.map((s) => (s.stats[key] !== undefined ? show(s.stats[key]) : everySide ? 'failed' : '—')),
  ]);
  for (const [label, key] of RATIOS) {
    for (const t of sides.slice(1)) {
      const ratio = r.difflib[key] && t.stats[key] ? `${(r.difflib[key].median / t.stats[key].median).toFixed(2)}×` : '—';
      body.push([`${label} difflib/${t.name}`, ratio]);
    }
  }
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => (row[i] ?? '').length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : (cell ?? '').padStart(widths[i]))).join('  ');
  const worstReference = Math.max(...r.reference.map((c) => Math.max(c.output_max_rel_error, c.blocks_max_rel_error)));
  const blas = r.torch[0].blas;
  const busy = r.machine.loadavg[0] + Math.max(...r.torch.map((t) => t.threads)) > r.machine.nproc + 0.5;
  return [
    `bench:peer ${r.config}: ${r.description}; batch ${r.batch}, ${r.warmup} warm-up + ${r.repeats} timed calls`,
    `machine: ${r.machine.nproc} cores, load average ${r.machine.loadavg.map((l) => l.toFixed(2)).join(' ')}; node ${r.machine.node}`,
    ...(busy ? ['warning: load average + PyTorch threads exceed the cores: other processes share them, so the times are not representative ' +
          '(multi-threaded PyTorch can be tens of times slower then, its OpenMP threads spinning; OMP_WAIT_POLICY=PASSIVE avoids that)'] : []),
    `difflib: ${r.difflib.backend}`,
    `PyTorch: torch ${r.machine.torch} on the CPU (${r.torch.map((t) => `${t.threads} thread${t.threads === 1 ? '' : 's'}`).join(', ')}), BLAS ${blas.library ?? 'linked in'}${r.torch[0].omp_wait_policy ? `, OMP_WAIT_POLICY=${r.torch[0].omp_wait_policy}` : ''}`,
    ...r.torch.map((t) => {
      const env = (e) => Object.entries(e).map(([k, v]) => `${k}=${v}`).join(' ');
      const tried = t.candidates.map((c) => `${env(c.env)}: forward ${c.forward_ms.median.toFixed(1)} ms, train step ${c.train_step_ms.median.toFixed(1)} ms`).join('; ');
      return `PyTorch ${t.threads}t at its fastest: forward with ${env(t.fastest.forward)}, train step with ${env(t.fastest.train_step)} (tried ${tried}); oneDNN (MKLDNN) ${t.mkldnn ? 'available' : 'not available'}`;
    }),
    ...(blas.reference
      ? ['warning: PyTorch calls the unoptimised reference BLAS (its matmuls, linear layers, attention and 1×1 convs are slow); `apt-get install -y libopenblas0-pthread` makes libblas.so.3 OpenBLAS']
      : []),
    `parameters: difflib ${r.difflib.params}, PyTorch ${r.torch[0].params} (${r.difflib.params === r.torch[0].params ? 'equal' : 'DIFFERENT'})`,
    `output on the same weights and input: max |PyTorch − difflib| ${r.check.max_abs_error.toExponential(2)}, ` +
      `${r.check.max_rel_error.toExponential(2)} of the output scale ${r.check.output_scale.toFixed(3)}`,
    `adm_unet vs the reference UNetModel cases (${r.reference.map((c) => c.case).join(', ')}): max error ${worstReference.toExponential(2)} of scale`,
    '',
    line(header),
    ...body.map(line),
    ...(r.difflib.train_step_error ? ['', `difflib's train step failed: ${r.difflib.train_step_error}`] : []),
    ...(r.onnx?.length ? ['', 'ONNX Runtime, the network exported by torch.onnx.export (opset 17), forward only:'] : []),
    ...(r.onnx ?? []).map((o) =>
      o.skipped
        ? `  ${o.runtime}: skipped (${o.skipped})`
        : `  ${o.runtime}, ${o.threads} thread${o.threads === 1 ? '' : 's'}: forward ${median(o.forward_ms)} ms (${spread(o.forward_ms)}); ` +
          (o.check.max_rel_error <= ONNX_TOLERANCE
            ? `output within ${o.check.max_rel_error.toExponential(2)} of scale of difflib's; difflib/${o.runtime.split(' ')[0]} ${(r.difflib.forward_ms.median / o.forward_ms.median).toFixed(2)}×`
            : `WRONG OUTPUT: ${o.check.max_rel_error.toExponential(2)} of scale away from difflib's (and PyTorch's), so its time is not compared`),
    ),
  ].join('\n');
}
