"""Settings ▸ Model: choosing a site bundle folder reloads the reader as that site's model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from radiview.assets import default_model_dir
from radiview.gui.dialogs.settings import SettingsDialog
from radiview.inference.bundle import GATE_PREFIX, load_bundle, read_model_card
from radiview.inference.site_bundle import write_site_bundle
from radiview.settings import DEFAULTS


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site bundle on the shipped base that keeps the base's own gate (what a site adapting
    nothing but its name would write): enough to show the app loading a site folder."""
    base = read_model_card(default_model_dir())
    _, state = load_bundle(default_model_dir())
    card = {
        "base": {"name": base.name, "version": base.version, "weights_sha256": base.weights_sha256},
        "site": {"name": "gui-test"},
        "temperature": 1.5,
        "operating_points": {"covid19": 0.6},
        "gate": base.gate.to_dict(),
    }
    out = tmp_path_factory.mktemp("site") / "gui-test"
    write_site_bundle(out, card, {k: v for k, v in state.items() if k.startswith(GATE_PREFIX)})
    return out


def test_the_settings_dialog_edits_the_model_folder(qtbot, site_dir: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(DEFAULTS, devices=["auto", "cpu"])
    qtbot.addWidget(dialog)
    assert dialog.model_edit.text() == "" and dialog.model_edit.placeholderText() == "The bundled model"
    dialog.model_edit.setText(f"  {site_dir}  ")
    assert dialog.settings.model_dir == str(site_dir)
    assert SettingsDialog(dialog.settings, devices=["cpu"]).model_edit.text() == str(site_dir)


def test_choosing_a_site_folder_reloads_the_model_as_the_site_model(
    qtbot, make_window, site_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    window = make_window(bundle_dir=None, settings=replace(DEFAULTS, device="cpu"))
    assert window.model_info.card.name == "radiview-mobilenetv3-small"
    window.apply_new_settings(replace(window.settings, model_dir=str(site_dir)))
    qtbot.waitUntil(lambda: window.model_info is not None or window.model_error is not None, timeout=60000)
    assert window.model_error is None, window.model_error
    assert window.bundle_dir == str(site_dir)
    assert window.model_info.card.name == "radiview-mobilenetv3-small · site gui-test"
    assert window.model_info.card.temperature == 1.5
    assert "site gui-test" in window.model_label.text()
