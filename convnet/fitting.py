"""``convnet.fit``: train from Python with the options, defaults and run folder of the CLI.

One call, as Keras's ``model.fit``: the model is a registered name, a spec line, a ``Network`` or
any ``torch.nn.Module`` mapping (N, C, H, W) images to (N, K) logits; the options are
``TrainConfig``'s fields (the CLI's flags, same names and defaults, recipes included); the
result is a ``TrainedRun``: its folder (``path``), the metrics rows (``history``), the trained
model, ``evaluate()`` and ``predict()``. ``convnet train MODEL`` is this call with the flags as
options.

A model object is trained in place. Its run folder is complete (run.json, metrics, weights), but
run.json can only name a ``Network``'s architecture (registry name or spec line); a module of
your own is recorded by its class, ``"module": "mypackage.MyNet"``, and the commands that
rebuild models from run.json (predict, evaluate, resume...) refuse such a run with one line.
Load it with your own class: ``net.load_state_dict(safetensors.torch.load_file(...))``.

Example (about a minute on a CPU; the README shows its output):
    >>> import convnet                                                  # doctest: +SKIP
    >>> run = convnet.fit("lenet5", dataset="mnist", epochs=1, val=0.1)  # doctest: +SKIP
    >>> run.history[-1]["val_accuracy"], run.evaluate().accuracy       # doctest: +SKIP
    (0.985, 0.9861)
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors.torch import load_file

from . import distributed, notebook, runs, train, validation
from .classifier import as_classifier, model_name
from .config import TrainConfig, check_config
from .errors import ConvnetError
from .evaluate import Evaluation, evaluate_model
from .models import Network
from .predict import Predictor

OPTIONS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("model", "dataset"))


@dataclass
class TrainedRun:
    """What ``fit`` returns: a finished run, in memory and on disk.

    Attributes:
        path (Path): the run directory (run.json, metrics.jsonl/.csv, weights).
        model (torch.nn.Module): the trained model, on the CPU, in eval mode; with ``val``,
            the weights of the epoch the validation split chose (also in best.safetensors).
        config (TrainConfig): the config that ran, the recipe's values filled in.
        result (dict): the delivered epoch's metrics (``validation.final``), as
            ``convnet train --json`` prints them.
        dataset (dict): run.json's ``dataset``: classes, mean/std, framing, sizes, checksums.
        input_shape (tuple): (C, H, W) the model takes.
    """

    path: Path
    model: torch.nn.Module
    config: TrainConfig
    result: dict
    dataset: dict
    input_shape: tuple

    @property
    def history(self) -> list[dict]:
        """The per-epoch metrics rows (metrics.jsonl): train/val/test loss and accuracy, lr."""
        return runs.read_metrics(self.path)

    @property
    def classifier(self) -> torch.nn.Module:
        """The model as ``evaluate``/``Predictor`` use it (``logits``, ``input_shape``)."""
        return as_classifier(self.model, self.input_shape)

    def evaluate(self, dataset: str | None = None, data_dir: str | None = None,
                 split: str = "test", flip: bool = False) -> Evaluation:
        """Accuracy, per-class precision/recall and the confusion matrix on ``split`` of the
        run's dataset (or of another with the same classes), as ``convnet evaluate``."""
        manifest = {"dataset": self.dataset, "config": asdict(self.config)}
        return evaluate_model(self.classifier, manifest, dataset, data_dir, split, flip=flip)

    def predictor(self, backend: str = "torch") -> Predictor:
        """A ``Predictor`` for this model with its training data's preprocessing."""
        ds = self.dataset
        return Predictor(self.classifier, ds["classes"], ds.get("framing"), ds["mean"],
                         ds["std"], backend)

    def predict(self, images, top: int = 5, invert: bool | None = None):
        """One image (path, PIL image or uint8 array) -> a Prediction; a list -> a list."""
        return self.predictor().predict(images, top=top, invert=invert)

    def __repr__(self) -> str:
        r = self.result
        if not r:
            return f"TrainedRun({str(self.path)!r})"
        return (f"TrainedRun({str(self.path)!r}, test_accuracy={r['test_accuracy']:.4f}, "
                f"epoch={r['epoch']})")

    def _repr_html_(self) -> str:
        """Jupyter shows the accuracy and loss curves and the delivered figures."""
        return notebook.run_html(self.path, self.history, self.result)


def fit(model: str | torch.nn.Module = "lenet5", dataset: str = "mnist",
        **options) -> TrainedRun:
    """Train ``model`` on ``dataset`` as ``convnet train`` does; the finished run.

    Args:
        model (str | torch.nn.Module): a registered name (``convnet.list_models()``), a spec
            line (``"conv6@5x5 relu maxpool2 fc10 softmax"``), a ``Network``, or any module
            mapping (N, C, H, W) images to (N, K) logits (trained in place). Default: "lenet5".
        dataset (str): mnist, fashion-mnist, cifar10, semeion or an image folder.
            Default: "mnist".
        **options: ``TrainConfig``'s fields, as the CLI's flags: ``epochs``, ``batch_size``,
            ``lr``, ``optimizer``, ``val`` (images or a fraction held out),
            ``early_stop``, ``tensorboard``, ``data_dir``, ``out``, ``seed``, ``progress``...
            Left out, each is the CLI's default (the recipe's, for recipe fields).

    Raises:
        TypeError: an option that is no ``TrainConfig`` field (the nearest is suggested).
        ConvnetError: any value ``convnet train`` refuses, with the same one line, before any
            file is written; SpecError: a module whose output does not fit the dataset.
    """
    check_options(options)
    module = None
    if isinstance(model, torch.nn.Module):
        module, model = model, model_name(model)
        if isinstance(module, Network) and module.spec and not getattr(module, "name", None):
            options.setdefault("input_shape", list(module.input_shape))  # rebuilt at this size
    elif not isinstance(model, str):
        raise ConvnetError(f"model must be a registered name, a spec line or a torch.nn.Module, "
                           f"got {type(model).__name__}")
    cfg = TrainConfig(model=model, dataset=dataset, **options)
    if cfg.distributed > 1 and distributed.world()[1] == 1:
        return launched(cfg, module)
    run = train.start(cfg, module)
    if cfg.progress and run.rank == 0:
        print(f"training {model} on {run.cfg.dataset} -> {run.rundir}", file=sys.stderr)
    result = train.fit(run)
    if run.rank == 0:
        restore_chosen(run.model, run.rundir, result)
    return TrainedRun(run.rundir, run.model.cpu().eval(), run.cfg, result, run.data.info,
                      run.input_shape)


def check_options(options: dict) -> None:
    """Refuse an option that is not a ``TrainConfig`` field, suggesting the nearest one."""
    for name in options:
        if name not in OPTIONS:
            near = difflib.get_close_matches(name, OPTIONS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; options: {', '.join(OPTIONS)}"
            raise TypeError(f"fit() got an unknown option {name!r}{hint}")


def launched(cfg: TrainConfig, module: torch.nn.Module | None) -> TrainedRun:
    """``distributed=N`` from one process: N spawned ranks train a named or spec model; the
    run is then read back from its folder (a module object cannot travel to the ranks)."""
    if module is not None:
        raise ConvnetError("distributed=N trains a registered name or a spec line; to train a "
                           "model object on N processes, run your script under torchrun")
    check_config(cfg)  # start() checks too, but only inside the spawned ranks
    result = distributed.launch(train.train_config, cfg, cfg.distributed)
    model, manifest = runs.load_model(Path(result["rundir"]))
    restore_chosen(model, Path(result["rundir"]), result)
    saved = TrainConfig(**manifest["config"])
    return TrainedRun(Path(result["rundir"]), model.eval(), saved, result, manifest["dataset"],
                      tuple(manifest["model"]["input_shape"]))


def restore_chosen(model: torch.nn.Module, rundir: Path, result: dict) -> None:
    """With a validation split, put the chosen epoch's weights (best.safetensors) into
    ``model``, which holds the last epoch's (as ``model.safetensors`` does, for resume)."""
    if result.get("chosen_by") and result["epoch"] != result["epochs_run"]:
        model.load_state_dict(load_file(Path(rundir) / validation.BEST))
