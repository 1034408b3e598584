"""Training images/s of every small zoo model: plain NCHW float32 vs channels-last vs + bf16.

    python -m benchmarks.zoo_speed                   # CPU
    python -m benchmarks.zoo_speed --device cuda     # the same table on a GPU

One step = logits, cross-entropy, backward, Adam update on a batch of random 1x32x32 images (the
speed does not depend on the pixel values), as ``convnet train`` does it (``train.torch_step``).
The three layouts alternate round by round so that they see the same machine load; each figure
is the best round.
"""

import argparse
import json
import time

import torch

from convnet import create_model
from convnet.train import TrainConfig, torch_step

SMALL = ["lenet5", "tinyvgg", "resnet20", "googlenet-small", "vgg11-small", "densenet-small",
         "alexnet-small", "zfnet-small"]
MODES = {"fp32 NCHW": {"channels_last": False, "precision": "fp32"},
         "fp32 channels-last": {"channels_last": True, "precision": "fp32"},
         "bf16 channels-last": {"channels_last": True, "precision": "bf16"}}

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--models", nargs="+", default=SMALL)
ARGS.add_argument("--device", default="cpu")
ARGS.add_argument("--batch", type=int, default=128)
ARGS.add_argument("--rounds", type=int, default=3)
ARGS.add_argument("--seconds", type=float, default=2.0, help="length of one timed round")
ARGS.add_argument("--json", action="store_true")


def setup(name: str, mode: dict, device: torch.device):
    torch.manual_seed(0)
    cfg = TrainConfig(model=name, **mode)
    model = create_model(name, in_chans=1).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    return cfg, model, torch.optim.Adam(model.parameters(), 1e-3)


def one_round(cfg, forward, opt, x, y, seconds: float) -> float:
    """Training images/s of ``torch_step`` on ``forward`` (images -> logits) for ``seconds``."""
    torch_step(cfg, forward, opt, x, y, 1e-3)  # warm-up: kernels chosen, caches filled
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch_step(cfg, forward, opt, x, y, 1e-3)
        count += 1
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return count * len(y) / (time.perf_counter() - start)


def main() -> None:
    args = ARGS.parse_args()
    device = torch.device(args.device)
    results = {}
    for name in args.models:
        runs = {mode: setup(name, kw, device) for mode, kw in MODES.items()}
        x = torch.randn(args.batch, 1, 32, 32, device=device)
        y = torch.randint(0, 10, (args.batch,), device=device)
        best = {mode: 0.0 for mode in MODES}
        for _ in range(args.rounds):
            for mode, (cfg, model, opt) in runs.items():
                best[mode] = max(best[mode], one_round(cfg, model.logits, opt, x, y,
                                                         args.seconds))
        results[name] = best
        if not args.json:
            base = best["fp32 NCHW"]
            print(f"{name:16s} " + "  ".join(f"{m} {v:8,.0f}/s ({v / base:.2f}x)"
                                             for m, v in best.items()), flush=True)
    if args.json:
        print(json.dumps({"device": str(device), "batch": args.batch, "images_per_second": results}))


if __name__ == "__main__":
    main()
