"""Hands the memory a long XLA compilation leaves behind back to the system.

Compiling a big program (a flop subgame's chunk: ~80 s) allocates gigabytes
of small, short-lived objects in glibc's heap. Freed, they stay in the
process (glibc returns only the top of its heap), so the program's own
buffers are then allocated on top of them: on the flop config the process
held 4.06 GB after compiling (1.59 GB before) and peaked at 7.85 GB in its
first iteration; `malloc_trim(0)` right after the compilation gives 1.66 GB
back, and the peak falls to 6.19 GB (`python bench/memory_phases.py`,
bench/RESULTS.md).

`watch_compilations()` (called when cfr_jax is imported) trims after every
compilation that took at least `MIN_COMPILE_SECONDS`, before the program
first runs: JAX reports each backend compilation as it ends, and a jitted
call compiles, then executes. Quick compilations leave little and are not
worth a trim. Where the C library has no `malloc_trim` (not glibc), nothing
is done.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import jax

MIN_COMPILE_SECONDS = 1.0
_EVENT = '/jax/core/compile/backend_compile_duration'
_state = {'watching': False, 'trims': 0}


def _libc_trim():
  """`malloc_trim` of the process's C library, or None where there is none."""
  try:
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    trim = libc.malloc_trim
  except (OSError, AttributeError):
    return None
  trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
  return trim


_TRIM = _libc_trim()


def release_free_memory() -> bool:
  """Returns the C heap's free pages to the system; False where unsupported."""
  if _TRIM is None:
    return False
  _TRIM(0)
  _state['trims'] += 1
  return True


def _on_event(event: str, duration: float, **_) -> None:
  if event == _EVENT and duration >= MIN_COMPILE_SECONDS:
    release_free_memory()


def watch_compilations() -> None:
  """Trims after each long compilation from now on (idempotent)."""
  if not _state['watching']:
    jax.monitoring.register_event_duration_secs_listener(_on_event)
    _state['watching'] = True


def trims() -> int:
  """How many trims this process has done (for tests and reports)."""
  return _state['trims']
