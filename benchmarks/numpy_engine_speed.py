"""Training images/s of the NumPy engine vs the torch engine, same model, batch and process.

    python benchmarks/numpy_engine_speed.py                 # lenet5 + lenet5-1998, batch 128
    OPENBLAS_NUM_THREADS=1 python benchmarks/numpy_engine_speed.py --threads 1 --rounds 20

The torch side trains as ``convnet train`` does: channels-last (``--no-channels-last`` for NCHW).

One step = logits, cross-entropy, backward, Adam update, on random 32x32 images (the speed does
not depend on the pixel values). The engines alternate in rounds of ``--steps`` steps so that
both see the same machine load; the table shows the median round (and the best, which is the
figure least disturbed by other processes on a shared machine). NumPy's BLAS uses every core
unless OPENBLAS_NUM_THREADS says otherwise; on a loaded machine 1 thread each is steadier.
"""

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from convnet import create_model
from convnet.numpy_engine import Adam, NumpyNetwork, cross_entropy

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--models", nargs="+", default=["lenet5", "lenet5-1998"])
ARGS.add_argument("--batch", type=int, default=128)
ARGS.add_argument("--threads", type=int, default=2, help="torch threads")
ARGS.add_argument("--rounds", type=int, default=10)
ARGS.add_argument("--steps", type=int, default=5, help="training steps per round")
ARGS.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                  help="torch in NCHW instead of the trainer's default channels-last layout")
ARGS.add_argument("--json", action="store_true", help="print the medians as JSON")


def torch_step(model, optimizer, x, y, channels_last=True):
    """What ``convnet train`` does per batch (the layout conversion included)."""
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    loss = F.cross_entropy(model.logits(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def numpy_step(net, optimizer, x, y):
    _, dlogits = cross_entropy(net.logits(x), y)
    net.backward(dlogits)
    optimizer.step(net.grads)


def images_per_second(name: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Per-round images/s for each engine, the engines interleaved round by round."""
    torch.manual_seed(0)
    model = create_model(name)
    net = NumpyNetwork.from_torch(model)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    def torch_engine(*a):
        return torch_step(*a, channels_last=args.channels_last)

    engines = {"torch": (torch_engine, model, torch.optim.Adam(model.parameters(), 1e-3)),
               "numpy": (numpy_step, net, Adam(net.params, 1e-3))}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, *model.input_shape)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    inputs = {"torch": (torch.from_numpy(x), torch.from_numpy(y)), "numpy": (x, y)}
    rates = {engine: [] for engine in engines}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for engine, (step, net_, optimizer) in engines.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(net_, optimizer, *inputs[engine])
            if round_:
                rates[engine].append(args.steps * args.batch / (time.perf_counter() - start))
    return rates


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    if args.json:
        medians = {name: {e: float(np.median(r)) for e, r in images_per_second(name, args).items()}
                   for name in args.models}
        print(json.dumps({"images_per_second": medians, "batch": args.batch}))
        return
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "all")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"torch threads {args.threads}, BLAS threads {blas}; "
          f"torch {torch.__version__}, numpy {np.__version__}; "
          f"batch {args.batch}, Adam, {args.rounds} rounds x {args.steps} steps")
    print(f"{'model':<12} {'torch img/s':>12} {'numpy img/s':>12} {'torch/numpy':>12}"
          f" {'best torch':>11} {'best numpy':>11} {'best ratio':>11}")
    for name in args.models:
        rates = images_per_second(name, args)
        med = {e: float(np.median(r)) for e, r in rates.items()}
        best = {e: max(r) for e, r in rates.items()}
        print(f"{name:<12} {med['torch']:>12.0f} {med['numpy']:>12.0f} "
              f"{med['torch'] / med['numpy']:>12.2f} {best['torch']:>11.0f} "
              f"{best['numpy']:>11.0f} {best['torch'] / best['numpy']:>11.2f}")


if __name__ == "__main__":
    main(ARGS.parse_args())
