"""`unisst kernel` keeps JupyterLab quiet and offline: no news notification, no update check."""

from __future__ import annotations

import json

import pytest

from unisst_lib.notebooks.kernel import quiet_lab_settings

KEY = "@jupyterlab/apputils-extension:notification"


def test_settings_are_written_where_jupyterlab_reads_overrides(tmp_path):
    path = quiet_lab_settings(tmp_path)
    assert path == tmp_path / "share/jupyter/lab/settings/overrides.json"
    assert json.loads(path.read_text()) == {KEY: {"fetchNews": "false", "checkForUpdates": False}}


def test_other_plugins_settings_are_kept_and_a_second_call_changes_nothing(tmp_path):
    path = tmp_path / "share/jupyter/lab/settings/overrides.json"
    path.parent.mkdir(parents=True)
    theme = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    path.write_text(json.dumps(theme))
    quiet_lab_settings(tmp_path)
    first = path.read_text()
    assert json.loads(first) == {**theme, KEY: {"fetchNews": "false", "checkForUpdates": False}}
    mtime = path.stat().st_mtime_ns
    quiet_lab_settings(tmp_path)
    assert path.read_text() == first and path.stat().st_mtime_ns == mtime


def test_a_broken_overrides_file_is_named_not_overwritten(tmp_path):
    path = tmp_path / "share/jupyter/lab/settings/overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="overrides.json is not valid JSON"):
        quiet_lab_settings(tmp_path)
    assert path.read_text() == "{not json"
