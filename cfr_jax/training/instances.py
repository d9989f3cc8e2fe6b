"""Many instances of a run as processes, one per `<workdir>/instance_<k>`."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import ml_collections

from cfr_jax.training.config import (ConfigError, EXIT_COMPLETE, EXIT_FAILURE,
                                     EXIT_INTERRUPTED, EXIT_USAGE, _instance_configs)


def run_instances(config, workdir: str) -> int:
  """Runs each instance as its own process in `<workdir>/instance_<k>`.

  A SIGINT/SIGTERM to this process is passed on to every instance (as
  SIGUSR1), which saves and exits; a failure in one does not stop the others.
  """
  configs = _instance_configs(config)
  children = []
  for k, c in enumerate(configs):
    d = os.path.join(workdir, f'instance_{k}')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'config.json'), 'w') as f:
      f.write(c.to_json(indent=1))
    log = open(os.path.join(d, 'log.txt'), 'a')
    # Own session: a terminal's Ctrl-C reaches only us, and we forward it once.
    proc = subprocess.Popen([sys.executable, '-m', 'cfr_jax.training', d], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    children.append((k, proc, log))
    print(f'instance {k}: pid {proc.pid}, {d}', flush=True)

  def forward(signum, frame):
    del signum, frame
    for _, proc, _ in children:
      if proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)  # a graceful stop that never escalates

  codes = {}
  with contextlib.ExitStack() as stack:
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous = signal.signal(sig, forward)
      stack.callback(signal.signal, sig, previous)
    while len(codes) < len(children):
      for k, proc, log in children:
        if k not in codes and proc.poll() is not None:
          codes[k] = proc.returncode
          log.close()
          print(f'instance {k}: {_describe_exit(proc.returncode)}', flush=True)
      time.sleep(0.2)
  if all(c == EXIT_COMPLETE for c in codes.values()):
    return EXIT_COMPLETE
  if all(c in (EXIT_COMPLETE, EXIT_INTERRUPTED) for c in codes.values()):
    return EXIT_INTERRUPTED
  return EXIT_FAILURE


def _describe_exit(code: int) -> str:
  if code < 0:
    return f'killed by {signal.Signals(-code).name}; rerun to resume from its last checkpoint'
  return {EXIT_COMPLETE: 'completed', EXIT_INTERRUPTED: 'interrupted (resumable)',
          EXIT_USAGE: 'configuration error'}.get(code, f'failed (exit code {code})')


def _instance_main(workdir: str) -> int:
  """Entry of one instance process started by `run_instances`."""
  with open(os.path.join(workdir, 'config.json')) as f:
    config = ml_collections.ConfigDict(json.load(f))
  try:
    from cfr_jax.training import loop  # pylint: disable=g-import-not-at-top
    return loop.run(config, workdir)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE


