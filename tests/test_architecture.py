"""The layer rules of ARCHITECTURE.md, checked on the source (ast) and at import time.

1. Only radiview.gui imports PySide6.
2. radiview.io imports neither torch nor PySide6 (directly or through anything it imports).
3. radiview never imports training.
4. No module is called utils.py.
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
