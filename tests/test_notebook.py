"""The quickstart notebook runs end to end (documentation examples are tests)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKSTART_ROOT", str(tmp_path / "root"))
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "Gentoo" in outputs
    assert (tmp_path / "root" / "serving" / "1" / "saved_model.pb").is_file()
