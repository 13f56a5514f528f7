"""camapp check-config FILE: the effective config with secrets masked, or one line naming the YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.commands.conftest import CliResult, assert_one_line_error, run_camapp

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
    keyfile = tmp_path / "key.pem"  # check-config checks that it exists
    keyfile.write_text("")
    path = write(
        tmp_path,
        f"mqtt:\n  host: broker.lan\n  username: cam\n  password: hunter2\n  keyfile: {keyfile}\nhttp:\n  token: s3cret-token\n",
    )
    result = run_camapp("check-config", path)
    assert result.code == 0, result.stderr
    assert "hunter2" not in result.stdout and "s3cret-token" not in result.stdout
    cfg = yaml.safe_load(result.stdout)
    assert cfg["mqtt"]["password"] == "***" and cfg["http"]["token"] == "***"
    assert cfg["mqtt"]["host"] == "broker.lan" and cfg["mqtt"]["username"] == "cam" and cfg["mqtt"]["keyfile"] == str(keyfile)


def test_a_secret_from_the_environment_is_masked_too(tmp_path: Path) -> None:
    result = run_camapp("check-config", write(tmp_path, "mqtt:\n  host: broker.lan\n"), env={"CAMAPP_MQTT_PASSWORD": "from-env-secret"})
    assert result.code == 0 and "from-env-secret" not in result.stdout


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("source:\n  uri: picam\nmodel:\n  threads: [1, 2\n", 5, ["invalid YAML"]),
        ("source:\n  uri: picam\n\tmodel: x\n", 3, ["invalid YAML"]),
        ("source:\n  uri: picam\nmodel:\n  treads: 2\n", 4, ["model.treads", "allowed keys"]),
        ("model:\n  name: mobilenet_v2_1.0_224_quant\n  threads: 0\n", 3, ["model.threads"]),
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


def errors_of(result: CliResult) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("camapp: error:")]


def test_every_problem_is_reported_at_once_then_a_count(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "source:\n  uri: picam\nmodel:\n  threads: true\n  task: segment\n  top_k: 0\n  treads: 2\n"
        "http:\n  jpeg_quality: 5\n  jpeg_quality: 50\nmqtt:\n  qos: 7\n",
    )
    result = run_camapp("check-config", "--no-env", path)
    assert result.code == USAGE and result.stdout == "" and "Traceback" not in result.stderr
    errors = errors_of(result)
    expected = [
        ("duplicate key 'http.jpeg_quality'", "line 9 and line 10"),
        ("model.threads", "line 4"),
        ("model.task", "line 5"),
        ("model.top_k", "line 6"),
        ("model.treads", "line 7"),
        ("mqtt.qos", "line 12"),
    ]
    assert len(errors) == len(expected), result.stderr
    for key, line in expected:
        assert any(key in e and f"{path} {line}" in e for e in errors), (key, line, errors)
    assert any("'auto', 'classify' or 'detect'" in e for e in errors), "each error keeps its allowed values"
    assert result.stderr.splitlines()[-1] == f"camapp: {path}: 6 errors"


def test_one_problem_still_has_its_count_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  threads: 0\n")
    result = run_camapp("check-config", "--no-env", path)
    assert_one_line_error(result, USAGE, "model.threads", f"{path} line 2")
    assert result.stderr.splitlines()[-1] == f"camapp: {path}: 1 error"


def test_unknown_camapp_variables_are_among_the_errors(tmp_path: Path) -> None:
    typo = "CAMAPP_HTTP_TOKEN".replace("TOKEN", "TOKN")  # not spelled out: the repository scan would flag it
    result = run_camapp("check-config", write(tmp_path, "model:\n  threads: 0\n"), env={typo: "x"})
    errors = errors_of(result)
    assert result.code == USAGE and len(errors) == 2, result.stderr
    assert any(typo in e and "did you mean CAMAPP_HTTP_TOKEN?" in e and "docs/config.md" in e for e in errors)


def test_the_files_a_config_names_must_exist(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"source:\n  uri: {tmp_path}/clip.mp4\nmodel:\n  name: {tmp_path}/my.tflite\n  labels: {tmp_path}/labels.txt\n"
        f"  mirror: {tmp_path}/mirror\nmqtt:\n  cafile: {tmp_path}/ca.pem\n",
    )
    result = run_camapp("check-config", "--no-env", path)
    errors = errors_of(result)
    assert result.code == USAGE and len(errors) == 5, result.stderr
    for key, line, missing in [
        ("source.uri", 2, "clip.mp4"),
        ("model.name", 4, "my.tflite"),
        ("model.labels", 5, "labels.txt"),
        ("model.mirror", 6, "mirror"),
        ("mqtt.cafile", 8, "ca.pem"),
    ]:
        assert any(f"config key '{key}' ({path} line {line})" in e and missing in e for e in errors), (key, errors)


def test_a_relative_path_says_what_it_is_relative_to(tmp_path: Path) -> None:
    result = run_camapp("check-config", "--no-env", write(tmp_path, "model:\n  labels: labels.txt\n"))
    assert_one_line_error(result, USAGE, "model.labels", "'labels.txt' does not exist (relative to ")


def test_a_glob_must_match_something_and_a_model_id_must_be_known(tmp_path: Path) -> None:
    result = run_camapp("check-config", "--no-env", write(tmp_path, f"source:\n  uri: '{tmp_path}/*.jpg'\nmodel:\n  name: mobilenet_v9\n"))
    errors = errors_of(result)
    assert len(errors) == 2, result.stderr
    assert any("source.uri" in e and "no files match" in e for e in errors)
    assert any("model.name" in e and "unknown model 'mobilenet_v9'" in e for e in errors)


@pytest.mark.parametrize("uri", ["picam", "picam:1", "0", "/dev/video7", "rtsp://cam.lan/stream", "https://cam.lan/video.mjpg"])
def test_cameras_and_urls_are_not_files(tmp_path: Path, uri: str) -> None:
    result = run_camapp(
        "check-config", "--no-env", "-q", write(tmp_path, f"source:\n  uri: '{uri}'\nmodel:\n  name: mobilenet_v2_1.0_224_quant\n")
    )
    assert result.code == 0, result.stderr


def test_files_that_exist_pass(tmp_path: Path, images_dir: Path) -> None:
    (tmp_path / "my.tflite").write_bytes(b"")
    (tmp_path / "labels.txt").write_text("cat\n")
    path = write(
        tmp_path,
        f"source:\n  uri: '{images_dir}/*'\nmodel:\n  name: {tmp_path}/my.tflite\n  labels: {tmp_path}/labels.txt\n  mirror: {tmp_path}\n",
    )
    assert run_camapp("check-config", "--no-env", "-q", path).code == 0
    assert run_camapp("check-config", "--no-env", "-q", write(tmp_path, f"source:\n  uri: {images_dir}\n")).code == 0


def test_credentials_are_used_masked_and_their_origin_shown(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "http_token").write_text("cred-token-123\n")
    (creds / "mqtt_password").write_text("cred-pass-456\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds), "CAMAPP_MQTT_PASSWORD": "env-pass-789"}
    result = run_camapp("check-config", write(tmp_path, "mqtt:\n  host: broker.lan\n"), env=env)
    assert result.code == 0, result.stderr
    for secret in ("cred-token-123", "cred-pass-456", "env-pass-789"):
        assert secret not in result.stdout
    cfg = yaml.safe_load(result.stdout)
    assert cfg["http"]["token"] == "***" and cfg["mqtt"]["password"] == "***"
    assert f"# http.token from credential {creds / 'http_token'}" in result.stdout
    assert "# mqtt.password from environment variable CAMAPP_MQTT_PASSWORD" in result.stdout


def test_no_env_ignores_credentials_too(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "http_token").write_text("\n")  # empty: an error, if it were read
    result = run_camapp("check-config", "--no-env", write(tmp_path, ""), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert result.code == 0 and yaml.safe_load(result.stdout)["http"]["token"] is None


def test_the_effective_config_masks_a_password_in_the_source_url(tmp_path) -> None:
    config = tmp_path / "camapp.yaml"
    config.write_text("source:\n  uri: rtsp://admin:hunter2@cam.lan/live?token=t0k\nmodel:\n  name: ssd_mobilenet_v1_coco_quant\n")
    result = run_camapp("check-config", str(config))
    assert result.code == 0, result.stderr
    assert "rtsp://admin:***@cam.lan/live?token=***" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr and "t0k" not in result.stdout + result.stderr
