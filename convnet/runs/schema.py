"""What a run's files may hold, checked in one place before anything is built from them.

``run.json``, the checkpoint's metadata (``model.safetensors``, ``optimizer.safetensors``), each
``metrics.jsonl`` row and the preprocessing an exported ``.onnx`` carries are each described by
a schema: a dict of fields, each with a rule (a number range, a text, a list of so many things,
one of some values...).
``check`` walks a value against its schema and stops at the first thing wrong with one line
that names the file and the field and echoes the value:

    run.json: dataset.std[0] must be a number > 0, got 0

so a hand-edited or damaged file is a ``RunError`` (exit 7), never a crash deep inside
``predict`` or ``train --resume``. ``TrainConfig``'s rules come from its own type hints.

Example:
    >>> check({"epoch": "3"}, Fields({"epoch": Int(1)}), "meta")
    Traceback (most recent call last):
    ...
    convnet.errors.RunError: meta: epoch must be a whole number >= 1, got '3'
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields as dataclass_fields

from ..config import TrainConfig
from ..errors import RunError

MAX_CLASSES = 100_000  # class names a run may have (ImageNet-21k has 21,841)
MAX_SIDE = 8192  # pixels a side of a model's input may have
MAX_EPOCHS = 1_000_000


class Bad(Exception):
    """What is wrong, before the file's name is put in front: (where, expected, value)."""


# --------------------------------------------------------------------------- rules

_MISSING = object()


def _name(key) -> str:
    """A key from the file as it can be shown on one line."""
    text = str(key)
    return text[:40] if text.isprintable() else repr(text)[:40]


def _json(value) -> str:
    if value is _MISSING:
        return "nothing"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    if len(text) <= 60:
        return text
    if isinstance(value, (list, dict)):  # its size, not the start of a long repr
        return (f"a list of {len(value)}" if isinstance(value, list) else
                f"an object of {len(value)} fields")
    return text[:57] + "..."


class Rule:
    """A check of one value: ``rule(value, where)`` raises ``Bad`` or returns nothing."""

    words = "a valid value"

    def ok(self, value) -> bool:
        raise NotImplementedError

    def __call__(self, value, where: str) -> None:
        if not self.ok(value):
            raise Bad(where, self.words, value)


class Anything(Rule):
    words = "anything"

    def ok(self, value) -> bool:
        return True


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Num(Rule):
    """A number (int or float, never a bool), finite unless ``finite=False``, in a range."""

    def __init__(self, lo: float | None = None, hi: float | None = None, above: bool = False,
                 finite: bool = True):
        self.lo, self.hi, self.above, self.finite = lo, hi, above, finite
        limits = ([f"{'>' if above else '>='} {lo:g}"] if lo is not None else []) + \
            ([f"<= {hi:g}"] if hi is not None else [])
        self.words = "a number" + (" " + " and ".join(limits) if limits else "")

    def ok(self, value) -> bool:
        if not _real(value) or (self.finite and not math.isfinite(value)):
            return False
        if self.lo is not None and not (value > self.lo if self.above else value >= self.lo):
            return False
        return self.hi is None or value <= self.hi


class Int(Rule):
    """A whole number (never a bool) in lo..hi."""

    def __init__(self, lo: int | None = None, hi: int | None = None):
        self.lo, self.hi = lo, hi
        self.words = ("a whole number" + (f" >= {lo}" if lo is not None and hi is None else "")
                      + (f" in {lo}..{hi:,}" if lo is not None and hi is not None else ""))

    def ok(self, value) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and (self.lo is None or value >= self.lo)
                and (self.hi is None or value <= self.hi))


class Text(Rule):
    def __init__(self, nonempty: bool = False):
        self.nonempty = nonempty
        self.words = "non-empty text" if nonempty else "text"

    def ok(self, value) -> bool:
        return isinstance(value, str) and (not self.nonempty or bool(value.strip()))


class OneOf(Rule):
    """One of some JSON values, compared with their type (``true`` is not ``1``)."""

    def __init__(self, *values):
        self.values = values
        self.words = "one of " + ", ".join(_json(v) for v in values)

    def ok(self, value) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)


class Either(Rule):
    """Any of some rules (e.g. a number or a list of numbers)."""

    def __init__(self, *rules: Rule):
        self.rules = rules
        self.words = " or ".join(r.words for r in rules)

    def ok(self, value) -> bool:
        for rule in self.rules:
            try:
                rule(value, "")
                return True
            except Bad:
                continue
        return False


def Optional(rule: Rule) -> Rule:  # noqa: N802 -- reads as the type it checks
    """``rule``, or null."""
    return OneOf(None, *rule.values) if isinstance(rule, OneOf) else Either(OneOf(None), rule)


BOOL = OneOf(True, False)


class ListOf(Rule):
    """A list of ``lo..hi`` items, each checked by ``item`` (the first bad one is named)."""

    def __init__(self, item: Rule, lo: int = 0, hi: int | None = None, unique: bool = False):
        self.item, self.lo, self.hi, self.unique = item, lo, hi, unique
        count = f"{lo}" if lo == hi else f"{lo}..{hi:,}" if hi is not None else f"{lo} or more"
        self.words = f"a list of {count} ({item.words})" + (", each once" if unique else "")

    def __call__(self, value, where: str) -> None:
        if not isinstance(value, list) or not self.lo <= len(value) <= (self.hi or len(value)):
            raise Bad(where, self.words, value)
        for i, item in enumerate(value):
            self.item(item, f"{where}[{i}]")
        if self.unique and len(set(map(repr, value))) != len(value):
            raise Bad(where, self.words, value)


class DictOf(Rule):
    """A JSON object whose keys are text and whose values each pass ``value``."""

    def __init__(self, value: Rule):
        self.value = value
        self.words = f"an object of {value.words}"

    def __call__(self, obj, where: str) -> None:
        if not isinstance(obj, dict):
            raise Bad(where, self.words, obj)
        for key, item in obj.items():
            self.value(item, f"{where}.{_name(key)}")


class Fields(Rule):
    """A JSON object with these fields (``required`` must be there; others may be absent).
    Fields not named are let through (free-form sections), unless ``closed``."""

    words = "an object"

    def __init__(self, rules: dict[str, Rule], required: tuple[str, ...] = (),
                 closed: bool = False):
        self.rules, self.required, self.closed = rules, required, closed

    def __call__(self, obj, where: str) -> None:
        if not isinstance(obj, dict):
            raise Bad(where, "an object", obj)
        prefix = f"{where}." if where else ""
        for name in self.required:
            if name not in obj:
                raise Bad(prefix + name, "present", _MISSING)
        for name, value in obj.items():
            if name in self.rules:
                self.rules[name](value, prefix + name)
            elif self.closed:
                raise Bad(prefix + _name(name), "absent (no such setting in this version)", value)


def check(value, rule: Rule, source: str):
    """``value`` if it passes ``rule``, else one RunError line naming ``source`` and the field."""
    try:
        rule(value, "")
    except Bad as bad:
        where, words, got = bad.args
        raise RunError(f"{source}: {where + ' ' if where else ''}must be {words}, "
                       f"got {_json(got)}") from None
    return value


def refuse(source: str, what: str) -> None:
    """A cross-field disagreement, in the same words as ``check``'s."""
    raise RunError(f"{source}: {what}")


# --------------------------------------------------------------------------- TrainConfig

def rule_for(hint) -> Rule:
    """The rule of a ``TrainConfig`` type hint: int, float, str, bool, list[X], X | None."""
    if hint is type(None):
        return OneOf(None)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return Either(*(rule_for(h) for h in typing.get_args(hint)))
    if typing.get_origin(hint) is list:
        return ListOf(rule_for(typing.get_args(hint)[0]))
    return {int: Int(), float: Num(), str: Text(), bool: BOOL}.get(hint, Anything())


def config_rule() -> Fields:
    """run.json's ``config``: the fields of a ``TrainConfig``, each of the type it has there,
    and no other (``train --resume`` makes a ``TrainConfig`` of them)."""
    hints = typing.get_type_hints(TrainConfig)
    return Fields({f.name: rule_for(hints[f.name]) for f in dataclass_fields(TrainConfig)},
                  closed=True)


# --------------------------------------------------------------------------- the schemas

SHAPE = ListOf(Int(1, MAX_SIDE), 3, 3)
CLASSES = ListOf(Text(nonempty=True), 2, MAX_CLASSES, unique=True)


def preprocessing(invert: Rule) -> dict[str, Rule]:
    """What preparing an image needs: shared by run.json's ``dataset`` and the .onnx metadata.

    Mean and std are per channel on the [0, 1] pixel scale, as ``loader.channel_stats`` writes
    them (std clamped at 1e-6); far outside that, float32 overflows or divides by zero.
    """
    return {"classes": CLASSES, "mean": ListOf(Num(-1e6, 1e6), 1, 3),
            "std": ListOf(Num(1e-6, 1e6), 1, 3), "framing": OneOf(None, "mnist"),
            "invert": invert}


MODEL = Fields({"name": Optional(Text(nonempty=True)), "spec": Optional(Text(nonempty=True)),
                "input_shape": SHAPE, "num_classes": Int(2, MAX_CLASSES)},
               required=("input_shape", "num_classes"))
DATASET = Fields({**preprocessing(Optional(BOOL)), "name": Text(nonempty=True),
                  "files": Optional(DictOf(Text())), "train_size": Optional(Int(0)),
                  "test_size": Optional(Int(0)), "native_shape": Optional(SHAPE)},
                 required=("name", "classes", "mean", "std"))
METRICS_ROW = Fields({"epoch": Int(1, MAX_EPOCHS), "train_loss": Num(finite=False),
                      "test_loss": Num(finite=False), "train_accuracy": Num(0, 1),
                      "test_accuracy": Num(0, 1), "seconds": Num(0),
                      "lr": Optional(Num(finite=False)),
                      "test_accuracy_flip": Optional(Num(0, 1)),
                      "val_loss": Optional(Num(finite=False)),  # with --val only
                      "val_accuracy": Optional(Num(0, 1))},
                     required=("epoch", "train_loss", "train_accuracy", "test_loss",
                               "test_accuracy", "seconds"))
CHECKPOINT_META = Fields({"epoch": Int(0, MAX_EPOCHS), "metrics": Optional(METRICS_ROW)})
PARAM_GROUP = Fields({  # torch.optim's settings per group (SGD, Adam); a newer torch's pass
    "params": ListOf(Int(0), unique=True), "lr": Num(0), "betas": ListOf(Num(0, 1), 2, 2),
    "eps": Num(0), "weight_decay": Num(0), "momentum": Num(0), "dampening": Num(0),
    "initial_lr": Num(0), **{k: BOOL for k in ("amsgrad", "maximize", "nesterov", "capturable",
                                                "differentiable", "decoupled_weight_decay")},
    "foreach": Optional(BOOL), "fused": Optional(BOOL)}, required=("params",))
OPTIMIZER = Fields({"param_groups": ListOf(PARAM_GROUP, 1)})
# The headers of model.safetensors and optimizer.safetensors (runs.checkpoint): JSON in text.
WEIGHTS_HEADER = Fields({"meta": Text(), "optimizer_id": Text()},
                        required=("meta", "optimizer_id"))
OPTIMIZER_HEADER = Fields({"id": Text(nonempty=True), "optimizer": Text()},
                          required=("id", "optimizer"))
ONNX = Fields({**preprocessing(OneOf("auto", "keep", True, False, None)), "input_shape": SHAPE,
               "channels": OneOf(1, 3)},
              required=("classes", "mean", "std", "framing", "invert", "input_shape",
                        "channels"))


def manifest_rule() -> Fields:
    return Fields({"model": MODEL, "dataset": DATASET, "config": config_rule(),
                   "status": Optional(Text()), "recipe": Optional(DictOf(Anything())),
                   "seed": Optional(Int()), "final": Optional(DictOf(Anything())),
                   "versions": Optional(DictOf(Anything()))},
                  required=("model", "dataset", "config"))


# --------------------------------------------------------------------------- the checks

def check_preprocessing(values: dict, channels: int, outputs: int | None, source: str) -> None:
    """Across fields: mean and std per channel, input of 1 or 3 channels, a name per output."""
    if channels not in (1, 3):
        refuse(source, f"the model takes {channels} channels; images have 1 or 3")
    for key in ("mean", "std"):
        n = len(values[key]) if isinstance(values[key], list) else 1
        if n not in (1, channels):
            refuse(source, f"{key} has {n} values for a {channels}-channel input")
    if outputs is not None and len(values["classes"]) != outputs:
        refuse(source, f"{len(values['classes'])} class names for a model with {outputs} "
                       "outputs")


def check_manifest(manifest, source: str) -> dict:
    """run.json as read (``json.loads``), checked: its schema, then what must agree."""
    check(manifest, manifest_rule(), source)
    model, dataset = manifest["model"], manifest["dataset"]
    if not (model.get("name") or model.get("spec")):
        if isinstance(model.get("module"), str):  # trained by convnet.fit(a torch.nn.Module)
            refuse(source, f"the model is a Python class ({model['module'][:80]}) that only its "
                           "own code can rebuild; load the run's weights into it in Python "
                           "(README, Python API)")
        refuse(source, "model has neither a name nor a spec: nothing to rebuild")
    check_preprocessing(dataset, model["input_shape"][0], model["num_classes"], source)
    return manifest


def check_onnx(values: dict, outputs: int | None, source: str) -> dict:
    """The ``convnet.*`` metadata of an exported file (JSON-decoded), checked as run.json's."""
    check(values, ONNX, source)
    if values["channels"] != values["input_shape"][0]:
        refuse(source, f"channels {values['channels']} but input_shape "
                       f"{values['input_shape']}")
    check_preprocessing(values, values["channels"], outputs, source)
    return values


def _slot_of(name: str, params: set[int]) -> bool:
    """Whether ``name`` is ``<parameter>.<slot>`` of one of the optimizer's parameters."""
    pid, _, slot = name.partition(".")
    return pid.isdigit() and int(pid) in params and bool(slot)


def _params(optimizer: dict) -> set[int]:
    return {p for group in optimizer.get("param_groups", []) for p in group["params"]}


def check_checkpoint(meta, optimizer, tensors: list[str], source: str) -> None:
    """The metadata (JSON-decoded) and tensor names of a model.safetensors written before the
    optimizer had its own file: model.<weight> and optim.<param>.<slot> tensors."""
    check(meta, CHECKPOINT_META, f"{source} metadata 'meta'")
    check(optimizer, OPTIMIZER, f"{source} metadata 'optimizer'")
    params = _params(optimizer)
    for name in tensors:
        kind, _, rest = name.partition(".")
        if not (kind == "model" and rest) and not (kind == "optim" and _slot_of(rest, params)):
            refuse(source, f"unknown tensor {name[:60]!r}: a checkpoint holds model.<weight> "
                           "and optim.<parameter>.<slot> tensors only")


def check_optimizer_names(optimizer, tensors: list[str], source: str) -> None:
    """optimizer.safetensors' param_groups (JSON-decoded) and its <param>.<slot> tensor names."""
    check(optimizer, OPTIMIZER, f"{source} metadata 'optimizer'")
    params = _params(optimizer)
    for name in tensors:
        if not _slot_of(name, params):
            refuse(source, f"unknown tensor {name[:60]!r}: an optimizer state holds "
                           "<parameter>.<slot> tensors of its param_groups only")
