"""The arrangement a bench measured best, remembered per model file and core count for `auto`."""

from __future__ import annotations

from camapp.app import choose_arrangement
from camapp.config import load_config
from camapp.pipeline.arrangements import Remembered, recall, remember


def choice(**changes: object) -> Remembered:
    fields: dict[str, object] = dict(model="m.tflite", sha256="ab" * 32, cores=4, workers=2, threads=2, fps=41.5,
                                     measured="2026-11-30", source="768x432 people.mp4")
    fields.update(changes)
    return Remembered(**fields)  # type: ignore[arg-type]


def test_a_remembered_choice_is_found_for_the_same_file_and_core_count_only(tmp_path):
    path = tmp_path / "arrangements.json"
    remember(choice(), path)
    remember(choice(sha256="cd" * 32, workers=4, threads=1), path)  # a second model keeps the first
    assert recall("ab" * 32, 4, (path,)) == choice()
    assert recall("cd" * 32, 4, (path,)).workers == 4  # type: ignore[union-attr]
    assert recall("ab" * 32, 2, (path,)) is None  # measured on 4 cores: says nothing about 2
    assert recall("ef" * 32, 4, (path,)) is None  # a replaced model file is measured again
    assert oct(path.stat().st_mode & 0o777) == "0o644"  # the service's user reads what root wrote


def test_the_users_file_wins_and_a_damaged_or_impossible_entry_is_ignored(tmp_path):
    user, system = tmp_path / "user.json", tmp_path / "system.json"
    remember(choice(workers=1, threads=4), system)
    remember(choice(workers=2, threads=2), user)
    assert recall("ab" * 32, 4, (user, system)).workers == 2  # type: ignore[union-attr]
    user.write_text("{not json")
    assert recall("ab" * 32, 4, (user, system)).workers == 1  # type: ignore[union-attr]
    system.write_text('{"' + "ab" * 32 + '/4": {"workers": 8, "threads": 2}}')
    assert recall("ab" * 32, 4, (user, system)) is None  # incomplete, and 8 x 2 would not fit 4 cores


def test_auto_uses_the_remembered_choice_for_throughput_but_not_for_a_camera_one_invoke_keeps_up_with():
    auto = load_config(None, env={})
    measured = choice()
    on_a_file = choose_arrangement(auto, None, None, cores=4, remembered=measured)
    assert (on_a_file.workers, on_a_file.threads) == (2, 2) and "measured best by camapp bench pipeline on 2026-11-30" in on_a_file.why
    slow_camera = choose_arrangement(auto, 10.0, 8.5, cores=4, remembered=measured)
    assert (slow_camera.workers, slow_camera.threads) == (1, 4)  # latency: one interpreter on every core
    fixed = load_config(None, env={}, overrides={"model.threads": 1})
    assert choose_arrangement(fixed, None, None, cores=4, remembered=measured).threads == 1  # the config wins
