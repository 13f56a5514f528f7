"""Fuzzing what users (and downloads) hand to camapp: only the documented errors, never a traceback.

Each parser gets random and half-valid input from hypothesis. The contract is the one cli.main
relies on: a result, or a CamappError subclass with a one-line message (ConfigError for config
files, ModelError for models and labels, UsageError for source strings). Any other exception
would reach the user as "internal error".
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camapp.config import Config, load_config
from camapp.errors import ConfigError, ModelError, UsageError
from camapp.inference.labels import Labels, labels_from_metadata, parse_labels, read_labels_file
from camapp.inference.model import read_model_file
from camapp.sources.spec import SourceSpec, parse_source

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def one_line(exc: Exception) -> None:
    assert str(exc) and "\n" not in str(exc).strip(), repr(str(exc))


# -- config files ---------------------------------------------------------------------------------

SECTIONS = list(Config.model_fields)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=20))
yaml_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3), max_leaves=8
)


def _yaml_text(data: object) -> str:
    import yaml

    return yaml.safe_dump(data, allow_unicode=True)


@FUZZ
@given(text=st.text(max_size=300))
def test_any_text_as_a_config_file_loads_or_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "camapp.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        assert isinstance(load_config(str(path), env={}), Config)
    except ConfigError as exc:
        one_line(exc)


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from([*SECTIONS, "bogus"]), st.dictionaries(st.text(max_size=15), yaml_values, max_size=4) | yaml_values, max_size=4
    )
)
def test_config_shaped_yaml_loads_or_is_a_config_error_naming_a_line(tmp_path: Path, data: dict[str, object]) -> None:
    path = tmp_path / "camapp.yaml"
    path.write_text(_yaml_text(data), encoding="utf-8")
    try:
        load_config(str(path), env={})
    except ConfigError as exc:
        one_line(exc)
        assert "line " in str(exc), str(exc)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_binary_junk_as_a_config_file_is_a_config_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "camapp.yaml"
    path.write_bytes(raw)
    try:
        load_config(str(path), env={})
    except ConfigError as exc:
        one_line(exc)


@FUZZ
@given(
    env=st.dictionaries(
        st.sampled_from(
            [
                "CAMAPP_MODEL_THREADS",
                "CAMAPP_SERVICE_STALL_TIMEOUT",
                "CAMAPP_LOG_LEVELS",
                "CAMAPP_SOURCE_URI",
                "CAMAPP_SERVICE_RECONNECT_MIN",
                "CAMAPP_PIPELINE_EVERY",
            ]
        ),
        st.text(max_size=30),
        max_size=3,
    )
)
def test_any_environment_value_loads_or_is_a_config_error(env: dict[str, str]) -> None:
    try:
        load_config(None, env=env)
    except ConfigError as exc:
        one_line(exc)


# -- label files ----------------------------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_parses_as_labels_or_is_a_model_error(text: str) -> None:
    try:
        labels = parse_labels(text, "fuzz.txt")
    except ModelError as exc:
        one_line(exc)
        return
    assert isinstance(labels, Labels) and len(labels) > 0
    labels.name(0), labels.name(10**6)  # noqa: B018 - lookups of any id work


@FUZZ
@given(raw=st.binary(max_size=400))
def test_any_bytes_as_a_labels_file_read_or_are_a_model_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(raw)
    try:
        read_labels_file(str(path))
    except ModelError as exc:
        one_line(exc)


# -- .tflite files and their metadata ------------------------------------------------------------


@pytest.fixture(scope="module")
def real_model(models_dir: Path) -> bytes:
    return (models_dir / "mobilenet_v1_0.25_128_quant.tflite").read_bytes()


@FUZZ
@given(raw=st.binary(max_size=600))
def test_any_bytes_as_a_model_file_are_refused_with_a_model_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(raw)
    with pytest.raises(ModelError) as refused:  # what the name says: accepted bytes fail the test
        read_model_file(str(path))
    one_line(refused.value)


@FUZZ
@given(cut=st.integers(0, 525_598), flips=st.lists(st.tuples(st.integers(0, 525_597), st.integers(0, 255)), max_size=8))
def test_a_damaged_real_model_is_read_or_refused_with_a_model_error(
    tmp_path: Path, real_model: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(real_model[:cut] if cut else real_model)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(data))
    try:
        read_model_file(str(path))
    except ModelError as exc:
        one_line(exc)


@FUZZ
@given(raw=st.binary(max_size=600))
def test_metadata_labels_from_any_bytes_are_labels_none_or_a_model_error(raw: bytes) -> None:
    try:
        result = labels_from_metadata(raw, "fuzz.tflite")
    except ModelError as exc:
        one_line(exc)
        return
    assert result is None or isinstance(result, Labels)


def _zip(members: dict[str, bytes], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buf.getvalue()


@FUZZ
@given(
    members=st.dictionaries(
        st.sampled_from(["labels.txt", "labelmap.txt", "x.txt", "meta.json", "LABELS.TXT"]), st.binary(max_size=200), max_size=3
    ),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    damage=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=4),
)
def test_model_metadata_archives_even_damaged_give_labels_none_or_a_model_error(
    members: dict[str, bytes], method: int, damage: list[tuple[int, int]]
) -> None:
    # A .tflite with metadata is a flatbuffer followed by a zip: fuzz the zip part, whole or damaged.
    data = bytearray(b"\x1c\x00\x00\x00TFL3" + bytes(24) + _zip(members, method))
    for pos, value in damage:
        if pos < len(data):
            data[pos] = value
    try:
        result = labels_from_metadata(bytes(data), "fuzz.tflite")
    except ModelError as exc:
        one_line(exc)
        return
    assert result is None or isinstance(result, Labels)


# -- the source string ---------------------------------------------------------------------------

source_like = st.one_of(
    st.text(max_size=60),
    st.from_regex(
        r"\A(picam(era)?(:\d{0,3})?|\d{1,4}|/dev/video\d{0,3}|(rtsp|http|https|ftp|file|x)://[^\s]{0,20}|[*?\[\]a-z./~]{1,20})\Z"
    ),
)


@FUZZ
@given(text=source_like)
def test_any_source_string_parses_or_is_a_usage_error(text: str) -> None:
    try:
        spec = parse_source(text)
    except UsageError as exc:
        if not any(ch in text for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
            one_line(exc)  # the message quotes the string as given: one line unless the string has several
        return
    assert isinstance(spec, SourceSpec) and spec.kind in ("picamera", "webcam", "video", "images", "stream")
