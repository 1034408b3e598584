"""What each optimisation of a LeNet-5 training step buys, one at a time, in the same run.

    python -m benchmarks.step_speed                       # batch 128, 5 rounds
    python -m benchmarks.step_speed --batch 32 64 128 --model lenet5

Each row adds one change to the row above it, from a plain step (NCHW, ``model.logits``, Adam's
per-tensor loop) to what ``convnet train`` runs (``train.torch_step`` on ``Network.train_logits``
with fused Adam, channels-last). One step = logits, cross-entropy, backward, update on a batch of
random images (the speed does not depend on the pixel values). The rows alternate round by
round, so that they see the same machine load; each figure is the median round, and every
ratio is against the first row of the same run.

Every row keeps freed memory for the next step, as ``convnet train`` does (convnet/allocator.py),
unless ``--memory glibc`` leaves malloc's defaults: that setting is process-wide, so its worth is
measured by running the command both ways, in turn:

    for i in 1 2 3; do python -m benchmarks.step_speed --memory glibc; python -m benchmarks.step_speed; done
"""

import argparse
import json
import statistics

import torch

from convnet import create_model
from convnet.allocator import keep_freed_memory
from convnet.registry import model_info
from convnet.train import TrainConfig

from .zoo_speed import one_round

# name: (TrainConfig fields, forward, Adam's implementation)
ROWS = {
    "plain step (NCHW, per-tensor Adam)": ({"channels_last": False}, "logits", "for-loop"),
    "+ channels-last": ({"channels_last": True}, "logits", "for-loop"),
    "+ max pool before ReLU": ({"channels_last": True}, "train_logits", "for-loop"),
    "+ fused Adam (convnet train)": ({"channels_last": True}, "train_logits", "fused"),
    "+ bf16 autocast": ({"channels_last": True, "precision": "bf16"}, "train_logits", "fused"),
}

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--model", default="lenet5")
ARGS.add_argument("--batch", type=int, nargs="+", default=[128])
ARGS.add_argument("--rounds", type=int, default=5)
ARGS.add_argument("--seconds", type=float, default=1.5, help="length of one timed round")
ARGS.add_argument("--memory", choices=["keep", "glibc"], default="keep",
                  help="keep: freed memory stays for the next step (convnet train's setting); "
                       "glibc: malloc's defaults")
ARGS.add_argument("--json", action="store_true")


def setup(name: str, fields: dict, forward: str, adam: str):
    torch.manual_seed(0)
    cfg = TrainConfig(model=name, optimizer="adam", lr=1e-3, **{"precision": "fp32", **fields})
    model = create_model(name)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    kind = {"fused": {"fused": True}, "for-loop": {"foreach": False}}[adam]
    return cfg, getattr(model, forward), torch.optim.Adam(model.parameters(), 1e-3, **kind)


def measure(name: str, batch: int, rounds: int, seconds: float) -> dict[str, float]:
    """Median images/s of every row at this batch size, rows interleaved round by round."""
    steps = {row: setup(name, *spec) for row, spec in ROWS.items()}
    x = torch.randn(batch, *model_info(name).input_shape)
    y = torch.randint(0, 10, (batch,))
    seen: dict[str, list[float]] = {row: [] for row in ROWS}
    for _ in range(rounds):
        for row, (cfg, forward, opt) in steps.items():
            seen[row].append(one_round(cfg, forward, opt, x, y, seconds))
    return {row: statistics.median(v) for row, v in seen.items()}


def main() -> None:
    args = ARGS.parse_args()
    if args.memory == "keep":
        keep_freed_memory()
    results = {b: measure(args.model, b, args.rounds, args.seconds) for b in args.batch}
    if args.json:
        print(json.dumps({"model": args.model, "threads": torch.get_num_threads(),
                          "memory": args.memory,
                          "images_per_second": results}))
        return
    for batch, rows in results.items():
        base = next(iter(rows.values()))
        print(f"{args.model}, batch {batch}, {torch.get_num_threads()} threads, memory "
              f"{args.memory} (median of {args.rounds} rounds):")
        for row, value in rows.items():
            print(f"  {row:38s} {value:9,.0f} images/s  {value / base:5.2f}x")


if __name__ == "__main__":
    main()
