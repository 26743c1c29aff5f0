"""The layer rules of ARCHITECTURE.md, checked on the source (ast) and at import time.

1. Only radiview.gui imports PySide6.
2. radiview.io imports neither torch nor PySide6 (directly or through anything it imports).
3. radiview never imports training.
4. No module is called utils.py.
5. Layer order io → inference → batch → net → gui/cli: nothing imports a layer to its right
   (function-local imports count too), and batch, cli and inference import without Qt.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "radiview"


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Top-level-qualified names of everything a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _violations(rule) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for path in _modules(PACKAGE):
        name = _module_name(path)
        for imported in sorted(_imports(path)):
            if rule(name, imported):
                out.append(f"{path.relative_to(REPO)} imports {imported}")
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_checks_can_fail() -> None:
    """Guard against rules that pass vacuously: the same machinery must see real imports."""
    assert _violations(lambda mod, imp: mod == "radiview.io.dicom" and _top(imp) == "pydicom")
    assert "radiview.io.loader.load_radiograph" in _imports(PACKAGE / "io" / "__init__.py")
    if (PACKAGE / "inference" / "network.py").exists():
        assert _violations(lambda mod, imp: mod.startswith("radiview.inference") and _top(imp) == "torch")


def test_only_gui_imports_pyside6() -> None:
    bad = _violations(
        lambda mod, imp: _top(imp) in ("PySide6", "shiboken6") and not mod.startswith("radiview.gui")
    )
    assert bad == []


def test_io_imports_neither_torch_nor_qt() -> None:
    banned = ("torch", "torchvision", "pytorch_grad_cam", "PySide6", "shiboken6")
    bad = _violations(lambda mod, imp: mod.startswith("radiview.io") and _top(imp) in banned)
    assert bad == []
    io_imports_other_layers = _violations(
        lambda mod, imp: (
            mod.startswith("radiview.io")
            and imp.startswith("radiview.")
            and not imp.startswith(("radiview.io", "radiview.errors"))
        )
    )
    assert io_imports_other_layers == []


def test_radiview_never_imports_training() -> None:
    assert _violations(lambda mod, imp: _top(imp) == "training") == []


def test_no_utils_module() -> None:
    for root in (PACKAGE, REPO / "training"):
        if root.exists():
            assert [p for p in _modules(root) if p.stem in ("utils", "util")] == []


def test_importing_radiview_io_loads_no_torch_or_qt() -> None:
    code = (
        "import sys, radiview.io, radiview.io.dicom, radiview.io.image, radiview.io.discovery\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'training'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=True
    )
    assert proc.stdout.strip() == ""


#: The layers, left to right; a module may import its own layer and those to its left. The
#: shared base (errors, settings, assets, atomic, render, __init__) sits below them all.
LAYERS = ("io", "inference", "batch", "site", "net", "gui", "cli")
_RANK = {"io": 0, "inference": 1, "batch": 2, "site": 2.5, "net": 3, "gui": 4, "cli": 4}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "radiview" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in _RANK else None


def _imports_rightward(module: str, imported: str) -> bool:
    own, other = _layer(module), _layer(imported)
    return own is not None and other is not None and _RANK[other] > _RANK[own]


def test_the_layer_rule_sees_a_violation() -> None:
    assert _imports_rightward("radiview.inference.classifier", "radiview.batch.engine")
    assert _imports_rightward("radiview.batch.csv_report", "radiview.gui.workers")
    assert not _imports_rightward("radiview.batch.csv_report", "radiview.inference.card")
    assert not _imports_rightward("radiview.gui.app", "radiview.cli")  # same rank
    assert _violations(lambda mod, imp: mod.startswith("radiview.batch") and _layer(imp) == "inference")


def test_no_layer_imports_one_to_its_right() -> None:
    assert _violations(_imports_rightward) == []


def test_named_layer_rules() -> None:
    """The rules of issue 12 spelled out (the general rule above implies them)."""

    def banned(layer: str, others: tuple[str, ...]):  # type: ignore[no-untyped-def]
        return lambda mod, imp: _layer(mod) == layer and _layer(imp) in others

    assert _violations(banned("inference", ("batch", "site", "gui", "net", "cli"))) == []
    assert _violations(banned("batch", ("site", "net", "gui", "cli"))) == []
    assert _violations(banned("site", ("net", "gui", "cli"))) == []
    assert _violations(banned("net", ("gui", "cli"))) == []


def test_batch_cli_and_inference_import_without_qt() -> None:
    """Importing every module of these layers (as a headless server or the CLI would) loads no Qt."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import radiview.cli, radiview.batch, radiview.inference\n"
        "for package in (radiview.batch, radiview.inference):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "layers = ('radiview.batch.', 'radiview.inference.')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(layers))\n"
        "assert 'PySide6' not in sys.modules, sorted(m for m in sys.modules if m.startswith('PySide6'))\n"
        "assert 'shiboken6' not in sys.modules\n"
        "print(len(loaded))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) >= 8  # the walk really imported the modules
