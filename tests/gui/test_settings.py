"""radiview.settings: defaults table, JSON round trip, atomic writes, damaged files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from radiview.settings import (
    DEFAULTS,
    MAX_RECENT_FILES,
    Settings,
    config_dir,
    load_settings,
    save_settings,
    settings_path,
)


class TestSettings:
    def test_config_dir_follows_env(self, isolated_config: Path) -> None:
        assert config_dir() == isolated_config
        assert settings_path() == isolated_config / "settings.json"

    def test_missing_file_gives_defaults(self, tmp_path: Path) -> None:
        assert load_settings(tmp_path / "absent.json") == DEFAULTS

    def test_round_trip(self, tmp_path: Path) -> None:
        (tmp_path / "rt").mkdir()
        target = tmp_path / "rt" / "s.json"
        settings = replace(
            DEFAULTS,
            device="cpu",
            overlay_opacity=0.7,
            colormap="inferno",
            report_dir="/tmp/r",
            recent_files=("/a.dcm", "/b.png"),
            strip_identifiers=False,
            notice_acknowledged=True,
        )
        save_settings(settings, target)
        assert load_settings(target) == settings
        assert json.loads(target.read_text())["recent_files"] == ["/a.dcm", "/b.png"]
        assert [p.name for p in target.parent.iterdir()] == ["s.json"]  # no temp file left behind

    def test_damaged_file_gives_defaults(self, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
        target = tmp_path / "s.json"
        target.write_text("{not json")
        assert load_settings(target) == DEFAULTS
        assert str(target) in caplog.text

    def test_bad_values_and_unknown_keys_are_skipped(self, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
        target = tmp_path / "s.json"
        target.write_text(
            json.dumps(
                {
                    "overlay_opacity": 3.0,
                    "colormap": "rainbow",
                    "device": "cpu",
                    "future_key": 1,
                    "notice_acknowledged": "yes",
                    "recent_files": ["/x.png"],
                }
            )
        )
        loaded = load_settings(target)
        assert loaded.overlay_opacity == DEFAULTS.overlay_opacity
        assert loaded.colormap == DEFAULTS.colormap
        assert loaded.notice_acknowledged is False
        assert loaded.device == "cpu"
        assert loaded.recent_files == ("/x.png",)
        for key in ("overlay_opacity", "colormap", "future_key", "notice_acknowledged"):
            assert key in caplog.text

    def test_recent_files_unique_and_capped(self) -> None:
        settings = Settings()
        for i in range(MAX_RECENT_FILES + 3):
            settings = settings.with_recent(f"/f{i}.png")
        settings = settings.with_recent("/f5.png")
        assert settings.recent_files[0] == "/f5.png"
        assert len(settings.recent_files) == MAX_RECENT_FILES
        assert len(set(settings.recent_files)) == MAX_RECENT_FILES

    def test_default_location_is_used(self, isolated_config: Path) -> None:
        save_settings(replace(DEFAULTS, device="cpu"))
        assert (isolated_config / "settings.json").is_file()
        assert load_settings().device == "cpu"
