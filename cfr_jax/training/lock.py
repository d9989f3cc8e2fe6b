"""One live launcher per workdir.

Two launchers writing one workdir would interleave saves, retention and
progress files, and one of them would die on the other's files. So a run
holds `<workdir>/.lock` for its whole life: an exclusive `flock` that the
kernel releases when the process dies however it dies (SIGKILL included), so
a lock left by a killed run never blocks the next one. The file also names
its holder (pid, host, start time, command) for the refusal message and for
`launch.status`.

File systems that do not support `flock` (some network mounts) fall back to
an exclusive-create pid file, whose holder is checked for liveness when it is
on this host; a holder on another host is trusted until its file is older
than `stale_seconds` without a refresh (a thread of the holder touches it
every quarter of that).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time

from cfr_jax import processes
from cfr_jax.training.config import ConfigError

LOCK_NAME = '.lock'


class WorkdirLocked(ConfigError):
  """Another live process holds the workdir (one line, exit code 1)."""


def _describe(holder: dict) -> str:
  started = holder.get('started')
  when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started)) if started else '?'
  return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
          f"started {when}")


def read_holder(workdir: str) -> dict | None:
  """The holder recorded in `<workdir>/.lock` (it may have died since), or None."""
  return _read_holder_file(os.path.join(workdir, LOCK_NAME))


def _read_holder_file(path: str) -> dict | None:
  try:
    with open(path) as f:
      value = json.loads(f.read() or 'null')
  except (OSError, ValueError):
    return None
  return value if isinstance(value, dict) else None


class WorkdirLock:
  """`with WorkdirLock(workdir):` holds the workdir or raises WorkdirLocked."""

  def __init__(self, workdir: str, stale_seconds: float = 3600.0):
    self.workdir = os.path.abspath(workdir)
    self.path = os.path.join(self.workdir, LOCK_NAME)
    self.stale_seconds = stale_seconds
    self._fd = None
    self._pidfile = False
    self._holder = {'pid': os.getpid(), 'host': socket.gethostname(),
                    'started': time.time(), 'argv': sys.argv[:8]}

  def acquire(self, wait_seconds: float = 0.0) -> 'WorkdirLock':
    """Takes the lock, waiting up to `wait_seconds` for a live holder to end
    (a child instance whose dead parent's previous child is still saving)."""
    deadline = time.monotonic() + wait_seconds
    said = False
    while True:
      try:
        return self._acquire_once()
      except WorkdirLocked as e:
        if time.monotonic() >= deadline:
          raise
        if not said:
          print(f'waiting up to {wait_seconds:.0f} s: {e}', file=sys.stderr, flush=True)
          said = True
        time.sleep(0.5)

  def _acquire_once(self) -> 'WorkdirLock':
    try:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise ConfigError(f'cannot create the lock file {self.path}: '
                        f'{e.strerror or e}') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise self._refusal(read_holder(self.workdir)) from None
      return self._acquire_pidfile()  # no flock on this file system
    self._fd = fd
    self._write(fd)
    return self

  def _refusal(self, holder) -> WorkdirLocked:
    who = _describe(holder) if holder else 'another process'
    return WorkdirLocked(f'workdir {self.workdir} is in use by a running launcher '
                         f'({who}); wait for it, stop it, or choose another --workdir')

  def _acquire_pidfile(self) -> 'WorkdirLock':
    path = self.path + '.pid'
    for _ in range(2):
      try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
      except FileExistsError:
        holder = _read_holder_file(path)
        if holder and not self._stale(holder, path):
          raise self._refusal(holder) from None
        os.remove(path)  # its holder is gone: take it over
        continue
      self._fd, self._pidfile = fd, True
      self._write(fd)
      threading.Thread(target=self._keep_fresh, name='cfr_jax-lock', daemon=True).start()
      return self
    raise self._refusal(_read_holder_file(path))

  def _stale(self, holder: dict, path: str) -> bool:
    if holder.get('host') == socket.gethostname():
      return not processes.alive(holder.get('pid'))
    try:
      return time.time() - os.path.getmtime(path) > self.stale_seconds
    except OSError:
      return True

  def _write(self, fd: int) -> None:
    data = json.dumps(self._holder).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)

  def _keep_fresh(self) -> None:
    """Marks a pid-file lock as alive while it is held."""
    while self._fd is not None:
      try:
        os.utime(self.path + '.pid')
      except OSError:
        pass
      time.sleep(self.stale_seconds / 4)

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      if self._pidfile:
        os.remove(self.path + '.pid')
      else:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
    except OSError:
      pass
    os.close(self._fd)
    self._fd = None

  close = release

  def __enter__(self) -> "WorkdirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
