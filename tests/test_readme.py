"""Every ```python block of README.md runs verbatim, so the README never rots."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': REPO}


def python_blocks():
  with open(os.path.join(REPO, 'README.md')) as f:
    text = f.read()
  return re.findall(r'^```python\n(.*?)^```$', text, flags=re.M | re.S)


def test_the_readme_has_python_blocks():
  blocks = python_blocks()
  assert len(blocks) >= 2
  assert all('import cfr_jax' in b for b in blocks)  # each runs on its own


@pytest.mark.parametrize('index', range(len(python_blocks())))
def test_readme_block_runs(tmp_path, index):
  """In a fresh process, in an empty directory where the files it writes land."""
  block = python_blocks()[index]
  if 'holdem' in block:
    pytest.importorskip('phevaluator')
  if 'to_openspiel' in block:
    pytest.importorskip('pyspiel')
  proc = subprocess.run([sys.executable, '-c', block], cwd=tmp_path, env=ENV,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, f'README block {index} failed:\n{block}\n{proc.stderr}'
  for name in re.findall(r'save_\w+\("([^"]+)"\)', block):
    assert (tmp_path / name).stat().st_size > 0, name
