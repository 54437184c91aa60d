"""The layering of docs/architecture.md, checked over every import in ``src/`` (also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "awhourglass"

# unit (a top-level module or subpackage of awhourglass) → layer; a unit imports only lower layers
LAYERS = {
    "errors": 0, "atomic": 0, "interrupts": 0, "config": 0, "skeleton": 0, "geometry": 0, "metrics": 0, "checkpoint": 0,
    "smoothing": 0, "drawing": 0,
    "formats": 1,
    "data": 2, "synth": 2, "models": 2, "losses": 2,
    "methods": 3,
    "train": 4, "eval": 4,
    "export": 5,
    "demo": 6, "speed": 6,
    "benchmark": 7,
    "api": 7,
    "video": 8, "realsearch": 8,
    "cli": 9,
}
CORE = 0  # the core's modules are leaves that may use each other (no network, format or CLI in them)
# The package's __init__ is the public face: it names the version and resolves ``awhourglass.load`` lazily.
PACKAGE_FACE = "__init__"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE_FACE


def _imports(path: Path) -> list[tuple[str, int]]:
    """``(imported awhourglass module, line)`` of every import statement in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "awhourglass":
                out += [(f"awhourglass.{a.name}", node.lineno) for a in node.names]
            elif node.module.startswith("awhourglass."):
                out.append((node.module, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            out.append(("<relative>", node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("awhourglass")]
    return out


def layering_violations(src: Path = SRC) -> list[str]:
    """Every import of a unit from a higher layer, or from another unit of the same layer above the core."""
    bad = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).with_suffix("")
        unit = PACKAGE_FACE if rel.parts == ("awhourglass", "__init__") else _unit(".".join(rel.parts))
        if unit == PACKAGE_FACE:
            continue
        if unit not in LAYERS:
            bad.append(f"{rel}: unit {unit!r} has no layer in docs/architecture.md")
            continue
        for module, line in _imports(path):
            if module == "<relative>":
                bad.append(f"{rel}:{line}: relative import (the layering is checked on absolute imports)")
                continue
            target = _unit(module)
            if target in ("__version__", PACKAGE_FACE):
                continue  # the version string
            if target not in LAYERS:
                bad.append(f"{rel}:{line}: imports {module}, a unit with no layer")
            elif target != unit and (LAYERS[target] > LAYERS[unit] or LAYERS[target] == LAYERS[unit] > CORE):
                bad.append(f"{rel}:{line}: {unit} (layer {LAYERS[unit]}) imports {module} (layer {LAYERS[target]})")
    return bad


def test_no_module_imports_a_layer_above_or_beside_it():
    assert layering_violations() == []


def test_every_unit_of_the_package_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert units <= set(LAYERS), sorted(units - set(LAYERS))


@pytest.mark.parametrize(("unit", "statement"), [
    ("models", "from awhourglass.train.loop import Trainer"),  # a layer above
    ("data", "    from awhourglass.models import AWHourglassNet"),  # inside a function: still seen
    ("synth", "from awhourglass.data.rhd import RHDDataset"),  # beside: the generator never reads via loaders
    ("geometry", "import awhourglass.api"),
])
def test_the_check_catches_a_violation(tmp_path, unit, statement):
    pkg = tmp_path / "awhourglass"
    target = pkg / unit / "x.py" if unit in ("models", "data", "synth") else pkg / f"{unit}.py"
    target.parent.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    if target.parent != pkg:
        (target.parent / "__init__.py").write_text("")
    body = f"def f():\n{statement}\n" if statement.startswith(" ") else statement + "\n"
    target.write_text(body)
    assert len(layering_violations(pkg)) == 1
