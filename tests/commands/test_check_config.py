"""camapp check-config FILE: the effective config with secrets masked, or one line naming the YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.commands.conftest import assert_one_line_error, run_camapp

USAGE = 2


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "camapp.yaml"
    path.write_text(text)
    return str(path)


def test_a_valid_file_prints_the_effective_config_with_defaults_filled_in(tmp_path: Path) -> None:
    path = write(tmp_path, "source:\n  uri: picam\nservice:\n  stall_timeout: 2.5\nlog:\n  levels: {camapp.sources: debug}\n")
    result = run_camapp("check-config", path, env={"CAMAPP_MODEL_THREADS": "3"})
    assert result.code == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    assert cfg["source"]["uri"] == "picam" and cfg["service"]["stall_timeout"] == 2.5
    assert cfg["model"]["threads"] == 3, "the environment is part of the effective config"
    assert cfg["service"]["reconnect_max"] == 30.0 and cfg["log"]["levels"] == {"camapp.sources": "debug"}
    assert f"{path}: OK" in result.stderr


def test_no_env_checks_the_file_alone(tmp_path: Path) -> None:
    result = run_camapp("check-config", "--no-env", write(tmp_path, "model:\n  threads: 1\n"), env={"CAMAPP_MODEL_THREADS": "3"})
    assert result.code == 0 and yaml.safe_load(result.stdout)["model"]["threads"] == 1


def test_secrets_are_masked_and_nothing_else(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mqtt:\n  host: broker.lan\n  username: cam\n  password: hunter2\n  keyfile: /etc/camapp/key.pem\nhttp:\n  token: s3cret-token\n",
    )
    result = run_camapp("check-config", path)
    assert result.code == 0, result.stderr
    assert "hunter2" not in result.stdout and "s3cret-token" not in result.stdout
    cfg = yaml.safe_load(result.stdout)
    assert cfg["mqtt"]["password"] == "***" and cfg["http"]["token"] == "***"
    assert cfg["mqtt"]["host"] == "broker.lan" and cfg["mqtt"]["username"] == "cam" and cfg["mqtt"]["keyfile"] == "/etc/camapp/key.pem"


def test_a_secret_from_the_environment_is_masked_too(tmp_path: Path) -> None:
    result = run_camapp("check-config", write(tmp_path, "mqtt:\n  host: broker.lan\n"), env={"CAMAPP_MQTT_PASSWORD": "from-env-secret"})
    assert result.code == 0 and "from-env-secret" not in result.stdout


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("source:\n  uri: picam\nmodel:\n  threads: [1, 2\n", 5, ["invalid YAML"]),
        ("source:\n  uri: picam\n\tmodel: x\n", 3, ["invalid YAML"]),
        ("source:\n  uri: picam\nmodel:\n  treads: 2\n", 4, ["model.treads", "allowed keys"]),
        ("model:\n  name: x\n  threads: 0\n", 3, ["model.threads"]),
        ("service:\n  reconnect_min: 10\n  stall_timeout: 1\n  reconnect_max: 2\n", 4, ["reconnect_max"]),
        ("log:\n  levels:\n    camapp.sources: loud\n", 3, ["log.levels.camapp.sources"]),
        ("source: picam\n", 1, ["config key 'source'"]),
        ("# a comment\n- source\n- model\n", 2, ["top level must be a mapping"]),
        ("source:\n  uri: \x07picam\n", 2, ["invalid YAML", "U+0007"]),
    ],
    ids=[
        "unclosed-list",
        "tab",
        "unknown-key",
        "out-of-range",
        "backoff-order",
        "bad-level",
        "section-not-mapping",
        "list-at-top",
        "control-char",
    ],
)
def test_every_error_names_the_yaml_line(tmp_path: Path, text: str, line: int, words: list[str]) -> None:
    path = write(tmp_path, text)
    result = run_camapp("check-config", path)
    assert_one_line_error(result, USAGE, f"{path} line {line}", *words)
    assert result.stdout == ""


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert_one_line_error(run_camapp("check-config", str(tmp_path / "nope.yaml")), USAGE, "does not exist")


def test_an_empty_file_is_valid_and_all_defaults(tmp_path: Path) -> None:
    result = run_camapp("check-config", "--no-env", write(tmp_path, ""))
    assert result.code == 0 and yaml.safe_load(result.stdout)["service"]["stats_interval"] == 60.0
