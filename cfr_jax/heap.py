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
import functools
import gc

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


def forget_traces(jitted) -> bool:
  """Drops the traces (jaxprs) that JAX keeps of a `jax.jit` function once
  it has compiled them; its compiled programs stay. True if it dropped any
  (then their memory is collected and returned to the system).

  JAX keeps each jitted function's jaxprs, one per argument signature, for
  as long as the function lives, so that it can lower them again without
  tracing. A call with a signature it has already compiled dispatches from
  JAX's C++ cache and never reads them, and a subgame chunk's jaxpr is big:
  on the flop config dropping it returned 92 MB (bench/RESULTS.md, "Traces
  dropped after compiling"). A new signature traces afresh, as it would
  the first time. Only for functions without side effects (callbacks):
  JAX calls those through Python, which would trace them again. `jit`
  makes jitted functions that call this after every call.

  JAX has no public call for this (`clear_cache()` drops the compiled
  programs too), so this evicts the function from two caches of the pinned
  jax version, and does nothing where they are not there.
  """
  fun = getattr(jitted, '_fun', None)
  try:
    from jax._src import pjit  # pylint: disable=g-import-not-at-top
    from jax._src.interpreters import partial_eval  # pylint: disable=g-import-not-at-top
    caches = (partial_eval.trace_to_jaxpr, pjit._infer_params_cached)  # pylint: disable=protected-access
    size = lambda: sum(cache.cache_info().currsize for cache in caches)
    before = size()
    for cache in caches:
      cache.evict_weakref(fun)
    dropped = size() < before
  except (ImportError, AttributeError, TypeError):
    return False
  if dropped:  # a jaxpr is a graph of many small objects, some in cycles
    gc.collect()
    release_free_memory()
  return dropped


class _Forgetful:
  """A jitted function that drops its traces after every call."""

  def __init__(self, jitted):
    self._jitted = jitted
    functools.update_wrapper(self, jitted)

  def __call__(self, *args, **kwargs):
    out = self._jitted(*args, **kwargs)
    forget_traces(self._jitted)  # compiled now; its jaxpr is not read again
    return out

  def __getattr__(self, name):  # lower, trace, _fun, _cache_size, ...
    return getattr(self._jitted, name)


def jit(fun, **kwargs):
  """`jax.jit(fun, **kwargs)` whose traces are dropped after each call
  (`forget_traces`; a call that compiled nothing drops nothing). For
  cfr_jax's own top-level programs, which have no callbacks."""
  return _Forgetful(jax.jit(fun, **kwargs))


def trims() -> int:
  """How many trims this process has done (for tests and reports)."""
  return _state['trims']
