"""Imports flow one way (STYLE.md): errors/shapes -> spec -> layers -> models -> train/runs ->
predict/evaluate -> viz -> report/web -> cli. ``data`` depends only on errors; nothing imports cli."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "convnet"
RANK = {"errors": 0, "shapes": 0, "version": 0, "spec": 1, "layers": 2, "registry": 3, "models": 3,
        "summary": 4, "numpy_engine": 4, "recipes": 4, "data": 1, "runs": 5, "config": 5, "distributed": 5, "train": 6,
        "evaluate": 7, "predict": 7, "export": 7, "explain": 7, "explain_step": 7, "viz": 8, "report": 9,
        "web": 9, "cli": 10, "__main__": 11, "__init__": 11}


def imports_of(path: Path) -> set[str]:
    """Top-level convnet modules that ``path`` imports (relative or absolute)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package path
                base = list(parts[:-1])[: len(parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from . import x"
                    target = [alias.name for alias in node.names][:1]
                found.add(target[0])
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


def test_data_depends_only_on_errors():
    for path in (PACKAGE / "data").rglob("*.py"):
        assert imports_of(path) - {"data", "errors"} == set(), path
