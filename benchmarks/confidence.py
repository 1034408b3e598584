"""Median probability of the true class, per class, over a run's test split (the boat's 0.94).

    python -m benchmarks.confidence runs/seed4-cifar10 --data ../shared/datasets

The probabilities are ``Predictor.probabilities`` (eval mode, the run's own normalisation) on the
test split fitted to the model exactly as in training.
"""

import argparse

import numpy as np

from convnet.data import load_dataset
from convnet.data.loader import fit_to_model
from convnet.predict import Predictor

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("run")
ARGS.add_argument("--data", help="dataset directory (default: $CONVNET_DATA or the cache)")


def main() -> None:
    args = ARGS.parse_args()
    p = Predictor.from_run(args.run, backend="torch")
    dataset = load_dataset(_dataset(args.run), "test", args.data,
                           classes=p.classes)
    x = fit_to_model(dataset.images, p.model.input_shape).astype(np.float32) / 255
    mean = np.asarray(p.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(p.std, np.float32).reshape(1, -1, 1, 1)
    probs = np.concatenate([p.probabilities((x[i:i + 500] - mean) / std)
                            for i in range(0, len(x), 500)])  # (N, K)
    print(f"accuracy {(probs.argmax(1) == dataset.labels).mean():.2%} on {len(x):,} images")
    for k, name in enumerate(p.classes):
        mine = probs[dataset.labels == k]
        print(f"{name:12s} median P(true) {np.median(mine[:, k]):.3f}  "
              f"recall {(mine.argmax(1) == k).mean():.2%}  ({len(mine):,} images)")


def _dataset(run: str) -> str:
    import json
    from pathlib import Path

    return json.loads((Path(run) / "run.json").read_text())["dataset"]["name"]


if __name__ == "__main__":
    main()
