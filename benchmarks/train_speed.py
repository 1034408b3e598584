"""Time to 99.0 % MNIST test accuracy with `convnet train lenet5` (the default recipe).

    python -m benchmarks.train_speed --data ../shared/datasets
    python -m benchmarks.train_speed --device cuda            # on a GPU
    python -m benchmarks.train_speed --set channels_last=false # what one change is worth

Trains exactly what ``convnet train lenet5`` trains (TrainConfig defaults, plus ``--device``) and
reads the trainer's own clock (training loop only; the per-epoch test evaluation on all 10,000
images is left out, as in the baseline). The time to the target is the clock at the end of the
first epoch whose test accuracy reaches it. ``--repeat`` trains that many times and reports the
median time (a shared machine's speed wanders by 30 % from one run to the next); the same seed
must give the same accuracy every time, and the benchmark stops if it does not.
"""

import argparse
import json
import resource
import sys
import tempfile

from convnet.train import TrainConfig, fit, start

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--data", help="dataset directory (default: $CONVNET_DATA or the cache)")
ARGS.add_argument("--model", default="lenet5")
ARGS.add_argument("--device", default="cpu")
ARGS.add_argument("--precision", default=None, help="default: the trainer's")
ARGS.add_argument("--target", type=float, default=0.99)
ARGS.add_argument("--seed", type=int, default=0)
ARGS.add_argument("--repeat", type=int, default=3, help="runs; the median time is reported")
ARGS.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                  help="override TrainConfig fields, e.g. lr=0.003 shift=2 epochs=6")
ARGS.add_argument("--json", action="store_true")


def overrides(pairs: list[str]) -> dict:
    """["lr=0.003", "channels_last=false"] -> {"lr": 0.003, "channels_last": False}."""
    out = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        kind = type(getattr(TrainConfig(), key))
        out[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return out


def time_to_target(args) -> dict:
    extra = {"precision": args.precision} if args.precision else {}
    extra.update(overrides(args.set))
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(model=args.model, data_dir=args.data, device=args.device,
                          seed=args.seed, out=f"{out}/run", progress=False, **extra)
        run = start(cfg)
        fit(run)
        from convnet import runs

        history = runs.read_metrics(run.rundir)
    hit = next((row for row in history if row["test_accuracy"] >= args.target), None)
    images = len(run.data.train.y) * len(history)
    return {"reached": hit is not None, "seconds": hit["seconds"] if hit else None,
            "epochs": hit["epoch"] if hit else None, "final_accuracy": history[-1]["test_accuracy"],
            "total_seconds": history[-1]["seconds"],
            "images_per_second": images / history[-1]["seconds"],
            "recipe": {k: getattr(run.cfg, k) for k in ("epochs", "batch_size", "lr", "optimizer",
                                                    "schedule", "label_smoothing", "shift",
                                                    "channels_last", "precision")},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def repeated(args) -> dict:
    """``time_to_target`` ``--repeat`` times: the median run, with every run's times."""
    results = [time_to_target(args) for _ in range(args.repeat)]
    if len({r["final_accuracy"] for r in results}) > 1:
        sys.exit(f"the same seed gave different accuracies: {[r['final_accuracy'] for r in results]}")
    key = "seconds" if results[0]["reached"] else "total_seconds"
    results.sort(key=lambda r: r[key])
    return {**results[len(results) // 2], "all_seconds": [r[key] for r in results],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}


def main() -> None:
    args = ARGS.parse_args()
    result = repeated(args)
    if args.json:
        print(json.dumps(result))
    elif result["reached"]:
        print(f"{args.model}: {args.target:.1%} after {result['epochs']} epochs, "
              f"{result['seconds']:.1f} s of training ({result['final_accuracy']:.2%} at the end)")
    else:
        print(f"{args.model}: did not reach {args.target:.1%} ({result['final_accuracy']:.2%})")


if __name__ == "__main__":
    main()
