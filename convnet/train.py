"""Training by backpropagation: forward pass, error, gradients of every weight, update; repeat.

``fit(start(TrainConfig(...)))`` reads top to bottom: load the data once as tensors, build the
model, then for each epoch shuffle by index, step through batches, evaluate on the validation
split (``--val``, convnet/validation.py) and the test split, and write metrics (convnet/logs.py)
and an atomic checkpoint. The default recipe (Adam, one-cycle learning rate, label smoothing,
small random shifts) reaches >= 99 % on MNIST with LeNet-5; see the README. ``convnet.fit``
(convnet/fitting.py) is the Python front door to the same two calls.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import distributed, finetune, logs, recipes, runs, validation
from .allocator import keep_freed_memory
from .classifier import as_classifier, describe, given_model
from .config import TrainConfig, check_config
from .data.loader import random_flip, random_shift
from .descent import (epoch_generator, init_from_data, learning_rate, loss_fn, make_optimizer,
                      torch_step)
from .errors import ConvnetError, RunError, SpecError, TrainingError
from .evaluate import split_scores
from .models import Network
from .numpy_engine.trainer import NumpyTrainer
from .registry import check_model_or_spec, create_model, list_models
from .runs import live
from .splits import Data, Split, load_data, read_splits


def resolve_device(name: str) -> torch.device:
    """The device of ``--device`` (a name check_config accepted), if this machine has it."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConvnetError("--device cuda: no CUDA GPU is available here (try --device cpu)")
    return torch.device(name)


def build_model(cfg: TrainConfig, in_chans: int, num_classes: int, shape: tuple) -> Network:
    """A registered model by name, or a spec line built for the data's (or --input) shape."""
    torch.manual_seed(cfg.seed)  # the initial weights depend on the seed only
    if cfg.model in list_models():
        return create_model(cfg.model, num_classes=num_classes, in_chans=in_chans)
    input_shape = tuple(cfg.input_shape or shape)
    net = Network.from_spec(cfg.model, input_shape)
    if net.num_classes != num_classes:
        raise SpecError(f"the spec ends with {net.num_classes} outputs but {cfg.dataset} has "
                        f"{num_classes} classes; end it with fc{num_classes} softmax")
    return net


def resolve_precision(cfg: TrainConfig, device: torch.device) -> TrainConfig:
    """``precision="auto"`` made concrete for ``device`` (run.json records what ran)."""
    if cfg.precision != "auto":
        return cfg
    return replace(cfg, precision="bf16" if device.type == "cuda" else "fp32")


def place(cfg: TrainConfig, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model on its device, in the memory layout the torch engine trains fastest in."""
    model = model.to(device)
    if cfg.channels_last and cfg.engine == "torch":
        model = model.to(memory_format=torch.channels_last)
    return model


def numpy_trainer(cfg: TrainConfig, model: Network, opt: torch.optim.Optimizer):
    """The NumPy engine's stepper for --engine numpy, None for torch."""
    return NumpyTrainer(cfg, model, opt) if cfg.engine == "numpy" else None


def evaluate_split(cfg: TrainConfig, model: torch.nn.Module, split: Split, flip: bool = False
                   ) -> tuple[float, float, float | None]:
    """(mean loss, accuracy, flip accuracy) over a whole split, in eval mode, in fp32, at the
    inference path's speed (``evaluate.split_scores``).

    The flip accuracy (None unless ``flip``) classifies each image by the mean of its own and
    its mirror image's probabilities (test-time augmentation, for runs trained with flips).
    """
    model = as_classifier(model, tuple(split.x.shape[1:]))
    logits, flip_scores = split_scores(model, split.x, flip)
    loss = loss_fn(cfg, logits.float(), split.y).item()
    n = len(split.y)
    accuracy = (logits.argmax(dim=1) == split.y).sum().item() / n
    if flip_scores is None:
        return loss, accuracy, None
    return loss, accuracy, (flip_scores.argmax(dim=1) == split.y).sum().item() / n


@dataclass
class Run:
    """Everything the loop needs: where it writes, what it trains, and on what."""

    cfg: TrainConfig
    rundir: Path
    model: torch.nn.Module  # a Network, or any module mapping images to logits
    optimizer: torch.optim.Optimizer
    data: Data
    device: torch.device
    start_epoch: int = 0  # epochs already done (resume)
    rank: int = 0         # this process among the DDP ranks; only rank 0 writes files
    recipe: dict = field(default_factory=dict)  # {recipe field: where its value came from}
    lock: runs.RunLock | None = None  # rank 0's hold on rundir until fit() ends
    init: dict = field(default_factory=dict)  # --init/--freeze: copied, adapted, frozen

    def __post_init__(self):
        self.input_shape = tuple(self.data.train.x.shape[1:])  # what the model is fed
        net = as_classifier(self.model, self.input_shape)
        self.forward = distributed.wrap(net, self.device)  # images -> logits


def new_rundir(cfg: TrainConfig, model: torch.nn.Module | None = None
               ) -> tuple[Path, runs.RunLock]:
    """--out (never replacing a run with a checkpoint), else the first free
    runs/<model>-<data>[-k]; made and locked for this process (``runs.claim_rundir``)."""
    if cfg.out:
        return runs.claim_rundir(Path(cfg.out))
    base = (type(model).__name__.lower() if model is not None and not isinstance(model, Network)
            else cfg.model if cfg.model in list_models() else "spec")
    return runs.claim_rundir(Path(f"runs/{base}-{Path(cfg.dataset).name}"), numbered=True)


def start(cfg: TrainConfig, model: torch.nn.Module | None = None) -> Run:
    """A fresh run: data, model (seeded init, or ``model`` as given: a ``Network`` or any module
    mapping images to logits, trained in place), optimizer, then its locked folder and manifest.

    The whole config is checked before any data is read and again, with the recipe filled in,
    before any file is written.
    """
    rank, ranks = distributed.world()
    cfg = replace(cfg, distributed=ranks) if ranks > 1 else cfg  # torchrun's world, recorded
    check_config(cfg)
    device = resolve_device(cfg.device)
    if cfg.tensorboard and rank == 0:
        logs.require_tensorboard()
    if model is None:
        check_model_or_spec(cfg.model)  # before any data is loaded (or downloaded)
    if ranks > 1:
        device = distributed.setup(device)
    splits = read_splits(cfg)
    shape = tuple(splits[0].images.shape[1:])
    cfg, run_recipe = recipes.resolve(cfg, recipes.kind_of(cfg.dataset, shape[0]))
    check_config(cfg)  # the recipe's values too (a model's recipe may be wrong)
    cfg = resolve_precision(cfg, device)
    classes = len(splits[0].classes)
    if model is None:
        model = build_model(cfg, shape[0], classes, shape)
    else:
        shape = tuple(cfg.input_shape or shape)
        model = given_model(model, getattr(model, "input_shape", shape), classes, cfg.dataset)
    data = load_data(cfg, getattr(model, "input_shape", shape), device, splits=splits)
    init_from_data(model, data.train.x)
    init = finetune.prepare(cfg, model, data.classes)  # --init, --freeze ({} without)
    model = place(cfg, model, device)
    rundir, lock = new_rundir(cfg, model) if rank == 0 else (Path(cfg.out or "."), None)
    with runs.released_on_error(lock):
        run = Run(cfg, rundir, model, make_optimizer(cfg, model), data, device, rank=rank,
                  recipe=run_recipe, lock=lock, init=init)
        if rank == 0:
            runs.write_json(rundir / runs.MANIFEST, manifest(run, status="running"))
    return run


def from_manifest(path: str | Path, out: str | None = None, progress: bool = True,
                  **overrides) -> Run:
    """A fresh run repeating the config of a manifest (RUNDIR/run.json, or RUNDIR itself).

    Same seed, data and recipe: on the same device and versions the weights come out identical.
    ``out`` is the new run directory (default: the next free runs/<model>-<dataset>[-k]);
    ``overrides`` replace config fields (e.g. ``data_dir`` if the data has moved).
    """
    path = Path(path)
    if not path.is_dir() and path.name != runs.MANIFEST:
        raise RunError(f"--from-manifest {path}: expected a run directory or its {runs.MANIFEST}")
    saved = runs.read_manifest(path if path.is_dir() else path.parent)
    config = dict(saved.get("config") or {})
    unknown = sorted(set(config) - {f.name for f in fields(TrainConfig)})
    if unknown or not config:
        raise RunError(f"{path}: config not understood by this version (unknown {unknown})")
    cfg = TrainConfig(**{**config, **overrides, "out": out, "progress": progress})
    run = start(cfg)
    if run.data.info["files"] != saved["dataset"].get("files"):
        warnings.warn(f"the dataset files differ from those of {path} (checksums); "
                      "the repeated run will not be identical")
    return run


def resume(rundir: str | Path, epochs: int | None = None, progress: bool = True,
           **flags) -> Run:
    """Reopen a run at its last checkpoint (a run killed before one: at its seeded start),
    locked for this process. ``epochs`` may extend it; of the other config fields given again,
    only ``data_dir`` (same bytes) and ``device`` may differ (``runs.check_resume_flags``).
    A run with ``--val`` holds out the same images again (they depend on the seed only)."""
    rundir = Path(rundir)
    if distributed.world()[1] > 1:
        raise ConvnetError("--resume runs in one process; start it without torchrun (the global "
                           "batch, and so the maths, stay the same)")
    runs.read_manifest(rundir)  # a run directory, before a lock file is made in it
    with runs.released_on_error(runs.RunLock(rundir)) as lock:  # every check, then writes
        saved = runs.read_manifest(rundir)
        changes = runs.check_resume_flags(rundir, saved["config"], flags)
        cfg = TrainConfig(**{**saved["config"], **changes, "progress": progress})
        cfg = cfg if epochs is None else replace(cfg, epochs=epochs)
        channels = saved["model"]["input_shape"][0]  # old runs lack fields: their recipe's
        cfg, recipe = recipes.resolve(cfg, recipes.kind_of(cfg.dataset, channels))
        check_config(cfg)
        device = resolve_device(cfg.device)
        if cfg.tensorboard:
            logs.require_tensorboard()
        cfg = resolve_precision(cfg, device)
        torch.manual_seed(cfg.seed)  # start()'s initial weights, if there is no checkpoint
        model = place(cfg, runs.build_model(saved["model"]), device)
        optim_state, meta = runs.restore(rundir, model, cfg.epochs)
        init = finetune.reopen(cfg, model, meta, saved)  # --freeze again; --init if no checkpoint
        stats = (saved["dataset"]["mean"], saved["dataset"]["std"])
        data = load_data(cfg, model.input_shape, device, stats)
        runs.check_same_data(rundir, saved["dataset"].get("files"), data.info["files"])
        optimizer = make_optimizer(cfg, model)
        runs.load_optimizer(optimizer, optim_state)
        done = int(meta.get("epoch", 0))
        runs.reconcile_metrics(rundir, done, meta)  # rows past the checkpoint are replayed
        logs.write_csv(rundir, runs.read_metrics(rundir))
        return Run(cfg, rundir, model, optimizer, data, device, done,
                   recipe=saved.get("recipe") or recipe, lock=lock, init=init)


def manifest(run: Run, status: str, final: dict | None = None) -> dict:
    return {"format": runs.FORMAT, "status": status,
            "model": describe(run.model, run.input_shape, len(run.data.classes)),
            "dataset": run.data.info, "config": asdict(run.cfg), "recipe": run.recipe,
            "seed": run.cfg.seed,
            "device": str(run.device), "threads": torch.get_num_threads(),
            "versions": runs.versions(), "final": final or {},
            **({"init": run.init} if run.init else {})}


def diverged(run: Run, epoch: int, step: int, value: float) -> None:
    """Mark the run failed and stop with one line naming the step and the last good weights."""
    runs.write_json(run.rundir / runs.MANIFEST, manifest(run, "failed"))
    last = (f"last good checkpoint: {run.rundir / runs.WEIGHTS} (epoch {epoch})" if epoch
            else "no checkpoint was written yet")
    raise TrainingError(f"loss became {value} at epoch {epoch + 1} step {step + 1}; {last}; "
                        f"try a lower --lr than {run.cfg.lr:g}")


def train_config(cfg: TrainConfig) -> dict:
    """A fresh run of ``cfg``, trained to the end: what every rank of ``--distributed N`` runs."""
    return fit(start(cfg))


def fit(run: Run) -> dict:
    """Train ``run`` to its last epoch (or until ``--early-stop``); what it delivers
    (``validation.final``: rank 0) after writing run.json; the run's lock is released at the
    end, also after an error or Ctrl-C."""
    threads = torch.get_num_threads()
    keep_freed_memory()  # each step reuses the last one's memory, not new pages (allocator.py)
    board = (logs.TensorBoard(run.cfg.tensorboard, run.start_epoch)
             if run.cfg.tensorboard and run.rank == 0 else None)
    try:
        numpy_engine = numpy_trainer(run.cfg, run.model, run.optimizer)  # None: torch autograd
        if numpy_engine:  # torch only slices and shifts batches then; its idle threads,
            torch.set_num_threads(1)  # spinning, would fight NumPy's BLAS threads (1.57x slower)
        train_epochs(run, numpy_engine, board)
        if run.rank:
            return {}
        history = runs.read_metrics(run.rundir)
        final = validation.final(history, run.cfg.epochs) if history else {}
        runs.write_json(run.rundir / runs.MANIFEST, manifest(run, "finished", final))
        return {"rundir": str(run.rundir), **final}
    finally:
        torch.set_num_threads(threads)  # the caller's setting is theirs
        if board:
            board.close()
        if run.lock:
            run.lock.release()


def flip_note(row: dict) -> str:
    """' (with flips 91.68 %)' for a row that has a flip accuracy, else ''."""
    flip = row.get("test_accuracy_flip")
    return "" if flip is None else f" (with flips {flip:.2%})"


def end_epoch(run: Run, history: list[dict], row: dict, seconds: float, lr: float,
              board: logs.TensorBoard | None) -> bool:
    """Complete the epoch's ``row`` (train metrics) with the validation and test metrics, then
    write the epoch: best weights, checkpoint, metrics (jsonl, csv), TensorBoard and the
    progress line. Whether to stop early. Rank 0 only."""
    cfg, model = run.cfg, run.model
    if run.data.val is not None:
        row["val_loss"], row["val_accuracy"], _ = evaluate_split(cfg, model, run.data.val)
    row["test_loss"], row["test_accuracy"], flip_acc = evaluate_split(
        cfg, model, run.data.test, flip=cfg.flip)
    row["seconds"], row["lr"] = round(seconds, 3), lr
    if flip_acc is not None:  # a run trained on mirror images: also judged with them
        row["test_accuracy_flip"] = flip_acc
    history.append(row)
    if run.data.val is not None and validation.best_row(history) is row:
        validation.save_best(run.rundir, model, row)  # before the checkpoint that carries row
    # The checkpoint carries its row: if the metrics write fails (full disk, kill),
    # resume puts the row back (runs.reconcile_metrics) instead of losing the epoch.
    runs.save_checkpoint(run.rundir, model, run.optimizer, {"epoch": row["epoch"], "metrics": row})
    runs.append_metrics(run.rundir, row)
    logs.write_csv(run.rundir, history)
    if board:
        board.log_epoch(row, model)
    if cfg.progress:
        val = (f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.2%}  "
               if "val_loss" in row else "")
        tqdm.write(f"epoch {row['epoch']}/{cfg.epochs}  train loss {row['train_loss']:.4f} "
                   f"acc {row['train_accuracy']:.2%}  {val}test loss {row['test_loss']:.4f} "
                   f"acc {row['test_accuracy']:.2%}{flip_note(row)}  {row['seconds']:.1f} s",
                   file=sys.stderr)  # progress, as tqdm's bar: stdout is the caller's
    return validation.should_stop(history, cfg.early_stop)


def train_epochs(run: Run, numpy_engine: NumpyTrainer | None,
                 board: logs.TensorBoard | None = None) -> None:
    """The training loop: per epoch shuffle, forward, error, backward, update; then evaluate
    and write the epoch (``end_epoch``), stopping early when it says so."""
    cfg, model, opt, train = run.cfg, run.model, run.optimizer, run.data.train
    n, bs = len(train.y), cfg.batch_size
    steps = math.ceil(n / bs)
    total = cfg.epochs * steps
    mean, std = run.data.info["mean"], run.data.info["std"]
    fill = torch.tensor([-m / s for m, s in zip(mean, std)], device=run.device).view(1, -1, 1, 1)
    history = runs.read_metrics(run.rundir) if run.rank == 0 else []
    seconds = history[-1]["seconds"] if history else 0.0
    check_every = 1 if run.device.type == "cpu" else 50  # .item() syncs a GPU: check less often
    if validation.should_stop(history, cfg.early_stop):  # resumed after stopping early
        return
    watch = live.Watch(run, steps, numpy_engine)  # live.jsonl, --snapshots, the page's pause
    for epoch in range(run.start_epoch, cfg.epochs):
        gen = epoch_generator(cfg, epoch)
        perm = torch.randperm(n, generator=gen).to(run.device)
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=run.device)
        correct = torch.zeros((), device=run.device, dtype=torch.long)
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress or run.rank > 0, mininterval=0.5)
        for i in bar:
            idx = perm[i * bs:(i + 1) * bs]
            x, y = random_shift(train.x[idx], cfg.shift, gen, fill), train.y[idx]
            if cfg.flip:
                x = random_flip(x, gen)
            x, y, weight = distributed.shard(x, y)  # this rank's slice (all of it on one rank)
            lr = learning_rate(cfg, epoch * steps + i, total)
            loss, logits = (numpy_engine.step(x, y, lr) if numpy_engine
                            else torch_step(cfg, run.forward, opt, x, y, lr, weight))
            batch_loss, batch_correct = loss * len(y), (logits.argmax(dim=1) == y).sum()
            watch.step(epoch * steps + i + 1, batch_loss, batch_correct, len(y))
            if (i + 1) % check_every == 0 and not math.isfinite(distributed.total(loss)[0]):
                diverged(run, epoch, i, loss.item())
            loss_sum += batch_loss
            correct += batch_correct
            if (i + 1) % 50 == 0:
                bar.set_postfix(loss=f"{loss_sum.item() / min(n, (i + 1) * bs):.4f}")
        seconds += time.perf_counter() - t0
        if numpy_engine:  # weights and moments back into torch for evaluation and checkpoint
            numpy_engine.sync()
        loss_sum, correct = distributed.total(loss_sum, correct)
        row = {"epoch": epoch + 1, "train_loss": loss_sum.item() / n,
               "train_accuracy": correct.item() / n}
        lr = learning_rate(cfg, (epoch + 1) * steps - 1, total)
        stop = end_epoch(run, history, row, seconds, lr, board) if run.rank == 0 else False
        if cfg.early_stop and distributed.total(torch.tensor(float(stop), device=run.device))[0]:
            break  # every rank stops where rank 0 did
