"""The pylibjpeg-libjpeg branch: a user who installs the GPL decoder our error names gets the film.

pylibjpeg-libjpeg is not a dependency (GPLv3), so it is installed with pip into a throwaway
folder (kept in pytest's cache between runs) and the films are read in a subprocess with
that folder first on sys.path. Without the network this test skips locally and fails in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dicom_factory import TRUE_12BIT_JPEG, encode, gradient_image, make_dataset, write_dicom

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "pylibjpeg-libjpeg"

pytestmark = pytest.mark.slow


def _install_libjpeg(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    cache = request.config.cache
    target = cache.mkdir("pylibjpeg-libjpeg") if cache is not None else tmp_path / "site"
    if any(target.glob("pylibjpeg_libjpeg-*.dist-info")):
        return target
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), PACKAGE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        message = f"pip could not install {PACKAGE}: {proc.stderr.strip()[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return target


READ_BOTH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import pydicom
    from pydicom.pixels import pixel_array
    from radiview.io import load_radiograph

    true_12bit, gdcm_written = sys.argv[1], sys.argv[2]
    rad = load_radiograph(true_12bit)
    raw = pixel_array(pydicom.dcmread(true_12bit), decoding_plugin="pylibjpeg").astype(np.float32)
    other = load_radiograph(gdcm_written)
    print(json.dumps({
        "decoder": rad.metadata["decoder"],
        "shape": list(rad.shape),
        "max_abs_diff_to_libjpeg": float(np.abs(rad.pixels - raw).max()),
        "raw_max": float(raw.max()),
        "gdcm_written_decoder": other.metadata["decoder"],
        "gdcm_written_pixels": other.pixels.ravel()[:64].tolist(),
    }))
    """
)


def test_true_12bit_jpeg_decodes_once_libjpeg_is_installed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import json

    import numpy as np

    site = _install_libjpeg(request, tmp_path)
    stored = gradient_image(bits=12)
    dataset = encode(make_dataset(stored, bits_stored=12), "jpeg_extended")
    gdcm_written = write_dicom(tmp_path / "gdcm16.dcm", dataset)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-c", READ_BOTH, str(TRUE_12BIT_JPEG), str(gdcm_written)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["decoder"] == "pylibjpeg" and result["shape"] == [1024, 256]
    # No modality LUT or inversion in this film: the pixels are libjpeg's samples exactly.
    assert result["max_abs_diff_to_libjpeg"] == 0.0 and result["raw_max"] > 255  # more than 8 bits
    # The 16-bit lossy stream GDCM writes stays GDCM's even with libjpeg present (libjpeg refuses it).
    assert result["gdcm_written_decoder"] == "gdcm"
    assert np.abs(np.array(result["gdcm_written_pixels"]) - stored.ravel()[:64]).mean() < 1.0
