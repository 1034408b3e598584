"""Every speed goal in one table: the figure, its baseline from the same run, the ratio.

    python -m benchmarks.run --data ../shared/datasets          # about 4 minutes on 2 cores
    python -m benchmarks.run --json > result.json

Each measurement runs in its own process (so that thread pools and peak memory are its own):

  time to 99 %     benchmarks.train_speed (``convnet train lenet5`` defaults, median of 3) vs
                   benchmarks.peer_pytorch_mnist (DataLoader, Adam 1e-3, batch 64)
  inference        benchmarks.infer_speed: convnet's predict path vs torch eager (and the default
                   onnxruntime session) at batch 256 and batch 1
  evaluation       benchmarks.eval_speed: a 10,000-image test pass of resnet20 (what train runs
                   each epoch, and evaluate) against the predict path's images/s, and eager torch
  NumPy engine     `convnet train lenet5 --engine numpy` vs the torch engine, whole training
                   runs; and benchmarks.numpy_engine_speed (the steps alone, interleaved)
  GPU              the time to 99 % with --device cuda, when a GPU is present

The command exits 1 when a goal is missed, so a regression cannot pass unnoticed. Run it on a
quiet machine: other processes on the same cores slow torch's thread pool disproportionately.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

import torch

from convnet import create_model
from convnet.summary import summarize

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--data", default=os.environ.get("CONVNET_DATA"), help="dataset directory")
ARGS.add_argument("--baseline-epochs", type=int, default=10,
                  help="give the plain loop this many epochs to reach 99 %% (default: 10)")
ARGS.add_argument("--cifar-runs", nargs="+", metavar="RUNDIR",
                  help="finished `convnet train airbench94 --dataset cifar10 --seed S` runs: add "
                       "the CIFAR-10 94 %% row (benchmarks.cifar_record trains them: ~1 hour)")
ARGS.add_argument("--json", action="store_true", help="print the result as JSON")

GOALS = {  # name: (target, how to compare) -- the issues' goals (issue 16: round 2)
    "time to 99.0 % (s)": (2.5, "at most"),
    "speed-up vs plain loop": (10.0, "at least"),
    "training images/s": (35_000, "at least"),
    "evaluation vs inference, resnet20 (%)": (90.0, "at least"),
    "inference batch 256 (img/s)": (40_000, "at least"),
    "inference batch 1 (img/s)": (15_000, "at least"),
    "NumPy engine vs torch engine (x slower)": (3.0, "at most"),
    "GPU time to 99.0 % (s)": (0.5, "at most"),
    "CIFAR-10 mean accuracy, airbench94 (%)": (94.0, "at least"),
}


def measure(module: str, *args: str) -> dict:
    """``python -m benchmarks.MODULE ARGS --json`` in a fresh process; its JSON result."""
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows(args) -> tuple[list[dict], dict]:
    data = ["--data", args.data] if args.data else []
    ours = measure("train_speed", *data)
    plain = measure("peer_pytorch_mnist", *data, "--epochs", str(args.baseline_epochs))
    infer = measure("infer_speed")
    evaluation = measure("eval_speed", "--models", "resnet20")["images_per_second"]["resnet20"]
    numpy_run = measure("train_speed", *data, "--set", "engine=numpy", "--repeat", "1")
    engines = measure("numpy_engine_speed", "--models", "lenet5")["images_per_second"]["lenet5"]
    if not ours["reached"]:
        sys.exit(f"the default recipe did not reach 99.0 % ({ours['final_accuracy']:.2%})")
    # A baseline that never got there took longer than all its epochs: the ratio is a floor.
    base_s = plain["seconds"] if plain["reached"] else None
    out = [
        row("time to 99.0 % (s)", ours["seconds"], base_s or plain["seconds"],
            note=f"plain loop {'reached it' if base_s else 'did not reach it'} in "
                 f"{plain['epochs']} epochs; ours: {ours['epochs']} epochs, median of "
                 f"{', '.join(f'{t:.1f}' for t in ours['all_seconds'])} s"),
        row("speed-up vs plain loop", (base_s or plain["seconds"]) / ours["seconds"], 1.0,
            note="" if base_s else "a lower bound: the plain loop never reached 99 %"),
        row("training images/s", ours["images_per_second"], plain["images_per_second"]),
    ]
    for batch in ("256", "1"):
        r = infer["images_per_second"][batch]
        out.append(row(f"inference batch {batch} (img/s)", r["convnet"], r["torch eager"],
                       note=f"onnxruntime default session: {r['onnxruntime default']:,.0f}"))
    out.append(row("evaluation vs inference, resnet20 (%)",
                   100 * evaluation["convnet"] / evaluation["inference"], None,
                   note=f"test pass {evaluation['convnet']:,.0f} img/s (eager torch, as before: "
                        f"{evaluation['eager']:,.0f}), predict path {evaluation['inference']:,.0f}"))
    out.append(row("NumPy engine vs torch engine (x slower)",
                   numpy_run["total_seconds"] / ours["total_seconds"], 1.0,
                   note=f"`convnet train lenet5 --engine numpy`: {numpy_run['total_seconds']:.1f} s "
                        f"({numpy_run['final_accuracy']:.2%}) vs {ours['total_seconds']:.1f} s; "
                        f"training steps alone: {engines['numpy']:,.0f} vs {engines['torch']:,.0f} "
                        f"img/s"))
    if torch.cuda.is_available():
        gpu = measure("train_speed", *data, "--device", "cuda")
        out.append(row("GPU time to 99.0 % (s)", gpu["seconds"], None,
                       note=torch.cuda.get_device_name()))
    limit = measure("peak")
    out.append(row("machine peak bf16 / fp32 (GFLOP/s)", limit["bf16_gflops"],
                   limit["fp32_gflops"], note="2,048^3 matrix product, benchmarks.peak"))
    # A training image costs about 3 forward passes of multiply-adds (forward, and the
    # gradients of the inputs and of the weights), 2 FLOP each.
    flop = 6 * summarize(create_model("lenet5")).total_mult_adds
    out.append(row("LeNet-5 training, achieved GFLOP/s", flop * ours["images_per_second"] / 1e9,
                   limit["fp32_gflops"], note=f"{flop / 1e6:.2f} MFLOP per image; the ratio is "
                                              "the share of the fp32 peak"))
    if args.cifar_runs:
        cifar = measure("cifar_record", "--runs", *args.cifar_runs)
        out.append(row("CIFAR-10 mean accuracy, airbench94 (%)", 100 * cifar["mean_flip"], None,
                       note=f"{len(cifar['rows'])} seeds, test-time flips; slowest "
                            f"{cifar['max_minutes']:.1f} min of training (goal <= 20)"))
    memory = {"training": ours["peak_rss_mb"], "plain loop": plain["peak_rss_mb"],
              "inference": infer["peak_rss_mb"]}
    return out, {"recipe": ours["recipe"], "peak_rss_mb": memory,
                 "final_accuracy": ours["final_accuracy"]}


def row(goal: str, figure: float, baseline: float | None, note: str = "") -> dict:
    target, how = GOALS.get(goal, (None, None))
    met = None if target is None else (figure <= target if how == "at most" else figure >= target)
    ratio = None
    if baseline:
        ratio = baseline / figure if "(s)" in goal else figure / baseline
    return {"goal": goal, "figure": figure, "baseline": baseline, "ratio": ratio,
            "target": f"{how} {target:,g}" if target else "", "met": met, "note": note}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def table(out: list[dict], extra: dict) -> str:
    def fmt(v):
        return "" if v is None else f"{v:,.2f}" if v < 100 else f"{v:,.0f}"

    lines = ["| goal | convnet | baseline | ratio | target | met | note |",
             "|---|---:|---:|---:|---|---|---|"]
    for r in out:
        met = {True: "yes", False: "**NO**", None: ""}[r["met"]]
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else ""
        lines.append(f"| {r['goal']} | {fmt(r['figure'])} | {fmt(r['baseline'])} | {ratio} | "
                     f"{r['target']} | {met} | {r['note']} |")
    rss = ", ".join(f"{k} {v:,.0f} MB" for k, v in extra["peak_rss_mb"].items())
    return "\n".join([f"machine: {machine()}", "", *lines, "",
                      f"final test accuracy of the default recipe: {extra['final_accuracy']:.2%}",
                      f"recipe: {extra['recipe']}", f"peak RSS: {rss}"])


def main() -> None:
    args = ARGS.parse_args()
    out, extra = rows(args)
    if args.json:
        print(json.dumps({"machine": machine(), "rows": out, **extra}, indent=2))
    else:
        print(table(out, extra))
    missed = [r["goal"] for r in out if r["met"] is False]
    if missed:
        sys.exit(f"missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
