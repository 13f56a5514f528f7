"""The config: one schema, file < environment < command line, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from camapp.config import Config, effective_config, env_keys, load_config
from camapp.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def test_defaults_live_in_the_schema():
    cfg = load_config(env={})
    assert cfg == Config()
    assert cfg.model.threads == 2 and cfg.model.task == "auto" and cfg.output.show is False


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_example_config_is_valid(path):
    load_config(str(path), env={})


def test_file_then_environment_then_command_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  threads: 1\n  top_k: 7\n  threshold: 0.3\n")
    cfg = load_config(str(f), env={"CAMAPP_MODEL_THREADS": "3", "CAMAPP_MODEL_TOP_K": "9"}, overrides={"model.top_k": 2})
    assert cfg.model.threshold == 0.3  # file
    assert cfg.model.threads == 3  # environment beats file
    assert cfg.model.top_k == 2  # command line beats both


def test_environment_names_follow_the_keys():
    keys = env_keys()
    assert keys["CAMAPP_MODEL_MIRROR"] == ("model", "mirror")
    assert keys["CAMAPP_SOURCE_URI"] == ("source", "uri")


def test_environment_values_are_typed():
    cfg = load_config(env={"CAMAPP_SOURCE_REALTIME": "true", "CAMAPP_MODEL_THRESHOLD": "0.25"})
    assert cfg.source.realtime is True and cfg.model.threshold == 0.25


def test_unrelated_environment_is_ignored():
    assert load_config(env={"CAMAPP_RUNTIME": "tflite_runtime", "HOME": "/x"}) == Config()


def test_bad_value_names_key_allowed_values_and_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("source:\n  uri: '0'\nmodel:\n  task: segment\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(f), env={})
    msg = str(err.value)
    assert "model.task" in msg and "line 4" in msg and "'auto', 'classify' or 'detect'" in msg


def test_unknown_section_lists_sections(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("modle:\n  name: x\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'modle'.*line 1.*allowed keys here: .*model"):
        load_config(str(f), env={})


def test_invalid_yaml_gives_its_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  name: x\n  threads: [1, 2\n")
    with pytest.raises(ConfigError, match=r"line \d+: invalid YAML"):
        load_config(str(f), env={})


def test_top_level_must_be_a_mapping(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(f), env={})


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "none.yaml"), env={})


def test_effective_config_is_plain_data_with_every_key():
    data = effective_config(Config.model_validate({"model": {"name": "x"}}))
    assert data["model"]["name"] == "x" and data["model"]["threads"] == 2
    assert set(data) == set(Config.model_fields)
