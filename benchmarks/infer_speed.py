"""LeNet-5 inference images/s at batch 256 and batch 1: torch eager, onnxruntime, convnet.

    python -m benchmarks.infer_speed

Three ways to get probabilities for already prepared (normalised) images, in one process:
``torch eager`` (``model.probabilities(x)`` under ``inference_mode``, the plain way), ``onnxruntime default``
(an ``InferenceSession`` with default options on the exported graph) and ``convnet`` (what
``convnet predict`` and ``convnet.load(run).predict`` use: ``Predictor.probabilities``, the
onnxruntime backend with a single-thread session for small batches). The weights are a fresh
seeded initialisation: speed does not depend on their values. Each figure is the best of
``--rounds`` timed rounds of at least ``--seconds`` each, the rounds interleaved across the
three paths so that they see the same machine load.
"""

import argparse
import json
import resource
import time

import numpy as np
import torch

from convnet import create_model
from convnet.export import compile_onnx, session
from convnet.predict import Predictor

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--model", default="lenet5")
ARGS.add_argument("--batches", type=int, nargs="+", default=[256, 1])
ARGS.add_argument("--rounds", type=int, default=3)
ARGS.add_argument("--seconds", type=float, default=1.0)
ARGS.add_argument("--json", action="store_true")


def rate(fn, x: np.ndarray, seconds: float) -> float:
    """Images per second of ``fn(x)`` over a round of at least ``seconds``."""
    fn(x)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn(x)
        count += 1
    return count * len(x) / elapsed


def paths(name: str) -> dict:
    torch.manual_seed(0)
    model = create_model(name).eval()
    onnx_default = session(compile_onnx(model)[0])
    predictor = Predictor(model, [str(i) for i in range(model.num_classes)], backend="auto")

    def eager(x):
        with torch.inference_mode():
            return model.probabilities(torch.from_numpy(x)).numpy()

    return {"torch eager": eager,
            "onnxruntime default": lambda x: onnx_default.run(None, {"image": x})[0],
            "convnet": predictor.probabilities}


def main() -> None:
    args = ARGS.parse_args()
    fns = paths(args.model)
    shape = create_model(args.model).input_shape
    results = {}
    for batch in args.batches:
        x = np.random.default_rng(0).standard_normal((batch, *shape), dtype=np.float32)
        rounds = {name: [] for name in fns}
        for _ in range(args.rounds):
            for name, fn in fns.items():
                rounds[name].append(rate(fn, x, args.seconds))
        results[str(batch)] = {name: max(r) for name, r in rounds.items()}
    out = {"model": args.model, "images_per_second": results, "threads": torch.get_num_threads(),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.json:
        print(json.dumps(out))
        return
    for batch, row in results.items():
        print(f"batch {batch:>4}: " + "  ".join(f"{k} {v:,.0f}/s" for k, v in row.items()))


if __name__ == "__main__":
    main()
