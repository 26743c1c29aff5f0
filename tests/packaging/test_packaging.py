"""Packaging checks that run without building the installer (packaging/ci_installer_check.sh does that).

They read the one PyInstaller spec as Python source (its lists are plain literals), check the
Linux desktop/MIME files with the real freedesktop tools where they exist, the Inno Setup
script's per-user install and .dcm association, and that the frozen-build resource lookup works.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "radiview.spec"
DESKTOP = PACKAGING / "linux" / "radiview.desktop"
MIME_XML = PACKAGING / "linux" / "radiview-mime.xml"
ISS = PACKAGING / "windows" / "radiview.iss"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def spec_literal(name: str) -> list[str]:
    """A top-level ``NAME = [...]`` literal of the spec, without running PyInstaller."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{SPEC}: no top-level literal {name}")


def imported_modules(root: Path) -> dict[str, set[str]]:
    """Every absolute module name imported anywhere under ``root`` → the files importing it."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


# ---- the spec -------------------------------------------------------------------------------


def test_spec_is_valid_python() -> None:
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")


def test_spec_excludes_other_qt_bindings_training_and_tests() -> None:
    excludes = set(spec_literal("EXCLUDES"))
    # Two Qt bindings in one analysis abort the build; training and tests never ship.
    assert {"PyQt5", "PyQt6", "PySide2", "training", "tests", "tkinter", "IPython", "triton"} <= excludes
    assert "PySide6" not in excludes and "torch" not in excludes


def test_spec_drops_unused_qt_modules_but_keeps_widgets() -> None:
    qt = set(spec_literal("QT_EXCLUDES"))
    for heavy in (
        "PySide6.QtWebEngineCore",
        "PySide6.Qt3DCore",
        "PySide6.QtQml",
        "PySide6.QtQuick",
        "PySide6.QtMultimedia",
        "PySide6.QtCharts",
    ):
        assert heavy in qt
    for needed in ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"):
        assert needed not in qt
    assert all(name.startswith("PySide6.") for name in qt)


def test_radiview_imports_nothing_the_spec_excludes() -> None:
    """A module the GUI starts using must come out of QT_EXCLUDES, or the frozen app breaks."""
    excluded = spec_literal("EXCLUDES") + spec_literal("QT_EXCLUDES")
    offenders = {
        name: sorted(files)
        for name, files in imported_modules(REPO / "radiview").items()
        for bad in excluded
        if name == bad or name.startswith(bad + ".")
    }
    assert offenders == {}


def test_spec_dicom_plugins_exist_and_have_entry_point_metadata() -> None:
    for module in spec_literal("DICOM_HIDDENIMPORTS"):
        assert importlib.util.find_spec(module) is not None, f"hidden import {module} is not installed"
    for dist in spec_literal("DICOM_METADATA"):
        importlib.metadata.distribution(dist)  # raises PackageNotFoundError if renamed
    # pylibjpeg finds openjpeg/rle only through these entry points: why their metadata ships.
    groups = importlib.metadata.entry_points(group="pylibjpeg.pixel_data_decoders")
    assert {ep.value.split(":")[0] for ep in groups} >= {"openjpeg", "rle"}


def test_spec_makes_a_console_twin_on_windows_and_a_bundle_on_macos() -> None:
    text = SPEC.read_text(encoding="utf-8")
    assert 'APP_NAME + "-cli"' in text and "console=True" in text and "console=False" in text
    assert "CFBundleDocumentTypes" in text and "org.nema.dicom" in text
    assert re.search(r'BUNDLE_ID = "[a-z]+\.[a-z]+\.\w+"', text)


def _needed(lib: Path) -> set[str]:
    out = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=False).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def test_cpu_only_drops_no_library_that_a_kept_one_links() -> None:
    """--cpu-only may drop only dlopen()ed CUDA libraries: a dropped DT_NEEDED breaks `import torch`."""
    torch_spec = importlib.util.find_spec("torch")
    if not sys.platform.startswith("linux") or shutil.which("readelf") is None or torch_spec is None:
        pytest.skip("needs Linux, readelf and torch")
    site = Path(torch_spec.origin).parents[1]
    libs = [p for p in [*site.glob("torch/lib/*.so*"), *site.glob("nvidia/*/lib/*.so*")] if p.is_file()]
    if not any("nvidia" in p.parts for p in libs):
        pytest.skip("torch here is not a CUDA build with nvidia-* wheels")
    patterns = spec_literal("CPU_ONLY_DROP")
    rel = {p: p.relative_to(site).as_posix() for p in libs}
    dropped = {p.name for p in libs if any(re.search(pat, rel[p]) for pat in patterns)}
    assert dropped, "no CPU_ONLY_DROP pattern matches this torch: patterns are stale"
    kept = [p for p in libs if p.name not in dropped]
    linked = set().union(*(_needed(p) for p in kept))
    assert dropped & linked == set()


def test_cpu_only_filter_drops_the_library_and_its_symlink() -> None:
    """Run the spec's own filter functions on PyInstaller-style TOC entries."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    wanted = [
        node
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name in {"_keep", "_keep_entry"})
        or (isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CPU_ONLY_DROP")
    ]
    namespace: dict = {"re": re, "os": os}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(SPEC), "exec"), namespace)
    keep = namespace["_keep_entry"]
    assert not keep(("nvidia/cu13/lib/libcusolver.so.12", "/site/libcusolver.so.12", "BINARY"))
    assert not keep(("libcusolver.so.12", "nvidia/cu13/lib/libcusolver.so.12", "SYMLINK"))
    assert not keep(("nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9", "/x", "BINARY"))
    assert keep(("nvidia/cudnn/lib/libcudnn.so.9", "/site/nvidia/cudnn/lib/libcudnn.so.9", "BINARY"))
    assert keep(("libcudart.so.13", "nvidia/cu13/lib/libcudart.so.13", "SYMLINK"))
    assert keep(("torch/lib/libtorch_cuda.so", "/site/torch/lib/libtorch_cuda.so", "BINARY"))


# ---- Linux desktop integration --------------------------------------------------------------


def test_desktop_entry_keys() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "RadiView"
    assert entry["Icon"] == "radiview"
    assert entry["Terminal"] == "false"
    assert re.fullmatch(r"radiview %[fFuU]", entry["Exec"])  # a field code, so a double-click passes the file
    mimes = entry["MimeType"]
    assert mimes.endswith(";") and {"application/dicom", "image/png"} <= set(filter(None, mimes.split(";")))
    categories = entry["Categories"]
    assert categories.endswith(";") and "MedicalSoftware" in categories.split(";")
    assert "not for diagnosis" in entry["Comment"].lower()


def test_desktop_entry_validates() -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate not installed (desktop-file-utils)")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mime_xml_registers_dcm() -> None:
    root = ET.parse(MIME_XML).getroot()
    assert root.tag == MIME_NS + "mime-info"
    (dicom,) = [t for t in root.iter(MIME_NS + "mime-type") if t.get("type") == "application/dicom"]
    assert "*.dcm" in {g.get("pattern") for g in dicom.iter(MIME_NS + "glob")}
    (match,) = dicom.iter(MIME_NS + "match")
    assert (match.get("offset"), match.get("value")) == ("128", "DICM")  # DICOM Part 10 preamble


def test_mime_database_maps_dcm_to_dicom(tmp_path: Path) -> None:
    tool = shutil.which("update-mime-database")
    if tool is None:
        pytest.skip("update-mime-database not installed (shared-mime-info)")
    (tmp_path / "packages").mkdir()
    shutil.copy(MIME_XML, tmp_path / "packages" / "radiview.xml")
    subprocess.run([tool, str(tmp_path)], check=True, capture_output=True)
    globs = (tmp_path / "globs2").read_text(encoding="utf-8").splitlines()
    assert any(line.endswith(":application/dicom:*.dcm") for line in globs), globs
    assert "DICM" in (tmp_path / "magic").read_bytes().decode("latin-1")


def test_maintainer_scripts_are_valid_sh() -> None:
    for name in ("postinst", "postrm"):
        script = PACKAGING / "linux" / name
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        subprocess.run(["sh", "-n", str(script)], check=True)
    postrm = (PACKAGING / "linux" / "postrm").read_text(encoding="utf-8")
    # Upgrades also run postrm: /opt/radiview may go only on remove/purge.
    branch = re.search(r"^\s*remove\|purge\)(.*?);;", postrm, re.S | re.M)
    assert branch and "rm -rf /opt/radiview" in branch.group(1)
    assert postrm.count("rm -rf /opt/radiview") == 1


def test_shell_scripts_parse() -> None:
    for name in ("build_linux.sh", "ci_installer_check.sh"):
        subprocess.run(["bash", "-n", str(PACKAGING / name)], check=True)


def test_build_linux_wraps_a_bundle_into_a_deb(tmp_path: Path) -> None:
    """The .deb layout from a stand-in bundle (the real one takes minutes: ci_installer_check.sh)."""
    if shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None:
        pytest.skip("dpkg-deb not available")
    from radiview import __version__

    bundle = tmp_path / "dist" / "radiview"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    (bundle / "radiview").write_text("#!/bin/sh\necho stand-in\n", encoding="utf-8")
    (bundle / "radiview").chmod(0o755)
    private = bundle / "_internal" / "resources" / "model.pt"  # atomic writes leave 0600 files
    private.write_bytes(b"weights")
    private.chmod(0o600)
    env = {
        **os.environ,
        "DIST_DIR": str(tmp_path / "dist"),
        "BUILD_DIR": str(tmp_path / "build"),
        "DEB_COMPRESSION": "gzip:1",
        "PYTHON": sys.executable,
    }
    subprocess.run(
        ["bash", str(PACKAGING / "build_linux.sh"), "--no-freeze"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    deb = tmp_path / "dist" / f"radiview_{__version__}_{arch}.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True, text=True).stdout
    entries = {line.split()[5]: line for line in listing.splitlines()}
    assert "./opt/radiview/radiview" in entries and entries["./opt/radiview/radiview"].startswith(
        "-rwxr-xr-x root/root"
    )
    assert "./usr/bin/radiview" in entries and entries["./usr/bin/radiview"].rstrip().endswith(
        "-> /opt/radiview/radiview"
    )
    assert entries["./opt/radiview/_internal/resources/model.pt"].startswith("-rw-r--r-- root/root")
    for path in (
        "./usr/share/applications/radiview.desktop",
        "./usr/share/mime/packages/radiview.xml",
        "./usr/share/icons/hicolor/48x48/apps/radiview.png",
        "./usr/share/icons/hicolor/256x256/apps/radiview.png",
    ):
        assert path in entries, path
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"Package: radiview\nVersion: {__version__}\nArchitecture: {arch}\n" in fields
    assert "libxcb-cursor0" in fields  # Qt's xcb plugin needs it and PySide6 does not bundle it
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], check=True, capture_output=True, text=True).stdout
    assert "postinst" in info and "postrm" in info


# ---- Windows --------------------------------------------------------------------------------


def test_inno_setup_is_per_user_and_associates_dcm() -> None:
    text = ISS.read_text(encoding="utf-8")
    assert re.search(r"^PrivilegesRequired=lowest$", text, re.M)
    assert re.search(r"^ChangesAssociations=yes$", text, re.M)
    assert re.search(r'^#define SourceDir "\.\.\\\.\.\\dist\\radiview"$', text, re.M)
    registry = [line for line in text.splitlines() if line.startswith("Root:")]
    assert registry and all(line.startswith('Root: HKCU; Subkey: "Software\\Classes\\') for line in registry)
    assert any('Subkey: "Software\\Classes\\.dcm"' in line and "{#ProgId}" in line for line in registry)
    assert any("shell\\open\\command" in line and '""%1""' in line for line in registry)
    for section in ("[Setup]", "[Files]", "[Icons]", "[Registry]", "[Tasks]"):
        assert section in text
    assert "{autodesktop}" in text and "{group}" in text and "{uninstallexe}" in text
    assert '"radiview-cli.exe"' in text  # the console twin the spec builds on Windows


# ---- resources in a frozen build ------------------------------------------------------------


def test_resources_dir_honours_meipass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from radiview import assets

    (tmp_path / "resources" / "model").mkdir(parents=True)
    monkeypatch.delenv("RADIVIEW_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert assets.resources_dir() == tmp_path / "resources"
    assert assets.default_model_dir() == tmp_path / "resources" / "model"
    assert assets.icon_path() == tmp_path / "resources" / "icons" / "radiview.png"


def test_spec_collects_resources_where_assets_looks() -> None:
    text = SPEC.read_text(encoding="utf-8")
    # assets.py looks for sys._MEIPASS/resources; the spec must put resources/ exactly there.
    assert 'datas = [(str(REPO / "resources"), "resources")]' in text


# ---- icon -----------------------------------------------------------------------------------


def _load_packaging_module(name: str):
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_icons_are_small_and_square() -> None:
    from PIL import Image

    png = REPO / "resources" / "icons" / "radiview.png"
    ico = REPO / "resources" / "icons" / "radiview.ico"
    with Image.open(png) as image:
        assert image.size == (256, 256) and image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0  # rounded corner is transparent
        assert image.getpixel((128, 128))[3] == 255
    with Image.open(ico) as image:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(image.info["sizes"])
    assert png.stat().st_size < 100_000 and ico.stat().st_size < 150_000


def test_make_icon_writes_hicolor_sizes(tmp_path: Path) -> None:
    from PIL import Image

    make_icon = _load_packaging_module("make_icon")
    written = make_icon.write_hicolor(REPO / "resources" / "icons" / "radiview.png", tmp_path)
    for size in (16, 32, 48, 256):
        target = tmp_path / f"{size}x{size}" / "apps" / "radiview.png"
        assert target in written
        with Image.open(target) as image:
            assert image.size == (size, size)


# ---- CI helper ------------------------------------------------------------------------------


def test_ci_films_include_decodable_compressed_dicom(tmp_path: Path) -> None:
    import pydicom

    films = _load_packaging_module("make_ci_films")
    assert films.main([str(tmp_path / "films"), "--data", str(tmp_path / "absent")]) == 0
    written = sorted((tmp_path / "films").iterdir())
    assert len(written) >= 4
    syntaxes = set()
    for path in written:
        if path.suffix == ".dcm" and path.name.startswith("compressed_"):
            ds = pydicom.dcmread(path)
            syntaxes.add(ds.file_meta.TransferSyntaxUID.name)
            assert ds.pixel_array.shape == (256, 256)
    assert {"RLE Lossless", "JPEG-LS Lossless Image Compression"} <= syntaxes
