"""The notebooks run end to end, headless, against a real run's artifacts.

Parameters are injected papermill-style: a cell placed right after the one tagged
``parameters`` sets the config, the overrides and the run to read.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, CompletedRun

pytestmark = pytest.mark.slow
NOTEBOOKS = REPO / "notebooks"


def execute(name: str, run: CompletedRun, output_dir: Path, run_id: str | None) -> str:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    position = next(i for i, cell in enumerate(book.cells)
                    if "parameters" in cell.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        f"config_path = {run.config.source_file!r}\n"
        f"overrides = {run.config.overrides!r}\n"
        f"run_id = {run_id!r}")
    injected.metadata["tags"] = ["injected-parameters"]
    book.cells.insert(position + 1, injected)
    NotebookClient(book, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO)}}).execute()
    nbformat.write(book, output_dir / name)
    return "\n".join(
        output.get("text", "") for cell in book.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "stream")


def _images(path: Path) -> int:
    """Figures the executed notebook holds as PNG outputs."""
    book = nbformat.read(path, as_version=4)
    return sum(1 for cell in book.cells if cell.cell_type == "code" for o in cell.outputs
               if o.get("output_type") == "display_data" and "image/png" in o.get("data", {}))


def test_validation_review_notebook(completed_run: CompletedRun, tmp_path: Path) -> None:
    text = execute("validation_review.ipynb", completed_run, tmp_path, None)
    assert f"run {completed_run.run_id}: pushed" in text  # None picked the newest run
    assert "anomalies: 0" in text
    assert "features per split: {'eval': 18, 'train': 18}" in text
    assert "histograms drawn: " in text and "histograms drawn: 0" not in text
    assert "TFDV re-validation of the train split: 0 anomalous feature(s)" in text
    assert _images(tmp_path / "validation_review.ipynb") >= 1


def test_model_analysis_notebook(completed_run: CompletedRun, tmp_path: Path) -> None:
    text = execute("model_analysis.ipynb", completed_run, tmp_path, completed_run.run_id)
    assert "blessed: True" in text
    overall_auc = float(text.split("overall auc: ")[1].split()[0])
    assert 0.7 < overall_auc <= 1.0
    assert "TFMA validation ok: True" in text
    slices = int(text.split("slices: ")[1].split()[0])
    assert slices > 2  # Overall plus payment_type and trip_start_hour slices
    assert _images(tmp_path / "model_analysis.ipynb") >= 1
