"""Fine-tuning: start a run from another run's weights (``--init RUNDIR``) and, with
``--freeze features``, train only the head.

The other run's delivered weights (its best.safetensors when a validation split chose an epoch,
else model.safetensors) are copied into the new model, which must have the same architecture.
Two differences are bridged, and run.json's ``init`` records how:

- **other classes**: the head's last fully connected layer keeps its fresh, seeded
  initialisation when the new dataset's classes (names, in order) are not the run's;
- **other channels**: the first convolution's filters are adapted when one run saw grey images
  and the other colour ones. RGB filters are summed to one grey filter: a grey image given to
  the RGB network as R = G = B gives the same response. A grey filter is repeated to 3
  channels and divided by 3: an RGB image of a grey one gives the grey network's response.

Anything else that differs (another model, a layer of another size) is refused with one line
(``RunError``, exit 7) before the new run's folder is made.

``--freeze features`` stops the gradient of every weight in ``model.features`` and keeps its
batch-norm layers in inference mode (their running statistics are the source run's, and a
60-image batch's statistics would replace them by noise), so that only ``model.head`` learns.

Example:
    >>> rgb = torch.ones(16, 3, 3, 3)            # 16 filters over R, G, B
    >>> grey, how = adapt_channels(rgb, 1)
    >>> grey.shape, grey[0, 0, 0, 0].item(), how
    (torch.Size([16, 1, 3, 3]), 3.0, 'RGB filters summed to 1 channel')
    >>> back, how = adapt_channels(grey, 3)
    >>> back.shape, back[0, 2, 0, 0].item()
    (torch.Size([16, 3, 3, 3]), 1.0)
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import runs
from .config import TrainConfig
from .errors import ConvnetError, RunError
from .models import Network


def adapt_channels(weight: torch.Tensor, channels: int) -> tuple[torch.Tensor, str]:
    """A first convolution's filters for ``channels`` input channels: (weight, what was done).

    Shape:
        (F, 3, kH, kW) -> (F, 1, kH, kW): summed over the colour channels;
        (F, 1, kH, kW) -> (F, 3, kH, kW): repeated, divided by 3.

    Raises:
        RunError: any other pair of channel counts (nothing sensible to map).
    """
    have = weight.shape[1]
    if (have, channels) == (3, 1):
        return weight.sum(dim=1, keepdim=True), "RGB filters summed to 1 channel"
    if (have, channels) == (1, 3):
        return weight.repeat(1, 3, 1, 1) / 3, "grey filters repeated to 3 channels, divided by 3"
    raise RunError(f"--init: the first convolution takes {have} channels and this run's images "
                   f"have {channels}; only 1 <-> 3 (grey <-> RGB) can be adapted")


def first_conv(model: Network) -> str:
    """The state_dict key of the first convolution's filters (the first 4-D weight)."""
    return next(k for k, v in model.state_dict().items()
                if k.startswith("features.") and k.endswith("weight") and v.dim() == 4)


def last_layer(model: Network) -> tuple[str, ...]:
    """The state_dict keys of the head's last layer with weights (the classifier)."""
    name = [n for n, m in model.head.named_modules() if getattr(m, "weight", None) is not None][-1]
    return tuple(k for k in model.state_dict() if k.startswith(f"head.{name}."))


def source_run(init: str | Path) -> tuple[Network, dict]:
    """The run ``--init`` names, loaded (its chosen weights), with its manifest."""
    path = Path(init)
    if not (path / runs.MANIFEST).is_file():
        raise RunError(f"--init {path}: not a run directory (no {runs.MANIFEST}); give the "
                       "folder of a finished convnet train run")
    return runs.load_model(path)


def check_same_model(init: str, source: dict, model: Network) -> None:
    """One line when the source run trained another architecture than ``model``."""
    theirs = source.get("name") or source.get("spec")
    ours = getattr(model, "name", None) or model.spec
    if source.get("name") and getattr(model, "name", None) and source["name"] != model.name:
        raise RunError(f"--init {init}: that run trained {theirs}, this one trains {ours}; "
                       f"--init needs the same architecture (train {theirs}, or leave out --init)")


def init_weights(model: Network, init: str, classes: list[str]) -> dict:
    """Copy the weights of the run ``init`` into ``model`` (adapting the first convolution's
    channels, re-making the head for other classes); what was done, for run.json.

    Raises:
        RunError: ``init`` is no usable run, or trained another architecture (one line naming
            the first tensor that differs).
    """
    source, manifest = source_run(init)
    check_same_model(init, manifest["model"], model)
    theirs, ours = source.state_dict(), model.state_dict()
    if theirs.keys() != ours.keys():
        extra = min(theirs.keys() ^ ours.keys())
        raise RunError(f"--init {init}: another architecture ({extra} is in only one of the "
                       "two models); --init needs the same one")
    new_classes = list(manifest["dataset"]["classes"]) != list(classes)
    skip = set(last_layer(model)) if new_classes else set()
    conv, record = first_conv(model), {"run": str(init), **manifest["weights"]}
    for key, value in theirs.items():
        if key in skip:
            continue
        if key == conv and value.shape[1] != ours[key].shape[1]:
            value, record["first_conv"] = adapt_channels(value, ours[key].shape[1])
        if value.shape != ours[key].shape:
            raise RunError(f"--init {init}: its {key} is {tuple(value.shape)} but this model's "
                           f"is {tuple(ours[key].shape)}: another architecture or input size")
        ours[key] = value
    model.load_state_dict(ours)
    record["head"] = (f"re-made for {len(classes)} classes (the run had "
                      f"{len(manifest['dataset']['classes'])})" if new_classes else "kept")
    return record


def _stay_in_eval(module: torch.nn.Module, args) -> None:
    module.training = False  # a frozen batch norm uses, and keeps, the source's statistics


def freeze(model: Network, part: str = "features") -> dict:
    """Stop the gradients of ``model.<part>`` (and keep its batch norms in inference mode);
    the parameter counts, for run.json and the summary line."""
    for p in getattr(model, part).parameters():
        p.requires_grad_(False)
    for m in getattr(model, part).modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.register_forward_pre_hook(_stay_in_eval)
    params = list(model.parameters())
    trained = sum(p.numel() for p in params if p.requires_grad)
    return {"frozen": part, "frozen_params": sum(p.numel() for p in params) - trained,
            "trained_params": trained}


def prepare(cfg: TrainConfig, model: torch.nn.Module, classes: list[str]) -> dict:
    """``--init`` and ``--freeze`` applied to a new run's model ({} without them): what
    run.json records as ``init``."""
    if not (cfg.init or cfg.freeze):
        return {}
    if not isinstance(model, Network):
        raise ConvnetError("--init and --freeze need a convnet model (a registered name, a spec "
                           f"line or a Network), got a {type(model).__name__}")
    record = init_weights(model, cfg.init, classes)
    return {**record, **(freeze(model, cfg.freeze) if cfg.freeze else {})}


def reopen(cfg: TrainConfig, model: torch.nn.Module, checkpoint: dict, saved: dict) -> dict:
    """``prepare`` for a resumed run: the --init weights again only when it stopped before its
    first checkpoint (``checkpoint``: that checkpoint's meta, {} for none); run.json's record."""
    if not (cfg.init or cfg.freeze):
        return {}
    if not checkpoint:
        return prepare(cfg, model, saved["dataset"]["classes"])
    if cfg.freeze:
        freeze(model, cfg.freeze)
    return saved.get("init") or {"run": cfg.init}


def note(record: dict) -> str:
    """What the summary line adds for a fine-tuned run.

    Example:
        >>> note({"run": "runs/r20", "file": "model.safetensors", "epoch": 26, "head":
        ...       "re-made for 3 classes (the run had 10)", "frozen": "features",
        ...       "frozen_params": 270000, "trained_params": 195})
        'started from runs/r20 (model.safetensors, epoch 26), head re-made for 3 classes (the \
run had 10); features frozen: 195 of 270,195 parameters trained'
    """
    if not record:
        return ""
    parts = [f"started from {record['run']}"
             + (f" ({record['file']}, epoch {record['epoch']})" if "file" in record else "")]
    parts += [f"head {record['head']}"] if "head" in record else []
    parts += [record["first_conv"]] if "first_conv" in record else []
    text = ", ".join(parts)
    if record.get("frozen"):
        total = record["frozen_params"] + record["trained_params"]
        text += (f"; {record['frozen']} frozen: {record['trained_params']:,} of {total:,} "
                 "parameters trained")
    return text
