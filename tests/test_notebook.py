"""experiments/notebooks/quickstart.ipynb runs top to bottom (tiny settings, small corpus)."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from starjax import ROOT
from tests.data import samples

NOTEBOOK = os.path.join(ROOT, "experiments", "notebooks", "quickstart.ipynb")


@pytest.mark.slow
def test_quickstart_notebook_runs_top_to_bottom(tmp_path):
  sources = tmp_path / "sources"
  samples.write_source_tree(sources)
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
  assert len(parameters) == 1
  parameters[0].source = "\n".join([
      f"MODEL_DIR = '{tmp_path / 'model'}'", "TRAIN_STEPS = 3",
      f"DATA_DIR = '{tmp_path / 'data'}'", f"CORPUS_ROOTS = ['{sources}']",
      "SYSTEM_TREES = False", "NUM_PROBLEMS = 2"])
  client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": os.path.join(ROOT, "experiments",
                                                                        "notebooks")}})
  client.execute()
  outputs = {i: "".join(o.get("text", "") for o in cell.get("outputs", []))
             for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
  text = "\n".join(outputs.values())
  assert "step 3" in text
  assert "def fibonacci(n):" in text
  assert (tmp_path / "model" / "eval" / "notebook" / "summary.json").exists()
  images = [o for c in notebook.cells for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
  assert len(images) >= 2  # the loss curve and the pass@k chart
