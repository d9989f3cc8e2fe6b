"""Running the launcher as users do: real processes on real files (shared by tests)."""
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'PYTHONUNBUFFERED': '1', 'JAX_PLATFORMS': 'cpu'}


def start(workdir, *overrides, config='configs/kuhn.py', **popen):
  return subprocess.Popen(
      [sys.executable, '-m', 'launch.train', f'--config={config}', f'--workdir={workdir}',
       *overrides], cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, **popen)


def finish(proc, timeout=240):
  out, err = proc.communicate(timeout=timeout)
  return proc.returncode, out, err


def train(workdir, *overrides, **kwargs):
  return finish(start(workdir, *overrides, **kwargs))


def progress(workdir):
  with open(os.path.join(workdir, 'progress.json')) as f:
    return json.load(f)


def wait_for(predicate, timeout=120, every=0.05):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    try:
      if predicate():
        return True
    except (OSError, ValueError, KeyError, TypeError):
      pass  # not written yet
    time.sleep(every)
  raise AssertionError('timed out waiting')


def steps(workdir):
  d = os.path.join(workdir, 'checkpoints')
  return sorted(int(n) for n in os.listdir(d) if n.isdigit())
