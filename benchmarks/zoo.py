"""Train every small zoo model on MNIST, Fashion-MNIST and CIFAR-10; one table of accuracy and time.

    python -m benchmarks.zoo --data ../shared/datasets              # MNIST + Fashion (about 1.5 h)
    python -m benchmarks.zoo --datasets cifar10 --jobs 2 --threads 1  # CIFAR-10, default recipes
    python -m benchmarks.zoo --only resnet20 --datasets mnist       # one row
    python -m benchmarks.zoo --table                                # print the recorded table

On MNIST and Fashion-MNIST every row spells out one shared recipe; on CIFAR-10 every row is the
bare default command (``convnet train MODEL --dataset cifar10``), i.e. each model's own recipe
(convnet/recipes.py), so the table is what a user gets without a flag.

Each row is one `convnet train` command, run as its own process and printed in the table, so a
reader can repeat any figure exactly. Results go to ``docs/zoo.jsonl`` one line per run as each
finishes (an interrupted sweep resumes where it stopped; ``--fresh`` starts over). Training time
is the trainer's own clock (forward, backward and update; data loading and the per-epoch test
evaluation are left out). ``--threads`` sets the torch threads of every run; on a machine shared
with other work, pin the sweep to its own cores (``taskset -c 0 ... --threads 1``) so that the
times stay comparable with each other.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from convnet import create_model
from convnet.summary import summarize

# (model, epochs on MNIST, epochs on Fashion-MNIST). The epochs are the fewest we could afford on
# 2 CPU cores; lenet5 runs the same flags as the reference every small model is compared with.
PLAN = [
    ("resnet20", 3, 6),
    ("lenet5", 6, 6),
    ("tinyvgg", 6, 6),
    ("googlenet-small", 2, 3),
    ("vgg11-small", 2, 3),
    ("densenet-small", 2, 3),
    ("alexnet-small", 2, 3),
    ("zfnet-small", 2, 3),
]
# One recipe for every row, spelled out so that the commands do not depend on the defaults
# (which are tuned for lenet5's time to 99 %). bf16 autocast: 1.7x faster here on these models.
FLAGS = ["--batch-size", "128", "--lr", "0.003", "--shift", "2", "--precision", "bf16"]
RESULTS = Path("docs/zoo.jsonl")
# CIFAR-10: the architecture history in order, each with its default recipe.
PLAN_CIFAR = ["lenet5", "seed4", "alexnet-small", "zfnet-small", "vgg11-small",
              "googlenet-small", "resnet20", "densenet-small", "tinyvgg"]

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--data", default=os.environ.get("CONVNET_DATA"), help="dataset directory")
ARGS.add_argument("--only", nargs="+", help="models to run (default: the whole plan)")
ARGS.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
ARGS.add_argument("--threads", type=int, default=torch.get_num_threads())
ARGS.add_argument("--results", type=Path, default=RESULTS)
ARGS.add_argument("--fresh", action="store_true", help="forget earlier results")
ARGS.add_argument("--jobs", type=int, default=1, help="runs at a time (pin each to a core with "
                  "--threads 1)")
ARGS.add_argument("--table", action="store_true", help="only print the recorded table")


def command(model: str, dataset: str, epochs: int, out: Path) -> list[str]:
    if dataset == "cifar10":  # the default recipe: no flag but where the run goes
        return ["convnet", "train", model, "--dataset", dataset, "--out", str(out), "--quiet",
                "--json"]
    return ["convnet", "train", model, "--dataset", dataset, "--epochs", str(epochs), *FLAGS,
            "--out", str(out), "--quiet", "--json"]


def recipe_epochs(model: str, dataset: str) -> int:
    """The epochs of ``model``'s default recipe on ``dataset``."""
    from convnet.config import TrainConfig
    from convnet.recipes import kind_of, resolve

    return resolve(TrainConfig(model=model, dataset=dataset), kind_of(dataset, 3))[0].epochs


def train_one(model: str, dataset: str, epochs: int, args) -> dict:
    """Run one `convnet train` in its own process; its final metrics plus the model's size."""
    out = Path("runs/zoo") / f"{model}-{dataset}"
    cmd = command(model, dataset, epochs, out)
    wall = None
    if finished(out, epochs) is None:  # else: trained already (a sweep stopped while recording)
        shutil.rmtree(out, ignore_errors=True)  # a run cut short by an interrupted sweep
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        if args.data:
            env["CONVNET_DATA"] = args.data
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "convnet", *cmd[1:]], env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        wall = round(time.perf_counter() - start, 1)
    final = finished(out, epochs)
    manifest = json.loads((out / "run.json").read_text())
    s = summarize(create_model(model, in_chans=3 if dataset == "cifar10" else 1))
    return {"model": model, "dataset": dataset, "epochs": epochs, "params": s.total_params,
            "mult_adds": s.total_mult_adds, "test_accuracy": final["test_accuracy"],
            "train_seconds": final["seconds"], "wall_seconds": wall,
            "threads": manifest.get("threads", args.threads), "command": shlex.join(cmd),
            "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}"}


def finished(rundir: Path, epochs: int) -> dict | None:
    """The final metrics of a finished run of ``epochs`` epochs in ``rundir``, else None."""
    try:
        manifest = json.loads((rundir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    done = manifest.get("status") == "finished" and manifest["config"]["epochs"] == epochs
    return manifest["final"] if done else None


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def table(rows: list[dict]) -> str:
    """Markdown: one line per run, MNIST then Fashion-MNIST, in plan order."""
    order = {name: i for i, (name, *_) in enumerate(PLAN)}
    order_cifar = {name: i for i, name in enumerate(PLAN_CIFAR)}
    datasets = {"mnist": 0, "fashion-mnist": 1, "cifar10": 2}
    rows = sorted(rows, key=lambda r: (datasets.get(r["dataset"], 9), (
        order_cifar if r["dataset"] == "cifar10" else order).get(r["model"], 99)))
    out = [("| dataset | model | params | mult-adds | epochs | test accuracy | training time "
            "| threads | command |"), "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r['dataset']} | `{r['model']}` | {r['params']:,} | "
                   f"{r['mult_adds'] / 1e6:.1f} M | {r['epochs']} | {r['test_accuracy']:.2%} | "
                   f"{r['train_seconds'] / 60:.1f} min | {r['threads']} | `{r['command']}` |")
    return "\n".join(out)


def main() -> None:
    args = ARGS.parse_args()
    if args.table:
        print(table(read(args.results)))
        return
    if args.fresh and args.results.exists():
        args.results.unlink()
    done = {(r["model"], r["dataset"]) for r in read(args.results)}
    todo = []
    for dataset in args.datasets:
        for model, mnist_epochs, fashion_epochs in (
                [(m, None, None) for m in PLAN_CIFAR] if dataset == "cifar10" else PLAN):
            if (args.only and model not in args.only) or (model, dataset) in done:
                continue
            epochs = (recipe_epochs(model, dataset) if dataset == "cifar10" else
                      mnist_epochs if dataset == "mnist" else fashion_epochs)
            todo.append((model, dataset, epochs))

    def one(job: tuple) -> None:
        model, dataset, epochs = job
        print(f"training {model} on {dataset} for {epochs} epochs ...", flush=True)
        row = train_one(model, dataset, epochs, args)
        print(f"  {model} on {dataset}: {row['test_accuracy']:.2%} in "
              f"{row['train_seconds']:.0f} s", flush=True)
        with args.results.open("a") as f:  # one short append per finished row
            f.write(json.dumps(row) + "\n")

    # Longest first, so that parallel jobs end together (1-thread minutes on this CPU, measured).
    cost = {"zfnet-small": 9, "densenet-small": 8, "googlenet-small": 7, "alexnet-small": 6,
            "vgg11-small": 5, "resnet20": 4, "seed4": 3, "tinyvgg": 2, "lenet5": 1}
    todo.sort(key=lambda job: -cost.get(job[0], 0))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, todo))  # re-raises the first failure
    print(table(read(args.results)))


if __name__ == "__main__":
    main()
