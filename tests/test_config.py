"""The config: one schema, file < environment < command line, errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from camapp.config import ENV_DOCS, NON_CONFIG_ENV, Config, effective_config, env_keys, inspect_config, load_config
from camapp.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def test_defaults_live_in_the_schema():
    cfg = load_config(env={})
    assert cfg == Config()
    assert cfg.model.threads == "auto" and cfg.pipeline.workers == "auto" and cfg.model.task == "auto" and cfg.output.show is False


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
    assert data["model"]["name"] == "x" and data["model"]["threads"] == "auto"
    assert set(data) == set(Config.model_fields)


# -- duplicate keys ---------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "camapp.yaml"
    path.write_text(text)
    return str(path)


def test_a_key_written_twice_is_an_error_naming_it_and_both_lines(tmp_path):
    path = write(tmp_path, "model:\n  threads: 1\n  top_k: 3\n  threads: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "duplicate key 'model.threads'" in str(err.value)
    assert f"{path} line 2 and line 4" in str(err.value)


def test_a_section_written_twice_is_a_duplicate_too(tmp_path):
    with pytest.raises(ConfigError, match=r"duplicate key 'model' \(.* line 1 and line 5\)"):
        load_config(write(tmp_path, "model:\n  threads: 1\nsource:\n  uri: picam\nmodel:\n  top_k: 2\n"), env={})


def test_the_same_key_in_different_sections_is_no_duplicate(tmp_path):
    cfg = load_config(write(tmp_path, "http:\n  jpeg_quality: 70\nsnapshots:\n  jpeg_quality: 95\n"), env={})
    assert (cfg.http.jpeg_quality, cfg.snapshots.jpeg_quality) == (70, 95)


def test_overriding_a_merged_key_is_what_merge_keys_are_for(tmp_path):
    text = "x-defaults: &d {reconnect_min: 1, reconnect_max: 10}\n"
    text += "mqtt:\n  <<: *d\n  reconnect_max: 20\n"
    # The anchor's own section is unknown, and that is the only complaint: no duplicate.
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert "unknown config key 'x-defaults'" in str(err.value) and "duplicate" not in str(err.value)


# -- unknown CAMAPP_* variables ---------------------------------------------------------------------

# Spelled from the real name so the scan of the repository below does not find a typo here.
TYPO = "CAMAPP_MODEL_THREADS".removesuffix("S")


def test_an_unknown_camapp_variable_names_itself_the_closest_name_and_the_list():
    with pytest.raises(ConfigError) as err:
        load_config(env={TYPO: "4"})
    msg = str(err.value)
    assert f"unknown environment variable {TYPO}" in msg
    assert "did you mean CAMAPP_MODEL_THREADS?" in msg and ENV_DOCS in msg
    assert "\n" not in msg


def test_a_far_off_name_still_gets_the_closest_known_one():
    with pytest.raises(ConfigError, match=r"closest known name: CAMAPP_\w+"):
        load_config(env={"CAMAPP_" + "ZZZZZZZZZZZZZZ": "1"})


@pytest.mark.parametrize("name", sorted(NON_CONFIG_ENV))
def test_the_non_config_camapp_variables_are_allowed(name):
    assert load_config(env={name: "x"}) == Config()


def test_other_variables_are_none_of_our_business():
    assert load_config(env={"HOME": "/x", "camapp_model_threads": "9", "XCAMAPP_FOO": "1"}) == Config()


REPO = Path(__file__).resolve().parent.parent
SCANNED = ("camapp", "scripts", "tests", ".ci", "systemd", "docs", "configs", "benchmarks")
NAME = re.compile(r"\bCAMAPP_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])")


def _camapp_names_in_repo() -> dict[str, str]:
    found: dict[str, str] = {}
    files = [REPO / "README.md", *(p for d in SCANNED for p in sorted((REPO / d).rglob("*")) if p.is_file())]
    for path in files:
        if "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name in NAME.findall(text):
            found.setdefault(name, str(path.relative_to(REPO)))
    return found


def test_every_camapp_variable_the_repository_uses_is_a_config_key_or_on_the_one_allow_list():
    names = _camapp_names_in_repo()
    assert "CAMAPP_RUNTIME" in names and "CAMAPP_MODEL_MIRROR" in names, "the scan must find the known ones"
    stray = {name: where for name, where in names.items() if name not in env_keys() and name not in NON_CONFIG_ENV}
    assert not stray, f"add these to NON_CONFIG_ENV in camapp/config.py (and docs/config.md), or fix them: {stray}"


def test_the_documented_list_names_every_valid_variable():
    doc = (REPO / ENV_DOCS).read_text(encoding="utf-8")
    missing = [name for name in [*env_keys(), *NON_CONFIG_ENV] if f"`{name}`" not in doc]
    assert not missing, f"{ENV_DOCS} does not list {missing}"


# -- no bools for numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("model:\n  threads: true\n", "model.threads"),
        ("model:\n  top_k: yes\n", "model.top_k"),
        ("model:\n  threshold: false\n", "model.threshold"),
        ("source:\n  width: no\n", "source.width"),
        ("mqtt:\n  qos: true\n", "mqtt.qos"),
        ("snapshots:\n  max_files: on\n", "snapshots.max_files"),
    ],
)
def test_a_yes_no_where_a_number_belongs_is_an_error(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert f"config key '{key}'" in str(err.value) and "line 2" in str(err.value)
    assert "not true/false/yes/no" in str(err.value)


def test_a_yes_no_from_the_environment_is_no_number_either():
    with pytest.raises(ConfigError, match=r"model.threads.*CAMAPP_MODEL_THREADS.*not true/false/yes/no"):
        load_config(env={"CAMAPP_MODEL_THREADS": "true"})


def test_numbers_from_the_environment_are_still_numbers():
    cfg = load_config(env={"CAMAPP_MODEL_THREADS": "4", "CAMAPP_MQTT_QOS": "2", "CAMAPP_SNAPSHOTS_MAX_MB": "12.5"})
    assert cfg.model.threads == 4 and cfg.mqtt.qos == 2 and cfg.snapshots.max_mb == 12.5


def test_yes_no_settings_still_take_yes_and_no(tmp_path):
    cfg = load_config(write(tmp_path, "source:\n  loop: yes\nmqtt:\n  tls: on\n  discovery: no\n"), env={})
    assert cfg.source.loop is True and cfg.mqtt.tls is True and cfg.mqtt.discovery is False


# -- environment values: text as written, typed settings by their type ------------------------------

AWKWARD = ["#t0k&n", "null", "~", "0123", "abc #def", " spaced ", "yes", "1e3", "[a, b]", "{x: 1}"]


@pytest.mark.parametrize("token", AWKWARD)
def test_the_http_token_from_the_environment_is_exactly_the_text_given(token):
    assert load_config(env={"CAMAPP_HTTP_TOKEN": token}).http.token == token


@pytest.mark.parametrize("password", AWKWARD)
def test_the_mqtt_password_from_the_environment_is_exactly_the_text_given(password):
    assert load_config(env={"CAMAPP_MQTT_PASSWORD": password}).mqtt.password == password


def test_other_text_settings_are_taken_as_written_too():
    cfg = load_config(env={"CAMAPP_SOURCE_URI": "0", "CAMAPP_MQTT_CAMERA": "shelf: left 2", "CAMAPP_HTTP_LISTEN": "8080"})
    assert cfg.source.uri == "0" and cfg.mqtt.camera == "shelf: left 2" and cfg.http.listen == "8080"


def test_an_empty_variable_is_unset_and_never_turns_a_token_off(tmp_path):
    cfg = load_config(write(tmp_path, "http:\n  token: from-file\n"), env={"CAMAPP_HTTP_TOKEN": "", "CAMAPP_MODEL_THREADS": ""})
    assert cfg.http.token == "from-file" and cfg.model.threads == "auto"  # empty: the default


def test_typed_settings_from_the_environment_follow_their_type():
    cfg = load_config(
        env={
            "CAMAPP_LOG_LEVELS": "{camapp.sources: debug}",
            "CAMAPP_EVENTS_LABELS": "person, yes",
            "CAMAPP_MQTT_LABELS": "[car, bus]",
            "CAMAPP_OUTPUT_SHOW": "yes",
        }
    )
    assert cfg.log.levels == {"camapp.sources": "debug"}
    assert cfg.events.labels == ["person", "yes"] and cfg.mqtt.labels == ["car", "bus"] and cfg.output.show is True


def test_a_choice_from_the_environment_is_checked_as_written():
    with pytest.raises(ConfigError, match=r"CAMAPP_MODEL_BACKBONE.*got 'null'"):
        load_config(env={"CAMAPP_MODEL_BACKBONE": "null"})


# -- systemd credentials ----------------------------------------------------------------------------


def credentials(tmp_path: Path, **files: str) -> dict[str, str]:
    folder = tmp_path / "credentials"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, newline="")
    return {"CREDENTIALS_DIRECTORY": str(folder)}


def test_credentials_give_the_token_and_the_password(tmp_path):
    cfg = load_config(env=credentials(tmp_path, http_token="#t0k&n\n", mqtt_password="0123\n"))
    assert cfg.http.token == "#t0k&n" and cfg.mqtt.password == "0123"


def test_only_one_trailing_newline_is_stripped(tmp_path):
    cfg = load_config(env=credentials(tmp_path, http_token=" two lines\nand a blank\n\n", mqtt_password="no newline"))
    assert cfg.http.token == " two lines\nand a blank\n" and cfg.mqtt.password == "no newline"


def test_a_value_set_on_purpose_wins_over_the_credential(tmp_path):
    env = credentials(tmp_path, http_token="credential", mqtt_password="credential")
    path = write(tmp_path, "mqtt:\n  password: from-yaml\n")
    cfg = load_config(path, env={**env, "CAMAPP_HTTP_TOKEN": "from-env"})
    assert cfg.http.token == "from-env" and cfg.mqtt.password == "from-yaml"
    assert load_config(path, env=env, overrides={"mqtt.password": "from-cli"}).mqtt.password == "from-cli"


def test_without_a_credentials_directory_or_file_nothing_changes(tmp_path):
    assert load_config(env=credentials(tmp_path)) == Config()
    (tmp_path / "http_token").write_text("lying around")
    assert load_config(env={}).http.token is None, "only $CREDENTIALS_DIRECTORY is read, never the current folder"


def test_an_empty_credential_is_an_error_not_an_open_door(tmp_path):
    with pytest.raises(ConfigError, match=r"credential .*http_token is empty"):
        load_config(env=credentials(tmp_path, http_token="\n"))


def test_credentials_are_masked_like_every_secret(tmp_path):
    data = effective_config(load_config(env=credentials(tmp_path, http_token="t", mqtt_password="p")))
    assert data["http"]["token"] == "***" and data["mqtt"]["password"] == "***"


# -- every problem at once -------------------------------------------------------------------------


def test_inspect_collects_every_problem_with_its_key_and_line(tmp_path):
    path = write(tmp_path, "model:\n  threads: 0\n  task: segment\n  treads: 2\nmqtt:\n  qos: 5\n  qos: 1\n")
    check = inspect_config(path, env={TYPO: "1", "CAMAPP_HTTP_STREAM_FPS": "fast"})
    assert check.config is None
    lines = [str(p) for p in check.problems]
    assert len(lines) == 6, lines
    assert any("duplicate key 'mqtt.qos'" in ln and "line 6 and line 7" in ln for ln in lines)
    assert any("model.threads" in ln and "line 2" in ln for ln in lines)
    assert any("model.task" in ln and "line 3" in ln and "'auto', 'classify' or 'detect'" in ln for ln in lines)
    assert any("model.treads" in ln and "line 4" in ln and "allowed keys here" in ln for ln in lines)
    assert any("http.stream_fps" in ln and "environment variable CAMAPP_HTTP_STREAM_FPS" in ln for ln in lines)
    assert any(TYPO in ln for ln in lines)


def test_load_config_still_says_one_line_and_how_many_more(tmp_path):
    path = write(tmp_path, "model:\n  threads: 0\n  top_k: 0\n  threshold: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    msg = str(err.value)
    assert "\n" not in msg and "model.threads" in msg and "2 more problem(s)" in msg and f"camapp check-config {path}" in msg
