"""The plain PyTorch baseline: what a tutorial script does to train LeNet-5 on MNIST.

    python -m benchmarks.peer_pytorch_mnist --data ../shared/datasets --epochs 10

A ``TensorDataset`` behind a ``DataLoader`` (shuffle, batch 64), Adam at a constant 1e-3,
cross-entropy, eager float32, the library's default threads; the same LeNet-5 (``create_model``)
on the same 32x32 zero-padded, normalised images. It stops at the first epoch whose test
accuracy (all 10,000 images) reaches ``--target``. The clock counts the training loop only, as
``convnet train`` does (the per-epoch evaluation is left out for both). Kept deliberately plain:
it is the yardstick, not something to tune.
"""

import argparse
import json
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from convnet import create_model
from convnet.data import load_dataset

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--data", help="dataset directory (default: $CONVNET_DATA or the cache)")
ARGS.add_argument("--epochs", type=int, default=10, help="give up after this many")
ARGS.add_argument("--target", type=float, default=0.99)
ARGS.add_argument("--seed", type=int, default=0)
ARGS.add_argument("--json", action="store_true")


def tensors(split: str, data_dir) -> tuple[torch.Tensor, torch.Tensor]:
    ds = load_dataset("mnist", split, data_dir)
    x = np.pad(ds.images, ((0, 0), (0, 0), (2, 2), (2, 2))).astype(np.float32) / 255  # 28 -> 32
    x = (x - 0.1000) / 0.2752  # the padded training set's mean and std
    return torch.from_numpy(x), torch.from_numpy(ds.labels.astype(np.int64))


def main() -> None:
    args = ARGS.parse_args()
    torch.manual_seed(args.seed)
    train = DataLoader(TensorDataset(*tensors("train", args.data)), batch_size=64, shuffle=True)
    test_x, test_y = tensors("test", args.data)
    model = create_model("lenet5")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds, history = 0.0, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        for x, y in train:
            loss = F.cross_entropy(model.logits(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            accuracy = (model.logits(test_x).argmax(1) == test_y).float().mean().item()
        history.append({"epoch": epoch, "test_accuracy": accuracy, "seconds": round(seconds, 2)})
        if not args.json:
            print(f"epoch {epoch}: {accuracy:.2%} after {seconds:.1f} s", flush=True)
        if accuracy >= args.target:
            break
    reached = history[-1]["test_accuracy"] >= args.target
    result = {"reached": reached, "seconds": seconds, "epochs": len(history),
              "images_per_second": 60_000 * len(history) / seconds, "history": history,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(result) if args.json else
          f"{'reached' if reached else 'did not reach'} {args.target:.1%} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
