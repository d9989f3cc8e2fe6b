"""Files replaced whole: a reader (or a crash) sees the old file or the new one."""
from __future__ import annotations

import contextlib
import errno
import os
import threading

_WRITING = set()  # the temporary paths `replacing` is writing now


@contextlib.contextmanager
def replacing(path: str):
  """Yields a temporary path beside `path` to write; renamed over `path` when
  the block completes, removed if it raises (the exception propagates): a
  failed or interrupted write (a full disk, a kill) leaves any earlier file
  whole. The name holds the process and thread (a signal handler's thread
  may write while the main thread does)."""
  directory = os.path.dirname(path) or '.'
  if not os.path.isdir(directory):  # (the error named the temporary file, '<path>.tmp.<pid>...')
    raise FileNotFoundError(errno.ENOENT, f'cannot write {path}: no directory {directory}')
  if os.path.isdir(path):  # (os.replace's IsADirectoryError named the temporary file)
    raise IsADirectoryError(errno.EISDIR, f'cannot write {path}: it is a directory')
  part = f'{path}.tmp.{os.getpid()}.{threading.get_ident()}'
  _WRITING.add(part)
  try:
    yield part
    os.replace(part, path)
  finally:
    with contextlib.suppress(OSError):
      os.remove(part)
    _WRITING.discard(part)


def remove_partial() -> None:
  """Removes the temporary files `replacing` is writing now, for an exit that
  skips `finally` blocks (`os._exit` on a second signal): no half-written
  file is left behind."""
  for part in list(_WRITING):
    with contextlib.suppress(OSError):
      os.remove(part)
