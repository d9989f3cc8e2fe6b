"""notebooks/quickstart.ipynb runs headless, top to bottom, as a Colab user runs it."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, 'notebooks', 'quickstart.ipynb')


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
  nbformat = pytest.importorskip('nbformat')
  nbclient = pytest.importorskip('nbclient')
  pytest.importorskip('ipykernel')
  pytest.importorskip('phevaluator')
  # The kernel inherits this environment: this checkout's cfr_jax, on the CPU.
  monkeypatch.setenv('PYTHONPATH', REPO)
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
  monkeypatch.delenv('MPLBACKEND', raising=False)  # the kernel's inline backend
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(nb, timeout=300, kernel_name='python3',
                                   resources={'metadata': {'path': str(tmp_path)}})
  client.execute()  # raises CellExecutionError, with the cell and its traceback
  text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code'
                   for o in c.get('outputs', []))
  images = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert len(images) == 1  # the exploitability plot
  assert 'cfr_jax is already installed' in text  # the install cell was a no-op
  assert 'resumed from iteration 400 -> now at 800' in text
  assert 'of the pot' in text and "node 'kb10'" in text
  # the files it wrote landed in its working directory
  assert (tmp_path / 'runs' / 'quickstart' / 'progress.json').exists()
  assert (tmp_path / 'leduc_policy.json').stat().st_size > 0
