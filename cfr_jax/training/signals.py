"""Stop signals: a graceful stop on the first, an immediate exit on the second.

| signal  | first                              | second (SIGINT, SIGTERM or SIGHUP)     |
|---------|------------------------------------|----------------------------------------|
| SIGINT  | save at the iteration reached, 75  | exit at once (75), last checkpoint kept |
| SIGTERM | the same                           | the same                               |
| SIGHUP  | the same (a closed terminal)       | the same                               |
| SIGUSR1 | the same, and it never escalates   | -                                      |

Signals are counted off the main thread: the C-level handler writes every
delivery into a wakeup pipe (`signal.set_wakeup_fd`), and a watcher thread
reads it. Python's own handlers run only on the main thread between
bytecodes, so two signals that land while a long XLA call holds the main
thread would be merged into one, and a second signal would wait for the call
to end; read from the pipe, each counts, and the second exits at once.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

from cfr_jax import atomic
from cfr_jax import cli
from cfr_jax.training.config import EXIT_INTERRUPTED

_NAMES = {s: s.name for s in signal.Signals}


def _detach_from_terminal() -> None:
  """After SIGHUP the terminal is gone and writing to it fails (EIO): point
  stdout and stderr at /dev/null so that the save and exit go on quietly."""
  try:
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
      if os.isatty(fd):
        os.dup2(null, fd)
    os.close(null)
  except OSError:
    pass


def exit_process(code) -> None:
  """Ends a launcher process with `code` (sys.exit's meaning: None is 0, a
  string is printed and 1) after the atexit handlers, without the
  interpreter's teardown.

  Why: teardown frees the device arrays that live jitted functions, caches
  and modules still hold, and on XLA:CPU that raced the runtime's threads:
  about every other env Deep CFR process aborted there (SIGABRT, "exception
  not rethrown"; gdb: in ~PyArray_Storage) after a clean save, so job
  scripts saw 134 instead of 0 or 75. Nothing is lost by skipping it: the
  run has waited for its checkpoints and closed its progress and metrics
  files before returning; atexit handlers (logging, jax.distributed) run.
  """
  if code is None:
    code = 0
  elif not isinstance(code, int):
    cli.say(str(code))
    code = 1
  try:
    atexit._run_exitfuncs()  # pylint: disable=protected-access
  finally:
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except (OSError, ValueError):
        pass
    os._exit(code)  # pylint: disable=protected-access


def exit_at_once_on_signals() -> None:
  """Before and after a run (start-up, shut-down), a stop signal has nothing
  to save: exit with the interrupted code and one line, never a traceback.
  Launchers call it first thing; `StopSignals` returns to it afterwards."""
  cli.exit_at_once_on_signals(' (nothing in progress to save)',
                              (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1))


class StopSignals:
  """`received` becomes the first stop signal's name; the loop polls it.

  sigterm=False leaves SIGTERM alone: under jax.distributed it is JAX's
  preemption notice (see `loop._Processes`). `on_exit_now` callbacks run,
  best effort, before a second signal's immediate exit (progress.json then
  says `interrupted`).
  """

  def __init__(self, sigterm: bool = True):
    self.received = None
    self.on_exit_now = []
    self._signals = (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1) + (
        (signal.SIGTERM,) if sigterm else ())
    self._previous = {}
    self._pipe = None
    self._previous_fd = None

  def __enter__(self) -> 'StopSignals':
    if threading.current_thread() is not threading.main_thread():
      # Signal handlers can only be set from the main thread (a notebook
      # worker thread): stops then come only from KeyboardInterrupt.
      return self
    read, write = os.pipe()
    os.set_blocking(write, False)
    self._pipe = (read, write)
    for sig in self._signals:
      self._previous[sig] = signal.signal(sig, lambda signum, frame: None)
    self._previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    threading.Thread(target=self._watch, name='cfr_jax-signals', daemon=True).start()
    return self

  def _watch(self) -> None:
    read = self._pipe[0]
    while True:
      try:
        data = os.read(read, 64)
      except OSError:
        return
      if not data:  # __exit__ closed the write end
        os.close(read)
        return
      for signum in data:
        if signum in self._signals:
          self.handle(signum)

  def handle(self, signum: int) -> None:
    name = _NAMES.get(signum, str(signum))
    if signum == signal.SIGHUP:
      _detach_from_terminal()
    if self.received is not None and signum == signal.SIGUSR1:
      return  # never escalates
    if self.received is not None and self.received != 'SIGUSR1':
      cli.say(f'second signal ({name}): exiting now, the last complete checkpoint is kept')
      for callback in self.on_exit_now:
        try:
          callback()
        except Exception:  # pylint: disable=broad-except
          pass
      atomic.remove_partial()  # a progress.json the main thread was writing
      os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access
    # A SIGUSR1 stop (from a parent or a job script) is overtaken by a direct
    # SIGINT/SIGTERM, which then counts as the first: a process signalled both
    # by its cluster and by its parent still saves.
    self.received = name
    again = ('it never escalates; SIGINT or SIGTERM after it asks the same, and a second '
             'one exits at once' if signum == signal.SIGUSR1 else
             'send SIGINT/SIGTERM again to exit at once')
    cli.say(f'{name}: saving at the iteration reached, then exiting (code '
         f'{EXIT_INTERRUPTED}); {again}')

  def __exit__(self, *exc) -> None:
    if self._pipe is None:
      return
    signal.set_wakeup_fd(self._previous_fd if self._previous_fd is not None else -1)
    for sig, handler in self._previous.items():
      signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    os.close(self._pipe[1])  # the watcher reads EOF, closes its end and ends
    self._pipe = None
