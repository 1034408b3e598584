"""ONNX interchange: a trained run as one self-describing ``.onnx`` file, and that file read back.

The file holds the whole forward pass, ending in softmax probabilities:

    input  "image"          float32 (N, C, H, W), already normalised: (pixel / 255 - mean) / std
    output "probabilities"  float32 (N, K), rows summing to 1; N is a dynamic batch axis

and, in ``metadata_props`` (JSON strings), everything needed to prepare an image exactly as the
training data was: ``convnet.input_shape``, ``convnet.channels``, ``convnet.mean``,
``convnet.std``, ``convnet.framing`` ("mnist" or null), ``convnet.invert`` (the default polarity
policy: "auto" detects it, "keep" leaves the image as is) and ``convnet.classes``. So someone
with only the ``.onnx`` file gets the same predictions as ``convnet predict RUNDIR``.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). It needs only ``onnx`` and emits
opset 17 directly in ~0.3 s for LeNet-5; the torch.export-based one needs ``onnxscript`` too,
takes ~6 s, prints progress and down-converts from its native opset (torch 2.13, CPU).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import runs
from .errors import ExportError, RunError

OPSET = 17
FORMAT = "convnet-onnx/1"
TOLERANCE = 1e-4          # max |p_onnx - p_torch| accepted before a file is written
PARITY_SAMPLES = 16       # random normalised inputs checked (plus one all-zero input)
KEYS = ("input_shape", "channels", "mean", "std", "framing", "invert", "classes")


class Probabilities(torch.nn.Module):
    """The exported graph: the network's logits, then softmax (as ``Predictor`` computes them),
    or the logits alone (``softmax=False``: what evaluation needs for the loss).

    The wrapper itself starts in eval mode, without touching ``model``: torch.onnx.export ends
    by restoring the wrapper's flag recursively, and a fresh module's ``training=True`` would put
    the caller's batch norm and dropout back into training mode (issue 11).
    """

    def __init__(self, model: torch.nn.Module, softmax: bool = True):
        super().__init__()
        self.model, self.softmax = model, softmax
        self.training = False  # this module only; model.eval() would change the caller's model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model.logits(x)  # (N, C, H, W) -> (N, K)
        return logits.softmax(dim=1) if self.softmax else logits


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float   # onnxruntime vs torch on the parity inputs
    samples: int

    def to_json(self) -> dict:
        return {"path": str(self.path), "max_abs_diff": self.max_abs_diff,
                "samples": self.samples, "opset": OPSET}


def metadata(manifest: dict) -> dict[str, str]:
    """The preprocessing and class names of a run, as ONNX metadata_props (JSON strings)."""
    ds, shape = manifest["dataset"], manifest["model"]["input_shape"]
    framing = ds.get("framing")
    values = {"input_shape": shape, "channels": shape[0], "mean": ds["mean"], "std": ds["std"],
              "framing": framing, "invert": "auto" if framing == "mnist" else "keep",
              "classes": ds["classes"]}
    return {"convnet.format": FORMAT, **{f"convnet.{k}": json.dumps(v) for k, v in values.items()}}


def to_onnx_bytes(model: torch.nn.Module, props: dict[str, str], output: str = "probabilities"
                  ) -> bytes:
    """Serialise ``model``'s eval-mode probabilities (or ``output="logits"``) with a dynamic
    batch axis and ``props`` as metadata; ``model`` and its submodules keep their training
    flags."""
    import onnx

    buffer = io.BytesIO()
    example = torch.zeros(2, *model.input_shape)  # batch 2: nothing may specialise on N == 1
    try:
        with warnings.catch_warnings(), runs.eval_mode(model):  # deprecation notices: TorchScript
            warnings.simplefilter("ignore")
            torch.onnx.export(Probabilities(model, output == "probabilities"), (example,), buffer,
                              dynamo=False, input_names=["image"], output_names=[output],
                              dynamic_axes={"image": {0: "batch"}, output: {0: "batch"}},
                              opset_version=OPSET)
    except Exception as e:  # noqa: BLE001 -- torch.onnx raises many types (unsupported op...)
        raise ExportError(f"torch.onnx could not export the model: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, props)
    return proto.SerializeToString()


def session(source: bytes | str | Path, threads: int | None = None):
    """An onnxruntime CPU session on a file path or serialised bytes.

    ``threads`` fixes the intra-op thread pool (default: onnxruntime's, one per physical core).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                providers=["CPUExecutionProvider"])


class Sessions:
    """Two onnxruntime sessions on one graph: a single thread for small batches, all for big.

    A thread pool's hand-offs cost about as much as LeNet-5's whole forward pass on one image.
    On a quiet 2-core machine the default pool, spinning, is slightly faster at batch 1 (38k vs
    33k images/s, ``benchmarks/infer_speed.py``); on a busy one the single thread is 1.6x faster
    (27k vs 17k with a training job on the same cores), and a web server or a script is rarely
    alone on its machine. Big batches split across the cores either way.
    """

    SMALL = 16  # batches up to this size run on one thread

    def __init__(self, source: bytes | str | Path):
        self.small = session(source, threads=1)
        self.large = session(source, threads=max(1, torch.get_num_threads()))

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) prepared inputs -> (N, K) probabilities."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        run = self.small if len(x) <= self.SMALL else self.large
        return run.run(["probabilities"], {"image": x})[0]


def compile_onnx(model: torch.nn.Module, props: dict[str, str] | None = None,
                 x: np.ndarray | None = None) -> tuple[bytes, float]:
    """``model`` as ONNX bytes, checked against torch on ``x``: (bytes, max abs difference).

    Both sides run in eval mode (batch norm on running statistics, no dropout), and ``model``
    leaves with the training flags it came with. ``x`` defaults to ``PARITY_SAMPLES``
    standard-normal inputs (what normalised images look like) plus an all-zero one.

    Raises:
        ExportError: the model cannot be exported, or the probabilities differ by more than
            ``TOLERANCE`` on the inputs.
    """
    data = to_onnx_bytes(model, props or {})
    return data, check_parity(model, session(data), x)


def check_parity(model: torch.nn.Module, onnx_session, x: np.ndarray | None = None,
                 output: str = "probabilities") -> float:
    """The max abs difference between ``onnx_session``'s probabilities and torch's on ``x``
    (``compile_onnx``'s inputs by default); ExportError above ``TOLERANCE`` or NaN."""
    if x is None:
        c, h, w = model.input_shape
        rng = np.random.default_rng(0)
        x = np.concatenate([rng.standard_normal((PARITY_SAMPLES, c, h, w), dtype=np.float32),
                            np.zeros((1, c, h, w), np.float32)])  # (n + 1, C, H, W)
    with runs.eval_mode(model), torch.inference_mode():
        expected = Probabilities(model)(torch.from_numpy(x)).numpy()
    try:
        got = onnx_session.run(None, {"image": x})[0]
    except Exception as e:  # noqa: BLE001 -- onnxruntime's exception types are not public
        # e.g. a module whose output does not depend on its input (a numpy detour the tracer
        # froze into constants): the graph has no "image" input left
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ExportError(f"onnxruntime cannot run the exported graph: {first[:200]}") from None
    if output == "logits":
        got = torch.from_numpy(got).softmax(dim=1).numpy()
    diff = max_abs_difference(got, expected)
    if not diff <= TOLERANCE:  # also catches NaN
        raise ExportError(f"onnxruntime disagrees with torch by {diff:.3g} (> {TOLERANCE:g}) on "
                          f"{len(x)} sample inputs; nothing written")
    return diff


def logits_session(model: torch.nn.Module):
    """An onnxruntime session on ``model``'s current weights that gives logits, on every core:
    what evaluation runs on (the inference path, 1.6-2x faster than eager torch for resnet20,
    whose batch norms it folds into the convolutions), or None when the model does not export
    or disagrees with torch. One session, checked once: the export costs 0.3-0.7 s."""
    try:
        onnx_session = session(to_onnx_bytes(model, {}, "logits"),
                               threads=max(1, torch.get_num_threads()))
        check_parity(model, onnx_session, output="logits")
    except ExportError:
        return None
    return onnx_session


def parity_inputs(manifest: dict, n: int = PARITY_SAMPLES, seed: int = 0) -> np.ndarray:
    """``n`` random images (uniform pixels), normalised like the training data, plus zeros."""
    c, h, w = manifest["model"]["input_shape"]
    pixels = np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)
    mean = np.asarray(manifest["dataset"]["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(manifest["dataset"]["std"], np.float32).reshape(1, -1, 1, 1)
    x = (pixels - mean) / std  # (n, C, H, W)
    return np.concatenate([x, np.zeros((1, c, h, w), np.float32)])  # (n + 1, C, H, W)


def max_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def export_onnx(rundir: str | Path, out: str | Path | None = None) -> ExportResult:
    """Export a run to ONNX, check it against torch, then write it atomically.

    Args:
        rundir (str | Path): a run directory (``convnet train``'s output).
        out (str | Path | None): the file to write. Default: ``RUNDIR/model.onnx``.

    Raises:
        RunError: ``rundir`` is not a readable run.
        WriteError: ``out`` is a run's own file (``--out RUNDIR/model.safetensors``), a symlink,
            a device or read-only: checked before the export; or the disk is full.
        ExportError: the model cannot be exported, or onnxruntime's probabilities differ from
            torch's by more than ``TOLERANCE`` (nothing is written then).
    """
    path = runs.check_out(out if out else Path(rundir) / "model.onnx")  # before the work
    model, manifest = runs.load_model(Path(rundir))
    x = parity_inputs(manifest)
    data, diff = compile_onnx(model, metadata(manifest), x)
    if not path.parent.is_dir():
        raise ExportError(f"--out {path}: folder {path.parent} does not exist")
    runs.atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return ExportResult(path, diff, len(x))


MAX_ONNX_BYTES = 2**31  # protobuf's limit for one message: no exported model is larger


class OnnxModel:
    """An exported ``.onnx`` file run by onnxruntime, with the preprocessing it carries.

    Args:
        path (str | Path): a file written by ``export_onnx``.

    Attributes:
        input_shape (tuple[int, int, int]), classes (list[str]), framing (str | None),
        mean, std (list[float]), invert (str): read from the file's metadata.

    Raises:
        RunError: the file is missing, not ONNX, has no convnet metadata, or metadata that
            is not JSON, of the wrong type or range, or disagrees with the graph (one line).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise RunError(f"{self.path}: no such .onnx file")
        if self.path.stat().st_size > MAX_ONNX_BYTES:  # before onnxruntime reads it all
            raise RunError(f"{self.path}: {self.path.stat().st_size:,} bytes, more than an ONNX "
                           f"model can hold (protobuf's 2 GiB); not a file convnet export wrote")
        try:
            self.sessions = Sessions(self.path)
        except Exception as e:  # noqa: BLE001 -- onnxruntime's exception types are not public
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise RunError(f"{self.path}: not a readable ONNX model ({first})") from None
        props = self.sessions.large.get_modelmeta().custom_metadata_map
        if props.get("convnet.format") != FORMAT or any(f"convnet.{k}" not in props for k in KEYS):
            raise RunError(f"{self.path}: not exported by convnet export (no {FORMAT!r} "
                           f"metadata), so its preprocessing is unknown")
        meta = self._metadata(props)
        self.input_shape = tuple(meta["input_shape"])
        self.classes, self.framing = list(meta["classes"]), meta["framing"]
        self.mean, self.std, self.invert = meta["mean"], meta["std"], meta["invert"]

    def _metadata(self, props: dict[str, str]) -> dict:
        """The ``convnet.*`` values, JSON-decoded and checked as run.json's (``runs.schema``),
        and against the graph: its input (N, C, H, W) and its number of outputs."""
        try:
            meta = {k: json.loads(props[f"convnet.{k}"]) for k in KEYS}
        except (ValueError, RecursionError) as e:
            raise RunError(f"{self.path}: its convnet metadata is not JSON "
                           f"({str(e)[:80]})") from None
        graph_in = self.sessions.large.get_inputs()[0].shape  # ["batch", C, H, W]
        graph_out = self.sessions.large.get_outputs()[0].shape  # ["batch", K]
        outputs = graph_out[-1] if graph_out and isinstance(graph_out[-1], int) else None
        runs.check_onnx(meta, outputs, f"{self.path} metadata")
        if len(graph_in) == 4 and all(isinstance(d, int) for d in graph_in[1:]) \
                and list(graph_in[1:]) != meta["input_shape"]:
            raise RunError(f"{self.path}: its metadata says input_shape {meta['input_shape']} "
                           f"but the graph takes {'x'.join(map(str, graph_in[1:]))}")
        return meta

    def eval(self) -> OnnxModel:  # inference only; mirrors nn.Module for Predictor
        return self

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) prepared inputs -> (N, K) probabilities."""
        return self.sessions.probabilities(batch)
