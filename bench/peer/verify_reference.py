"""Checks adm_unet.UNetModel against the golden U-Net cases of test/fixtures/reference
(generated with improved-diffusion's and guided-diffusion's own UNetModel): same
state_dict keys and shapes, same parameter count, same output and block outputs on the
stored weights and inputs.

  /usr/bin/python3 bench/peer/verify_reference.py [--reference-dir DIR] [--tolerance 1e-5]

Prints one JSON line per case; exits 1 when a case's max error relative to the
output scale exceeds the tolerance.
"""
import argparse
import json
import os
import sys

import torch

from adm_unet import UNetModel, count_parameters
from safetensors_io import load_safetensors

CASES = ("improved", "guided_ssn")
# guided-diffusion kwargs that only describe the input.
_DATA_ONLY_KWARGS = {"image_size"}


def tensor(encoded):
    """A reference tensor {dtype, shape, data} as a torch tensor."""
    dtype = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64}[encoded["dtype"]]
    return torch.tensor(encoded["data"], dtype=dtype).reshape(encoded["shape"])


def check_case(reference_dir, tag):
    """Runs one case; returns a dict of its parameter count and max errors."""
    with open(os.path.join(reference_dir, f"unet_{tag}.json")) as f:
        case = json.load(f)["cases"][0]
    kwargs = {k: v for k, v in case["config"]["constructor_kwargs"].items() if k not in _DATA_ONLY_KWARGS}
    model = UNetModel(**kwargs).eval()
    weights = load_safetensors(os.path.join(reference_dir, case["weights_file"]))
    ours = {name: list(p.shape) for name, p in model.state_dict().items()}
    theirs = {e["name"]: e["shape"] for e in case["state_dict"]}
    if ours != theirs:
        raise SystemExit(f"{tag}: state_dict differs: ours {sorted(set(ours) ^ set(theirs)) or 'same keys, other shapes'}")
    model.load_state_dict(weights, strict=True)

    x, t = tensor(case["inputs"]["x"]), tensor(case["inputs"]["timesteps"])
    blocks = {}
    hooks = [model.time_embed.register_forward_hook(lambda m, i, o: blocks.__setitem__("time_embed", o))]
    for prefix in ("input_blocks", "output_blocks"):
        for i, block in enumerate(getattr(model, prefix)):
            hooks.append(block.register_forward_hook(lambda m, i_, o, name=f"{prefix}.{i}": blocks.__setitem__(name, o)))
    hooks.append(model.middle_block.register_forward_hook(lambda m, i, o: blocks.__setitem__("middle_block", o)))
    with torch.no_grad():
        output = model(x, t)
    for h in hooks:
        h.remove()

    expected = tensor(case["outputs"]["output"])
    max_abs = (output - expected).abs().max().item()
    block_rel = max(
        ((blocks[name] - tensor(enc)).abs().max() / tensor(enc).abs().max()).item() for name, enc in case["intermediates"].items()
    )
    return {
        "case": f"unet_{tag}",
        "params": count_parameters(model),
        "reference_params": case["num_parameters"],
        "output_max_abs_error": max_abs,
        "output_max_rel_error": max_abs / expected.abs().max().item(),
        "blocks_max_rel_error": block_rel,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference-dir", default=os.path.join(here, "..", "..", "test", "fixtures", "reference"))
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()
    ok = True
    for tag in CASES:
        result = check_case(args.reference_dir, tag)
        result["pass"] = result["params"] == result["reference_params"] and max(
            result["output_max_rel_error"], result["blocks_max_rel_error"]
        ) <= args.tolerance
        ok &= result["pass"]
        print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
