"""Files replaced whole: a reader (or a crash) sees the old file or the new one."""
from __future__ import annotations

import contextlib
import os
import threading


@contextlib.contextmanager
def replacing(path: str):
  """Yields a temporary path beside `path` to write; renamed over `path` when
  the block completes, removed if it raises (the exception propagates): a
  failed or interrupted write (a full disk, a kill) leaves any earlier file
  whole. The name holds the process and thread (a signal handler's thread
  may write while the main thread does)."""
  part = f'{path}.tmp.{os.getpid()}.{threading.get_ident()}'
  try:
    yield part
    os.replace(part, path)
  finally:
    with contextlib.suppress(OSError):
      os.remove(part)
