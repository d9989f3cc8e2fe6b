"""bench/gpu_check.sh --quick: the GPU benchmark script's CPU smoke run (~40 s on 2 cores)."""
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOAT = r'\d+(?:\.\d+)?(?:e[+-]\d+)?'


def test_gpu_check_quick(tmp_path):
  out = tmp_path / 'results.md'
  env = dict(os.environ, PYTHON=sys.executable)
  env.pop('JAX_ENABLE_X64', None)
  proc = subprocess.run(['bash', os.path.join(REPO, 'bench', 'gpu_check.sh'), '--quick',
                         f'--out={out}'], cwd=tmp_path, env=env, capture_output=True,
                        text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  text = proc.stdout
  # The river's row: config, size, infosets, build s, compile s, it/s, then the targets.
  assert re.search(rf'^\| river: river\([^)]*\) \| 16 x \d+ \(none\) \| [\d,]+ \| {FLOAT} \| '
                   rf'{FLOAT} \| {FLOAT} \| ', text, re.M), text
  assert re.search(rf'^\| `leduc` \| 9,457 \| 936 \| 3 \| {FLOAT} \| {FLOAT} \| [\d,]+ \| ',
                   text, re.M), text
  # The sampled step's rows: ES-MCCFR's, and Deep CFR's with and without its training.
  row = rf'\| {FLOAT} \| [\d,.]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ MiB \((?:RSS|device)\) \|$'
  assert re.search(r'^\| es-mccfr \| kuhn \| batch_size=64 \| iteration ' + row, text, re.M), text
  for what in ('iteration', 'sampling'):
    assert re.search(rf'^\| deep-cfr \| kuhn \| [^|]+ \| {what} ' + row, text, re.M), text
  assert 'river: done' in text and 'leduc: done' in text and 'sampled: done' in text, text
  # Both sections landed in --out, with the machine and the command.
  written = out.read_text()
  for label in ('river', 'leduc', 'sampled'):
    assert f'## Run: gpu_check: {label}, cpu (cpu)' in written, written
  assert 'Command: `python bench/holdem.py --targets=0.5,0.1 --configs=river' in written
  assert 'command: `python bench/speed.py --quick --sections=sizes --sizes=leduc' in written
  assert 'timed out' not in written and 'failed' not in written, written


def test_gpu_check_refuses_an_unknown_step(tmp_path):
  proc = subprocess.run(['bash', os.path.join(REPO, 'bench', 'gpu_check.sh'), '--quick',
                         '--only=river,flp'], cwd=tmp_path, capture_output=True, text=True,
                        timeout=60, check=False)
  assert proc.returncode == 2, proc.stdout + proc.stderr
  assert 'unknown step in --only: flp' in proc.stderr, proc.stderr
