"""The report: the JSON keys the issue promises, an HTML page that opens offline, CLI and library agree."""

from __future__ import annotations

import json
import re

from interpret.cli import main
from interpret.context import open_checkpoint
from interpret.report import ReportSettings, build_report

SMALL = ReportSettings(max_samples=96, n_bootstrap=4, n_null=3, gradient_samples=16)


def test_report_summary_and_page(sentiment_checkpoint, tmp_path):
    context = open_checkpoint(sentiment_checkpoint)
    page, summary = build_report(context, SMALL)
    assert summary["checkpoint"]["sha256"] == context.checkpoint.sha256
    for name in ("language", "acoustic", "visual"):
        info = summary["information"][name]
        assert {"shared_mi", "modality_mi", "ratio", "ratio_low", "ratio_high"} <= set(info)
        assert info["ratio_low"] <= info["ratio"] <= info["ratio_high"]
        assert len(summary["gradients"][name]["shared"]) == 20
    assert set(summary["faithfulness"]["trained"]["auroc"]) == {"language", "acoustic"}
    assert summary["settings"]["seed"] == 0 and "torch" in summary["versions"]
    # Self-contained: no script is fetched from the network.
    assert not re.search(r"<script[^>]+src=", page)
    assert "plotly" in page.lower() and context.checkpoint.sha256 in page
    json.dumps(summary)  # JSON-ready


def test_cli_writes_the_same_numbers(sentiment_checkpoint, tmp_path):
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    args = [
        str(sentiment_checkpoint),
        "--out",
        str(out),
        "--json",
        str(js),
        "--samples",
        "96",
        "--bootstrap",
        "4",
        "--null",
        "3",
        "--gradient-samples",
        "16",
    ]
    assert main(["report", *args]) == 0
    written = json.loads(js.read_text())
    _, summary = build_report(open_checkpoint(sentiment_checkpoint), SMALL)
    assert written["information"] == summary["information"]  # bit-identical for one seed
    assert written["gradients"] == summary["gradients"]
    assert out.read_text().startswith("<!doctype html>")


def test_a_checkpoint_trained_on_another_version_of_the_generated_data_is_refused(
    sentiment_checkpoint, tmp_path, capsys
):
    import pytest

    from mfm.checkpoint import load_checkpoint, save_checkpoint
    from mfm.cli import main as mfm_main
    from mfm.data.registry import FIRST_RECORDED_VERSION
    from mfm.data.sentiment import GENERATOR_VERSION
    from mfm.errors import DataError

    loaded = load_checkpoint(sentiment_checkpoint)
    assert loaded.metadata["data_generator_version"] == GENERATOR_VERSION  # `train` records it

    def saved(name: str, **changes) -> str:
        metadata = {k: v for k, v in {**loaded.metadata, **changes}.items() if v is not None}
        return str(save_checkpoint(tmp_path / name, loaded.model, metadata))

    older = saved("older.pt", data_generator_version=GENERATOR_VERSION - 1)
    with pytest.raises(
        DataError, match=rf"version {GENERATOR_VERSION - 1} of the generated data set 'sentiment'"
    ):
        open_checkpoint(older)
    assert mfm_main(["evaluate", older, "--limit", "8"]) == 2  # `evaluate` checks it too
    assert f"version {GENERATOR_VERSION - 1} of the generated data set" in capsys.readouterr().err
    # no version recorded: trained before `train` recorded it, so on an older version
    first = FIRST_RECORDED_VERSION["sentiment"]
    with pytest.raises(DataError, match=rf"a version before {first} of the generated data set 'sentiment'"):
        open_checkpoint(saved("unrecorded.pt", data_generator_version=None))
    with pytest.raises(DataError, match=r"whole number"):
        open_checkpoint(saved("odd.pt", data_generator_version="three"))
    open_checkpoint(saved("as_text.pt", data_generator_version=str(GENERATOR_VERSION)))  # a JSON config's "3"
