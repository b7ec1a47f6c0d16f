"""The layout shows the architecture: module-level imports only point downwards.

The order is the table of docs/architecture.md (bottom first). A module may import, at module
level, only from its own layer or an earlier one; a later layer is reached only lazily inside
a function (the documented exceptions). The dashboard and the CLI are at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "geoviz"

LAYERS: list[tuple[str, ...]] = [
    ("_validation", "_cache", "_names", "__version__"),
    ("encoders",),
    ("networks",),
    ("spec",),
    ("location_encoder",),
    ("model_file", "model_io"),
    ("data",),
    ("render",),
    ("embed", "analysis", "figures"),
    ("grids",),
    ("training",),
    ("pretrained",),
    ("estimators",),
    ("evaluation", "geolocation"),
    ("species",),
    ("results",),
    ("viz",),
    ("commands", "cli", "__main__", "widgets", "app"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _top_level_targets(path: Path) -> set[str]:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    pkg = parts if path.name == "__init__.py" else parts[:-1]
    if path.name == "__init__.py":
        pkg = parts[:-1]
    out = set()
    for node in ast.parse(path.read_text()).body:  # module level only, not inside functions
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "geoviz":
                out |= {a.name for a in node.names}
            elif target.startswith("geoviz."):
                out.add(_part(target))
        elif isinstance(node, ast.Import):
            out |= {_part(a.name) for a in node.names if a.name.startswith("geoviz.")}
    return out


def test_every_module_is_in_a_layer_and_imports_only_downwards():
    bad, unknown = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue  # the package root re-exports lazily (PEP 562)
        own = rel.parts[0].removesuffix(".py")
        if own not in RANK:
            unknown.add(own)
            continue
        for target in _top_level_targets(path):
            if target not in RANK:
                unknown.add(target)
            elif RANK[target] > RANK[own]:
                bad.append(f"{rel} imports geoviz.{target} at module level")
    assert not unknown, f"modules not placed in a layer (add them to LAYERS and docs/architecture.md): {unknown}"
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_architecture_page_names_every_layer():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for names in LAYERS:
        for name in names:
            if name.startswith("__"):
                continue
            assert f"`{name}" in text or f"{name}.py" in text or f"`{name}/" in text, name
