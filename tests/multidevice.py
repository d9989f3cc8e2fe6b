"""Runs test bodies in a fresh Python with N simulated CPU devices.

The device count is fixed when JAX's backend starts, and the test process has
started it already (conftest.py), so multi-device checks run as subprocesses
with `XLA_FLAGS=--xla_force_host_platform_device_count=N`.
"""
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env(devices: int | None = 8) -> dict:
  """The environment of a child process with `devices` CPU devices (None: 1)."""
  out = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONUNBUFFERED': '1'}
  flags = [f for f in out.get('XLA_FLAGS', '').split()
           if not f.startswith('--xla_force_host_platform_device_count')]
  if devices:
    flags.append(f'--xla_force_host_platform_device_count={devices}')
  out['XLA_FLAGS'] = ' '.join(flags)
  out['PYTHONPATH'] = os.pathsep.join([REPO, out.get('PYTHONPATH', '')])
  return out


def run_python(code: str, devices: int | None = 8, timeout: float = 300) -> str:
  """Runs `code` (dedented) in a child process; returns its stdout.

  Raises AssertionError with the child's output if it exits non-zero, so a
  failing assert inside `code` fails the calling test with its traceback.
  """
  proc = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=REPO,
                        env=env(devices), capture_output=True, text=True, timeout=timeout)
  if proc.returncode != 0:
    raise AssertionError(f'child exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}'
                         f'\n--- stderr\n{proc.stderr[-6000:]}')
  return proc.stdout
