"""The plain PyTorch baseline for ResNet-20 on CIFAR-10: what a tutorial script does.

    python -m benchmarks.peer_resnet20 --data ../shared/datasets --steps 200

A ``Dataset`` that crops (4 pixels of zero padding) and flips each image in ``__getitem__``
behind a ``DataLoader`` (shuffle, batch 128, 2 workers), SGD 0.1 with momentum 0.9 and weight
decay 1e-4 (He et al. 2015, section 4.2), a cosine schedule, eager float32 in NCHW; the same
ResNet-20 (``create_model``). The paper trains 64,000 iterations (164 epochs) for its 91.25 %;
running that here would take hours, so this times ``--steps`` iterations after a warm-up and
extrapolates to 64,000 (stated as an extrapolation wherever it is quoted). Kept plain: it is
the yardstick, not something to tune.
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from convnet import create_model
from convnet.data import load_dataset

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--data", help="dataset directory (default: $CONVNET_DATA or the cache)")
ARGS.add_argument("--steps", type=int, default=200, help="timed iterations")
ARGS.add_argument("--paper-steps", type=int, default=64_000, help="iterations to extrapolate to")
ARGS.add_argument("--workers", type=int, default=2)
ARGS.add_argument("--seed", type=int, default=0)
ARGS.add_argument("--json", action="store_true", help="print the result as JSON")

MEAN = np.float32([0.4914, 0.4822, 0.4465]).reshape(3, 1, 1)
STD = np.float32([0.2470, 0.2435, 0.2616]).reshape(3, 1, 1)


class Augmented(Dataset):
    """CIFAR images as float arrays, randomly cropped and flipped one at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = (self.images[i].astype(np.float32) / 255 - MEAN) / STD  # (3, 32, 32)
        x = np.pad(x, ((0, 0), (4, 4), (4, 4)))  # (3, 40, 40)
        dy, dx = np.random.randint(0, 9, 2)
        x = x[:, dy:dy + 32, dx:dx + 32]
        if np.random.rand() < 0.5:
            x = x[:, :, ::-1]
        return torch.from_numpy(x.copy()), self.labels[i]


def main() -> None:
    args = ARGS.parse_args()
    torch.manual_seed(args.seed)
    ds = load_dataset("cifar10", "train", args.data)
    loader = DataLoader(Augmented(ds.images, ds.labels), batch_size=128, shuffle=True,
                        num_workers=args.workers, drop_last=True, persistent_workers=True)
    model = create_model("resnet20").train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.paper_steps)
    warmup, done, start = 10, 0, None
    while done < warmup + args.steps:
        for x, y in loader:
            if done == warmup:
                start = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if done == warmup + args.steps:
                break
    seconds = time.perf_counter() - start
    per_step = seconds / args.steps
    result = {"steps": args.steps, "seconds": seconds, "images_per_second": 128 / per_step,
              "paper_steps": args.paper_steps,
              "extrapolated_minutes": per_step * args.paper_steps / 60}
    print(json.dumps(result) if args.json else
          f"{result['images_per_second']:,.0f} images/s; {args.paper_steps:,} iterations would "
          f"take {result['extrapolated_minutes']:,.0f} min (extrapolated)")


if __name__ == "__main__":
    main()
