"""A whole test split's evaluation at the inference path's speed: images/s of three ways.

    python -m benchmarks.eval_speed                      # lenet5 and resnet20, 10,000 images
    python -m benchmarks.eval_speed --models airbench94 --json

``eager`` is what the per-epoch test pass did before (torch, fp32, eval mode, batches of 200 in
the training layout); ``convnet`` is ``evaluate.split_scores``, what ``train``'s test pass,
``evaluate`` and ``report`` run now (the model exported to onnxruntime on its current weights,
checked against torch, then batches of 128; the export is inside the timed figure, as it is
paid once per epoch); ``inference`` is ``Predictor.probabilities`` on the same images (what
``predict`` runs), batches of 256. The weights are a fresh seeded initialisation and the
images standard-normal: speed does not depend on either. Each figure is the best of ``--rounds``,
the rounds interleaved so that the three ways see the same machine load.
"""

import argparse
import json
import time

import torch

from convnet import create_model
from convnet.evaluate import split_scores
from convnet.predict import Predictor

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--models", nargs="+", default=["lenet5", "resnet20"])
ARGS.add_argument("--images", type=int, default=10_000)
ARGS.add_argument("--rounds", type=int, default=3)
ARGS.add_argument("--json", action="store_true")


def eager(model, x: torch.Tensor) -> None:
    """The old per-epoch test pass: torch eager, batches of 200, channels-last."""
    with torch.inference_mode():
        for i in range(0, len(x), 200):
            model.logits(x[i:i + 200].contiguous(memory_format=torch.channels_last))


def inference(predictor: Predictor, x: torch.Tensor) -> None:
    for i in range(0, len(x), 256):
        predictor.probabilities(x[i:i + 256].numpy())


def rates(name: str, images: int, rounds: int) -> dict:
    torch.manual_seed(0)
    model = create_model(name).eval().to(memory_format=torch.channels_last)
    x = torch.randn(images, *model.input_shape)
    predictor = Predictor(model, [str(i) for i in range(model.num_classes)], backend="auto")
    ways = {"eager": lambda: eager(model, x), "convnet": lambda: split_scores(model, x),
            "inference": lambda: inference(predictor, x)}
    predictor.probabilities(x[:2].numpy())  # its export happens once, at the first prediction
    best = dict.fromkeys(ways, 0.0)
    for _ in range(rounds):
        for way, fn in ways.items():
            start = time.perf_counter()
            fn()
            best[way] = max(best[way], images / (time.perf_counter() - start))
    return best


def main() -> None:
    args = ARGS.parse_args()
    result = {name: rates(name, args.images, args.rounds) for name in args.models}
    if args.json:
        print(json.dumps({"images": args.images, "images_per_second": result}))
        return
    for name, r in result.items():
        print(f"{name:>12}: eager {r['eager']:,.0f}  convnet {r['convnet']:,.0f} "
              f"({r['convnet'] / r['eager']:.2f}x)  inference {r['inference']:,.0f} img/s "
              f"(evaluation at {r['convnet'] / r['inference']:.0%} of it)")


if __name__ == "__main__":
    main()
