"""Times adm_unet's UNetModel in PyTorch on the CPU: the forward pass (no_grad, eval), one
DDIM step (improved-diffusion's ddim_sample, η = 0, clipped x̂_0, linear schedule of 1000
steps, t = 500) and one train step (forward + backward of MSE(model(x, t), target) +
torch.optim.AdamW step, train mode). Optionally checks its output against difflib's on the same weights and input.

  /usr/bin/python3 bench/peer/torch_bench.py --config-json unet.json --batch 8 --threads 2 \
      --warmup 2 --repeats 5 [--weights w.safetensors --check-input in.safetensors --check-output out.safetensors]

--config-json: difflib's createUNet config (camelCase JSON object).
--weights: a state dict as exportTorchStateDict writes it (else the model's own init).
--check-input: safetensors with `x` [B, S, S, C] float32 (NHWC, difflib's layout) and `t` [B] int.
--check-output: safetensors with `output` [B, S, S, outChannels] float32, difflib's forward on them.

Progress goes to stderr; stdout gets one JSON line (times in milliseconds), with the BLAS
library torch loaded: Debian's torch calls libblas.so.3, which is the unoptimised
reference BLAS unless an optimised one (libopenblas0-pthread) is installed. OpenBLAS
sizes its own thread pool from OPENBLAS_NUM_THREADS (run.mjs sets it to --threads).
"""
import argparse
import json
import os
import re
import resource
import sys
import time

import torch
import torch.nn.functional as F

from adm_unet import count_parameters, from_config
from safetensors_io import load_safetensors

# Timesteps drawn for the timed inputs (their values do not change the work).
NUM_TIMESTEPS = 1000
LEARNING_RATE = 1e-4
# The timestep of the timed DDIM step (its value does not change the work).
DDIM_T = 500


def summarize(samples):
    """median/min/max/p25/p75 with linear interpolation, as bench/stats.mjs' summarize."""
    s = sorted(samples)

    def at(q):
        i = (len(s) - 1) * q
        lo = int(i)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (i - lo)

    return {"median": at(0.5), "min": s[0], "max": s[-1], "p25": at(0.25), "p75": at(0.75), "n": len(s), "samples": samples}


def time_repeats(label, fn, warmup, repeats):
    """Runs fn warmup times, then repeats times timed; returns the summary of milliseconds per call."""
    for i in range(warmup):
        fn()
        print(f"torch {label}: warm-up {i + 1}/{warmup}", file=sys.stderr, flush=True)
    samples = []
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
        print(f"torch {label}: {i + 1}/{repeats} {samples[-1]:.1f} ms", file=sys.stderr, flush=True)
    return summarize(samples)


def blas_library():
    """{library: path of the BLAS shared library this process mapped, reference: whether it is
    Debian's reference BLAS}; library None when none is mapped (e.g. MKL linked statically)."""
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if re.search(r"lib(open)?blas", line)})
    library = paths[0] if paths else None
    return {"library": library, "reference": library is not None and "/blas/libblas.so" in library}


def check_output(model, input_path, output_path):
    """Max abs error of torch's output vs difflib's on difflib's input, and that over max |difflib output|."""
    inputs = load_safetensors(input_path)
    expected = load_safetensors(output_path)["output"]
    with torch.no_grad():
        output = model(inputs["x"].permute(0, 3, 1, 2), inputs["t"].long()).permute(0, 2, 3, 1)
    if output.shape != expected.shape:
        raise SystemExit(f"check output: torch gives {list(output.shape)}, difflib's file holds {list(expected.shape)}")
    max_abs = (output - expected).abs().max().item()
    scale = expected.abs().max().item()
    return {"max_abs_error": max_abs, "output_scale": scale, "max_rel_error": max_abs / scale}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config-json", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights")
    ap.add_argument("--check-input")
    ap.add_argument("--check-output")
    ap.add_argument("--export-onnx", help="also write the model (eval mode, the batch's shapes) as ONNX, opset 17")
    args = ap.parse_args()
    if (args.check_input is None) != (args.check_output is None):
        ap.error("--check-input and --check-output go together")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.config_json) as f:
        config = json.load(f)
    model = from_config(config)
    if args.weights:
        model.load_state_dict(load_safetensors(args.weights), strict=True)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_library(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "params": count_parameters(model),
    }

    model.eval()
    if args.check_input:
        result["check"] = check_output(model, args.check_input, args.check_output)
    if args.export_onnx:
        shape = (args.batch, config["inChannels"], config["imageSize"], config["imageSize"])
        example = (torch.zeros(shape), torch.zeros(args.batch, dtype=torch.long))
        torch.onnx.export(model, example, args.export_onnx, opset_version=17, input_names=["x", "t"], output_names=["output"])

    size, batch = config["imageSize"], args.batch
    x = torch.randn(batch, config["inChannels"], size, size)
    t = torch.randint(0, NUM_TIMESTEPS, (batch,))
    target = torch.randn(batch, config["outChannels"], size, size)

    def forward():
        with torch.no_grad():
            model(x, t)

    result["forward_ms"] = time_repeats("forward", forward, args.warmup, args.repeats)
    result["forward_images_per_s"] = batch * 1000 / result["forward_ms"]["median"]

    # improved-diffusion's linear schedule and ddim_sample (η = 0), in float64 tables gathered per batch.
    betas = torch.linspace(0.0001, 0.02, NUM_TIMESTEPS, dtype=torch.float64)
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    t_ddim = torch.full((batch,), DDIM_T, dtype=torch.long)
    a_t = alphas_cumprod[t_ddim].float().view(-1, 1, 1, 1)
    a_prev = alphas_cumprod[t_ddim - 1].float().view(-1, 1, 1, 1)
    channels = config["inChannels"]

    def ddim_step():
        with torch.no_grad():
            eps = model(x, t_ddim)[:, :channels]
            pred_xstart = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
            eps = (x - a_t.sqrt() * pred_xstart) / (1 - a_t).sqrt()
            return a_prev.sqrt() * pred_xstart + (1 - a_prev).sqrt() * eps

    result["ddim_step_ms"] = time_repeats("DDIM step", ddim_step, args.warmup, args.repeats)
    # Peak resident memory of the whole process (MiB) after the forward passes, then after the train steps.
    result["peak_rss_forward_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(model(x, t), target).backward()
        optimizer.step()

    result["train_step_ms"] = time_repeats("train step", train_step, args.warmup, args.repeats)
    result["peak_rss_train_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
