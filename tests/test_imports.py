"""Imports flow one way (STYLE.md): errors/shapes -> layers -> kinds -> spec -> models -> runs ->
registry -> descent/export/evaluate -> train (its test pass runs evaluate's inference path) ->
predict -> viz -> report/web -> cli. ``data`` depends only on
errors; nothing imports cli; the top-level modules form no cycle, even through an import
inside a function (modules of one rank may import each other only one way).

``notebook`` (HTML for Jupyter from plain data) imports nothing from convnet, and ``summary``
reads layers only through their kinds: both sit below ``models``, whose ``Network`` shows its
summary table in a notebook.

``models`` holds the registry proper (``models/registry.py``); the top-level ``registry`` sits
above ``runs`` because ``create_model(checkpoint=RUNDIR)`` loads a run's weights.
"""

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "convnet"
RANK = {"errors": 0, "shapes": 0, "version": 0, "notebook": 0, "allocator": 0, "data": 1, "layers": 2,
        "kinds": 2.3, "spec": 2.6, "summary": 2.8, "models": 3, "numpy_engine": 4, "recipes": 4,
        "runs": 5, "config": 5, "distributed": 5,
        "registry": 6, "validation": 6, "logs": 6, "splits": 6, "classifier": 6, "finetune": 6,
        "descent": 6, "export": 6.4, "evaluate": 6.5, "train": 7, "predict": 8, "explain": 8, "explain_step": 8, "viz": 9,
        "fitting": 9, "report": 10, "web": 10, "cli": 11, "__main__": 12, "__init__": 12}


def imports_of(path: Path) -> set[str]:
    """Top-level convnet modules that ``path`` imports (relative or absolute)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package path
                base = list(parts[:-1])[: len(parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    found.add(target[0])
                else:  # "from . import x, y": every name is a module
                    found |= {alias.name for alias in node.names}
            elif node.module and node.module.startswith("convnet."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("convnet.")}
    return found


def top(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_imports_flow_one_way():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        me = top(path)
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the public API re-exports from everywhere
        for other in imports_of(path) - {me}:
            if (other == "cli" and me != "__main__") or RANK.get(other, 99) > RANK.get(me, 99):
                bad.append(f"{path.relative_to(PACKAGE)} imports {other}")
    assert not bad, bad


def test_top_level_modules_form_no_cycle():
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        me = "__init__" if path == PACKAGE / "__init__.py" else top(path)
        graph.setdefault(me, set()).update(imports_of(path) - {me})
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None
    assert set(order) <= RANK.keys(), f"modules without a rank: {set(order) - RANK.keys()}"


def test_the_registry_and_the_models_are_ranked_apart():
    # the cycle this replaced: registry imported models inside a function, models imported
    # registry, and equal ranks let both pass
    assert RANK["registry"] > RANK["models"]
    assert "registry" not in imports_of(PACKAGE / "models" / "__init__.py")
    assert all("registry" not in imports_of(p) for p in (PACKAGE / "models").glob("*.py"))


def test_data_depends_only_on_errors():
    for path in (PACKAGE / "data").rglob("*.py"):
        assert imports_of(path) - {"data", "errors"} == set(), path
