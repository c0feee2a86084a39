"""The cache folder: configured, default, temp fallback, or a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trialkit.cache import cache_dir
from trialkit.errors import TrialkitError


def test_configured_folder_is_created_and_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALKIT_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()


def test_default_is_under_the_users_home(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIALKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "trialkit"


@pytest.fixture
def unusable_home(tmp_path, monkeypatch):
    """A cron job under a service account whose home is not a writable folder."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.delenv("TRIALKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / "tmp"))


def test_an_unusable_home_falls_back_to_a_temp_folder(tmp_path, unusable_home):
    folder = cache_dir()
    assert folder.parent == tmp_path / "tmp" and folder.name.startswith("trialkit-cache-")


def test_nothing_writable_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRIALKIT_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(blocker))
    with pytest.raises(TrialkitError) as error:
        cache_dir()
    message = str(error.value)
    assert "TRIALKIT_CACHE_DIR" in message and str(blocker / "cache") in message


def test_a_run_with_an_unusable_home_still_finds_the_demo(tmp_path, unusable_home):
    """demo_data_dir() works through the fallback instead of an internal error."""
    from trialkit.demo import demo_data_dir

    folder = demo_data_dir()
    assert Path(folder, "dm.parquet").is_file() and str(folder).startswith(str(tmp_path / "tmp"))
    assert os.access(folder, os.R_OK)
