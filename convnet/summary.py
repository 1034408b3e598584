"""``model.summary()``-style tables: output shapes, parameters with their formula, multiply-adds.

Each row also shows the output-size arithmetic with the real numbers, e.g. for LeNet-5's first
convolution ``(32 + 2·0 − 5)/1 + 1 = 28`` and ``5·5·1·6 + 6 = 156`` parameters. Every figure
and formula comes from the layer's kind (``convnet.kinds``: ``params``, ``mult_adds``,
``size_rule``, computed with ``shapes.py``).

Example:
    >>> from convnet.registry import create_model
    >>> s = summarize(create_model("lenet5"))
    >>> [r.name for r in s.rows][:3], s.total_params
    (['conv1', 'relu1', 'maxpool1'], 63802)
    >>> next(r for r in s.rows if r.name == "fc1").params_formula
    '400·120 + 120 = 48120'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from . import kinds, notebook


@dataclass
class Row:
    name: str
    type: str
    input_shape: list[int]
    output_shape: list[int]
    params: int
    params_formula: str
    mult_adds: int
    arithmetic: str


@dataclass
class Summary:
    input_shape: list[int]
    rows: list[Row] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self.rows)

    def to_json(self) -> dict:
        return {"input_shape": self.input_shape, "layers": [asdict(r) for r in self.rows],
                "total_params": self.total_params, "total_mult_adds": self.total_mult_adds}

    def table(self) -> str:
        head = ("layer", "type", "output shape", "params", "parameter arithmetic", "mult-adds",
                "output size arithmetic")
        body = [(r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}",
                 r.params_formula, f"{r.mult_adds:,}", r.arithmetic) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        line = "  ".join("{:<%d}" % w for w in widths)
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        out = [f"input: {'x'.join(map(str, self.input_shape))}", line.format(*head), rule]
        out += [line.format(*row).rstrip() for row in body]
        out += [rule, f"total parameters: {self.total_params:,}",
                f"total multiply-adds per image: {self.total_mult_adds:,}"]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """Jupyter shows the table (``convnet.notebook``)."""
        return notebook.summary_html(self)


def summarize(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> Summary:
    """Run one zero image through ``model`` and describe every leaf layer it passed through."""
    shape = tuple(input_shape or model.input_shape)
    summary = Summary(list(shape))
    # "features.conv1" -> "conv1": the top-level split is implied; nested blocks keep their path.
    names = {m: n.split(".", 1)[-1] if n.startswith(("features.", "head.")) else n
             for n, m in model.named_modules()}
    hooks = [m.register_forward_hook(_recorder(summary, names[m]))
             for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.eval()  # batch norm with a batch of one, dropout off: shapes are all we want
    try:
        with torch.no_grad():  # probabilities: every layer, a Network's final softmax too
            getattr(model, "probabilities", model)(torch.zeros(1, *shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return summary


def _recorder(summary: Summary, name: str):
    def hook(module, inputs, output):
        in_shape, out_shape = list(inputs[0].shape[1:]), list(output.shape[1:])
        kind = kinds.of(module) or kinds.OTHER  # OTHER: its parameters, counted plainly
        params, formula = kind.params(module)
        summary.rows.append(Row(name, type(module).__name__, in_shape, out_shape, params,
                                formula, kind.mult_adds(module, out_shape),
                                kind.size_rule(module, in_shape, out_shape)))
    return hook
