"""Many instances of a run as processes, one per `<workdir>/instance_<k>`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import ml_collections

from cfr_jax import heap
from cfr_jax.training.config import (ConfigError, EXIT_COMPLETE, EXIT_FAILURE,
                                     EXIT_INTERRUPTED, EXIT_USAGE, _instance_configs,
                                     _instances)
from cfr_jax.training.outputs import replace_config, write_json_atomic, write_text_atomic
from cfr_jax.training.signals import StopSignals, exit_at_once_on_signals


_PARENT_ENV = 'CFR_JAX_PARENT_PID'
_LOCK_WAIT_SECONDS = 120  # a killed parent's children save before they exit


def run_instances(config, workdir: str) -> int:
  """Runs each instance as its own process in `<workdir>/instance_<k>`.

  A first SIGINT/SIGTERM/SIGHUP to this process is passed on to every
  instance (as SIGUSR1), which saves and exits; a second kills them at once
  (their last complete checkpoints are kept) and marks them interrupted. A
  failure in one instance does not stop the others. The children die with
  this process however it dies (SIGKILL included): each asks the kernel for a
  SIGUSR1 when its parent goes (`_die_with_parent`), saves and exits.
  """
  check_memory(config)
  configs = _instance_configs(config)
  children = []
  env = {**os.environ, _PARENT_ENV: str(os.getpid()),
         'CFR_JAX_LOCK_WAIT': str(_LOCK_WAIT_SECONDS)}
  with StopSignals() as signals:
    for k, c in enumerate(configs):
      d = os.path.join(workdir, f'instance_{k}')
      os.makedirs(d, exist_ok=True)
      replace_config(d, c.to_json(indent=1))  # a config it replaces: kept for the instance
      log = open(os.path.join(d, 'log.txt'), 'a')
      # Own session: a terminal's Ctrl-C reaches only us, and we forward it once.
      proc = subprocess.Popen([sys.executable, '-m', 'cfr_jax.training', d], stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True, env=env)
      children.append((k, proc, log, d))
      print(f'instance {k}: pid {proc.pid}, {d}', flush=True)
    signals.on_exit_now.append(lambda: _kill_children(children))
    codes, forwarded, started = {}, False, set()
    while len(codes) < len(children):
      for k, proc, _, d in children:
        if k not in started and _say_how_it_started(k, proc.pid, d):
          started.add(k)
      if signals.received is not None and not forwarded:
        forwarded = True
        for _, proc, _, _ in children:
          if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)  # a graceful stop that never escalates
      for k, proc, log, _ in children:
        if k not in codes and proc.poll() is not None:
          codes[k] = proc.returncode
          log.close()
          # Why, where it failed ('configuration error' alone left the reason in its log).
          why = (f': {_error_line(d)}' if proc.returncode in (EXIT_USAGE, EXIT_FAILURE)
                 else '')
          print(f'instance {k}: {_describe_exit(proc.returncode)}{why}', flush=True)
      time.sleep(0.1)
  if all(c == EXIT_USAGE for c in codes.values()):  # the config's mistake (a game, ...)
    raise ConfigError(f'instance 0: {_error_line(children[0][3])}')
  if all(c == EXIT_COMPLETE for c in codes.values()):
    return EXIT_COMPLETE
  if all(c in (EXIT_COMPLETE, EXIT_INTERRUPTED) for c in codes.values()):
    return EXIT_INTERRUPTED
  return EXIT_FAILURE


# The least an instance process holds (Python, JAX and its runtime, a small
# game): a count of instances that cannot fit in memory is a mistake.
_PROCESS_BYTES = 200 * 2**20


def check_memory(config) -> None:
  """ConfigError when the instances' processes could not all fit in the
  memory available (num_instances=100000 started processes until the
  machine ground to a halt)."""
  count, values = _instances(config)  # counted, not built: 100000 configs take a while
  field = f'config.sweep_values ({count} values)' if values else f'config.num_instances={count}'
  available = heap.available_memory()
  if available is not None and count * _PROCESS_BYTES > available:
    raise ConfigError(
        f'{field} would start {count} processes, each holding at least '
        f'{_PROCESS_BYTES / 2**20:.0f} MB, where {available / 2**30:.1f} GB of memory is '
        f'available: run at most {max(1, available // _PROCESS_BYTES)} here, or set '
        "config.instances_mode='vmap' (one process)")


def _say_how_it_started(k: int, pid: int, workdir: str) -> bool:
  """Whether instance k (process `pid`) has said how it started in its
  progress.json; if it started afresh though checkpoints were there, a line
  here says so: only its log did ('STARTING FRESH'), so a sweep rerun with
  its values in another order restarted every instance in silence."""
  try:
    with open(os.path.join(workdir, 'progress.json')) as f:
      progress = json.load(f)
  except (OSError, ValueError):  # not written yet (or half: atomic writes make that rare)
    return False
  if not isinstance(progress, dict) or progress.get('pid') != pid:
    return False  # the file of an earlier run
  rejected = progress.get('rejected') or []
  if progress.get('restored_from') is None and rejected:
    print(f'instance {k}: STARTING FRESH: none of the {len(rejected)} checkpoint(s) there '
          'could be restored (another sweep value or setting?); they are kept; why: '
          f'{os.path.join(workdir, "log.txt")}', flush=True)
  return True


def _error_line(workdir: str) -> str:
  """The 'error: ...' line an instance's log ends with, without 'error: '."""
  try:
    with open(os.path.join(workdir, 'log.txt'), errors='replace') as f:
      lines = [line.strip() for line in f if line.startswith('error: ')]
  except OSError:
    lines = []
  return lines[-1].removeprefix('error: ') if lines else f'see {workdir}/log.txt'


def _kill_children(children) -> None:
  """A second signal: the children stop now, progress.json says interrupted."""
  for _, proc, _, _ in children:
    if proc.poll() is None:
      proc.kill()
  for _, proc, _, d in children:
    proc.wait()
    path = os.path.join(d, 'progress.json')
    try:
      with open(path) as f:
        progress = json.load(f)
      if progress.get('status') in ('running', 'starting'):
        progress['status'] = 'interrupted'
        write_json_atomic(path, progress)
    except (OSError, ValueError):
      pass


def _die_with_parent() -> None:
  """Has this instance stop (SIGUSR1: save, exit 75) when its parent dies.

  Linux delivers the signal itself (PR_SET_PDEATHSIG); elsewhere a thread
  watches the parent pid. SIGUSR1, the stop that never escalates: Linux
  delivers the parent-death signal once per thread that asked for it (JAX's
  threads inherit the setting), and a second SIGTERM would exit unsaved.
  Set here, after exec, rather than in a preexec_fn, which is unsafe in a
  parent that runs threads (JAX's).
  """
  parent = int(os.environ.get(_PARENT_ENV, '0') or 0)
  if not parent:
    return
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    libc = ctypes.CDLL(None, use_errno=True)
    by_kernel = libc.prctl(1, signal.SIGUSR1, 0, 0, 0) == 0  # PR_SET_PDEATHSIG = 1
  except (OSError, AttributeError):
    by_kernel = False
  if os.getppid() != parent:  # it died before prctl took effect
    os.kill(os.getpid(), signal.SIGUSR1)
    return
  if by_kernel:
    return

  def watch():
    while os.getppid() == parent:
      time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGUSR1)
  threading.Thread(target=watch, name='cfr_jax-parent', daemon=True).start()


def _describe_exit(code: int) -> str:
  if code < 0:
    return f'killed by {signal.Signals(-code).name}; rerun to resume from its last checkpoint'
  return {EXIT_COMPLETE: 'completed', EXIT_INTERRUPTED: 'interrupted (resumable)',
          EXIT_USAGE: 'configuration error'}.get(code, f'failed (exit code {code})')


def _instance_main(args: list) -> int:
  """Entry of one instance process started by `run_instances`: args, its
  instance directory (holding the config.json the parent wrote)."""
  exit_at_once_on_signals()  # until the run's own handlers take over
  _die_with_parent()
  workdir = args[0] if len(args) == 1 else ''
  try:  # 'python -m cfr_jax.training --config=kuhn', taken for the trainer, was a traceback
    with open(os.path.join(workdir, 'config.json')) as f:
      config = ml_collections.ConfigDict(json.load(f))
  except (OSError, ValueError, TypeError, AttributeError) as e:
    print(f'error: python -m cfr_jax.training <instance directory> is the process cfr-train '
          f'starts for each instance ({" ".join(args) or "no directory"}: {type(e).__name__}); '
          'to train, run cfr-train (or python -m launch.train) with --config and --workdir',
          file=sys.stderr)
    return EXIT_USAGE
  try:
    from cfr_jax.training import loop  # pylint: disable=g-import-not-at-top
    return loop.run(config, workdir)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE


