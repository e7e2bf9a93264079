"""Every shipped demo's report summary is exactly the one recorded before the restructuring (issue 17).

tests/data/reports holds the JSON the report CLI wrote for each demo (see tests/data/make_report_references.py);
the report is rebuilt here with the same default settings and one thread (torch and BLAS) and must produce the same text, character
for character, apart from its creation time. A change that moves any number, key or label fails this test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from interpret.context import open_checkpoint
from interpret.report import ReportSettings, build_report

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "data" / "reports"


@pytest.mark.parametrize("demo", ["sentiment_mfm", "digits_mfm_paper", "digits_mfm_improved"])
def test_report_summary_is_unchanged(demo, monkeypatch, data_cache):
    expected = (REFERENCES / f"{demo}.json").read_text()
    monkeypatch.chdir(ROOT)  # the summary records the checkpoint's path as given, relative to the root
    context = open_checkpoint(f"assets/checkpoints/{demo}.pt")
    with threadpool_limits(limits=1, user_api="blas"):  # what the CLI's --threads 1 sets (mfm/threads.py)
        _, summary = build_report(context, ReportSettings())
    summary["created"] = json.loads(expected)["created"]
    assert json.dumps(summary, indent=2) == expected
