"""Stop signals: a graceful stop on the first, an immediate exit on the second."""
from __future__ import annotations

import signal
import sys
import os

from cfr_jax.training.config import EXIT_INTERRUPTED


class StopSignals:
  """First SIGINT/SIGTERM asks the loop to save and stop; a second exits at once.

  SIGUSR1 asks for the same graceful stop but never escalates: job scripts and
  the multi-instance parent forward stops with it, so a process signalled
  both directly (a cluster preempting every process of a job) and by its
  parent still saves.

  sigterm=False leaves SIGTERM alone: under jax.distributed it is JAX's
  preemption notice (see `_Processes`).
  """

  def __init__(self, sigterm: bool = True):
    self.received = None
    self._previous = {}
    self._signals = (signal.SIGINT, signal.SIGUSR1) + ((signal.SIGTERM,) if sigterm else ())

  def __enter__(self):
    for sig in self._signals:
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.received is not None and signum == signal.SIGUSR1:
      return
    if self.received is not None and self.received != 'SIGUSR1':
      sys.stderr.write(f'second signal ({signal.Signals(signum).name}): exiting now, '
                       'the last complete checkpoint is kept\n')
      os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access
    self.received = signal.Signals(signum).name
    sys.stderr.write(f'{self.received}: saving at the iteration reached, then exiting '
                     f'(code {EXIT_INTERRUPTED}); send it again to exit at once\n')

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

