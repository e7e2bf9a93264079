"""The layers go one way: mfm/ <- interpret/ <- app.py + pages/. Only the UI imports streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_library_layers_never_import_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("mfm", "interpret")
        for p in (ROOT / folder).rglob("*.py")
        if "streamlit" in imported_modules(p)
    ]
    assert offenders == []


def test_mfm_does_not_import_interpret_or_the_ui():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "mfm").rglob("*.py")
        if imported_modules(p) & {"interpret", "pages", "app"}
    ]
    assert offenders == []


def test_pages_hold_no_model_or_estimator_code():
    pages = [ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    assert len(pages) > 1
    for page in pages:
        assert not imported_modules(page) & {"torch", "sklearn", "captum", "scipy"}, page.name


def test_importing_the_library_loads_no_streamlit():
    code = "import sys, mfm, interpret.report, interpret.analysis; print('streamlit' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "False"
