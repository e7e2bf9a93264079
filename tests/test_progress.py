"""The one progress type: a stage of a job reports its own units as its share of the caller's bar."""

from __future__ import annotations

from mfm.progress import RESOLUTION, stage, terminal_bar


def test_a_stage_maps_its_units_onto_its_share_of_the_job():
    calls = []
    report = stage(lambda *a: calls.append(a), 2, 1, 4, "gradients: ")
    report(5, 10, "language")
    report(10, 10, "visual")
    report(12, 10, "past the end")  # clipped to the stage's end
    assert calls == [
        (int(2.5 * RESOLUTION), 4 * RESOLUTION, "gradients: language"),
        (3 * RESOLUTION, 4 * RESOLUTION, "gradients: visual"),
        (3 * RESOLUTION, 4 * RESOLUTION, "gradients: past the end"),
    ]
    calls.clear()
    stage(lambda *a: calls.append(a), 0, 2, 5)(0, 0, "nothing to do")  # no work counts as done
    assert calls == [(2 * RESOLUTION, 5 * RESOLUTION, "nothing to do")]
    assert stage(None, 0, 1, 1) is None


def test_nested_stages_move_the_outer_bar_once_from_start_to_end():
    seen = []
    outer = stage(lambda done, total, what: seen.append(done / total), 1, 1, 2)
    inner = [stage(outer, i, 1, 3) for i in range(3)]
    for part in inner:
        for done in range(1, 5):
            part(done, 4, "")
    assert seen == sorted(seen) and abs(seen[0] - (0.5 + 1 / 24)) < 1e-3 and seen[-1] == 1.0


def test_the_terminal_bar_is_a_progress_callback_and_closes(capsys):
    with terminal_bar("work") as update:
        update(1, 2, "half")
        update(2, 2, "done")
    assert capsys.readouterr().err == ""  # not a terminal here: no bar lines in a log
