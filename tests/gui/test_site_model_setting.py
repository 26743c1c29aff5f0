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


def test_the_model_card_dialog_shows_the_site_section(site_dir: Path) -> None:
    import json

    from radiview.gui.dialogs.about import card_html
    from radiview.inference.site_bundle import load_site_classifier

    card = json.loads((site_dir / "site_card.json").read_text(encoding="utf-8"))
    card["site"].update(
        date="2026-12-08",
        counts={"normal": 30, "covid19": 20},
        split={"method": "two-fold cross-fitting", "check_films": 50},
        adapted=["gate refitted on the site's films (2 cluster(s))"],
        not_adapted=["base head kept: too few labels for a head refit"],
        summary="the site model beats the base on the check part",
        check={
            "before": {"gate_acceptance": {"overall": 0.6}, "ece": 0.1, "per_class": {}},
            "after": {
                "gate_acceptance": {"overall": 0.98},
                "ece": 0.04,
                "per_class": {"covid19": {"sensitivity": 0.8, "sensitivity_ci95": [0.7, 0.9]}},
            },
        },
    )
    (site_dir / "site_card.json").write_text(json.dumps(card), encoding="utf-8")
    text = card_html(load_site_classifier(site_dir, "cpu").card)
    assert "<h3>Site adaptation</h3>" in text and "gui-test" in text
    assert "98.0 %" in text and "60.0 %" in text and "base head kept" in text
    assert "COVID-19 ≥ 0.6" in text
    assert "Site adaptation" not in card_html(read_model_card(default_model_dir()))
