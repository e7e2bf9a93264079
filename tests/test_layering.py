"""The layers go one way: mfm/ <- interpret/ <- app.py + pages/. Only the UI imports streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_names(path: Path) -> set[str]:
    """The dotted names of every module `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from mfm.eval import x`
    return names


def imported_modules(path: Path) -> set[str]:
    """The top-level packages `path` imports."""
    return {name.split(".")[0] for name in imported_names(path)}


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
        assert "nn.Module" not in page.read_text(encoding="utf-8"), page.name


def test_interpret_does_not_import_the_classifiers():
    """Interpretation reads a model; judging generated images with independent classifiers is evaluation."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "interpret").rglob("*.py")
        if any(
            n == "mfm.eval.classifiers" or n.startswith("mfm.eval.classifiers.") for n in imported_names(p)
        )
    ]
    assert offenders == []


def test_every_interpret_module_serves_the_report_or_its_cli():
    """interpret/ holds methods, figures and the report: each of its modules is reached from the report's CLI,
    none exists for the app alone (the app's bookkeeping is pages/bookkeeping.py)."""
    reached, todo = set(), ["interpret.cli"]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        path = ROOT / (module.replace(".", "/") + ".py")
        todo += [
            n
            for n in imported_names(path)
            if n.startswith("interpret.") and (ROOT / (n.replace(".", "/") + ".py")).exists()
        ]
    modules = {
        f"interpret.{p.stem}"
        for p in (ROOT / "interpret").glob("*.py")
        if p.stem not in ("__init__", "__main__")
    }
    assert modules - reached == set()


def test_importing_the_library_loads_no_streamlit():
    code = "import sys, mfm, interpret.report, interpret.analysis; print('streamlit' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "False"
