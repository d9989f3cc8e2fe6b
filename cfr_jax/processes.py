"""Whether a process of this host still runs (no JAX: cfr-status imports it)."""
import os


def alive(pid) -> bool:
  """Whether process `pid` (as a progress or lock file holds it: any JSON
  value) runs on this host. A zombie, killed and not reaped yet by its
  parent, still answers signal 0 and read as running; a pid <= 0 names a
  process group, not a process."""
  try:
    pid = int(pid)
    if pid <= 0:
      return False
    os.kill(pid, 0)
  except PermissionError:  # alive, another user's
    return True
  except (OSError, TypeError, ValueError, OverflowError):
    return False
  try:  # Linux says which in /proc
    with open(f'/proc/{pid}/stat') as f:
      return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
  except (OSError, IndexError):
    return True
