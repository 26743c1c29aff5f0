"""Fuzzing: damaged DICOM and image files give a RadiviewError or a valid Radiograph, nothing else.

Mutations are bit flips, truncations and byte insertions of small valid files. Examples are
bounded and derandomised, so CI runs the same cases every time in a few seconds.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import encode, gradient_image, make_dataset, write_dicom, write_png16
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from radiview.errors import RadiviewError
from radiview.io import load_radiograph
from radiview.io.radiograph import Radiograph

#: In-process decoders only. GDCM (JPEG Baseline/Lossless here) is fuzzed in a subprocess
#: by test_gdcm_jpeg_fuzz_does_not_abort, because a GDCM failure can abort the interpreter.
DICOM_SYNTAXES = ("explicit", "implicit", "deflate", "rle", "jpegls", "j2k")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz_seeds")
    out: dict[str, bytes] = {}
    for syntax in DICOM_SYNTAXES:
        ds = make_dataset(gradient_image(rows=40, columns=36, bits=12), bits_stored=12)
        ds.WindowCenter, ds.WindowWidth = 2000, 3000
        out[f"dicom-{syntax}"] = write_dicom(folder / f"{syntax}.dcm", encode(ds, syntax)).read_bytes()
    bare = encode(make_dataset(gradient_image(rows=40, columns=36, bits=8)), "implicit")
    out["dicom-bare"] = write_dicom(folder / "bare", bare, preamble=False).read_bytes()
    out["png16"] = write_png16(folder / "a.png", gradient_image(rows=40, columns=36, bits=16)).read_bytes()
    for fmt, mode in (("PNG", "L"), ("JPEG", "L"), ("JPEG", "RGB"), ("TIFF", "L"), ("BMP", "L")):
        buf = io.BytesIO()
        Image.fromarray(gradient_image(rows=40, columns=36, bits=8)).convert(mode).save(buf, format=fmt)
        out[f"{fmt.lower()}-{mode}"] = buf.getvalue()
    return out


mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
    st.tuples(st.just("zero"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
)


def apply_mutations(data: bytes, mutations: list[tuple[str, float, int]]) -> bytes:
    buf = bytearray(data)
    for kind, where, value in mutations:
        if not buf:
            break
        pos = int(where * len(buf))
        if kind == "flip":
            buf[pos] ^= 1 << value
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = bytes([value]) * (1 + value % 5)
        else:
            buf[pos : pos + value] = b"\0" * len(buf[pos : pos + value])
    return bytes(buf)


@pytest.mark.slow
@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(
        sorted(
            ["dicom-" + s for s in DICOM_SYNTAXES]
            + ["dicom-bare", "png16", "png-L", "jpeg-L", "jpeg-RGB", "tiff-L", "bmp-L"]
        )
    ),
    mutations=st.lists(mutation, min_size=1, max_size=4),
)
def test_mutated_files_only_raise_radiview_errors(
    seeds: dict[str, bytes], tmp_path: Path, name: str, mutations: list
) -> None:
    path = tmp_path / ("fuzzed.dcm" if name.startswith("dicom") else "fuzzed.img")
    path.write_bytes(apply_mutations(seeds[name], mutations))
    try:
        rad = load_radiograph(path)
    except RadiviewError as err:
        assert str(err).startswith(str(path))
        return
    assert isinstance(rad, Radiograph)
    assert rad.pixels.ndim == 2 and rad.pixels.dtype == np.float32
    assert np.isfinite(rad.pixels).all()
    assert rad.default_window.width > 0


_CHILD = """
import sys
from radiview.errors import RadiviewError
from radiview.io import load_radiograph
for path in sys.argv[1:]:
    print(path, flush=True)
    try:
        load_radiograph(path)
    except RadiviewError:
        pass
print("DONE", flush=True)
"""


@pytest.mark.slow
def test_gdcm_jpeg_fuzz_does_not_abort(tmp_path: Path) -> None:
    """GDCM raises uncaught C++ exceptions (process abort) on some damaged JPEG headers.

    io walks the JPEG marker segments before handing a frame to GDCM; this runs damaged
    JPEG Lossless and Baseline files in a child process, so an abort fails this test
    instead of killing the test run, and names the file that did it.
    """
    import random
    import subprocess
    import sys

    rng = random.Random(1234)
    paths: list[str] = []
    for syntax, bits in (("jpeg_lossless", 12), ("jpeg_baseline", 8)):
        ds = make_dataset(gradient_image(rows=64, columns=48, bits=bits), bits_stored=bits)
        data = write_dicom(tmp_path / f"{syntax}.dcm", encode(ds, syntax)).read_bytes()
        start = data.find(b"\xff\xd8\xff")  # the JPEG stream inside the DICOM file
        for i in range(150):
            buf = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                region = rng.random()  # mostly the JPEG headers, where GDCM is fragile
                if region < 0.6:
                    pos = rng.randrange(start, min(start + 400, len(buf)))
                else:
                    pos = rng.randrange(start if region < 0.9 else 0, len(buf))
                kind = rng.choice(("flip", "flip", "insert", "truncate"))
                if kind == "flip":
                    buf[pos] ^= 1 << rng.randrange(8)
                elif kind == "insert":
                    buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
                else:
                    del buf[max(pos, start + 2) :]
            path = tmp_path / f"{syntax}_{i:03d}.dcm"
            path.write_bytes(bytes(buf))
            paths.append(str(path))
    proc = subprocess.run([sys.executable, "-c", _CHILD, *paths], capture_output=True, text=True, timeout=300)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "(none)"
    assert proc.returncode == 0 and last == "DONE", f"aborted on {last}: {proc.stderr[-500:]}"
