"""A state or model file is replaced whole or not at all."""

from __future__ import annotations

import json

import pytest

from camapp.atomic import write_atomic, write_json_atomic


def test_a_file_is_replaced_whole_readable_by_others_and_folders_are_made(tmp_path):
    path = tmp_path / "state" / "counts.json"
    write_json_atomic(path, {"b": 1, "a": 2})
    write_json_atomic(path, {"a": 3})
    assert json.loads(path.read_text()) == {"a": 3}
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in path.parent.iterdir()] == ["counts.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "model.tflite"
    write_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
