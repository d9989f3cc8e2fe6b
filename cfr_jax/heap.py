"""Hands the memory a long XLA compilation leaves behind back to the system.

Compiling a big program (a flop subgame's chunk: ~80 s) allocates gigabytes
of small, short-lived objects in glibc's heap. Freed, they stay in the
process (glibc returns only the top of its heap), so the program's own
buffers are then allocated on top of them: on the flop config the process
held 4.06 GB after compiling (1.59 GB before) and peaked at 7.85 GB in its
first iteration; `malloc_trim(0)` right after the compilation gives 1.66 GB
back, and the peak falls to 6.19 GB (`python bench/memory_phases.py`,
bench/RESULTS.md).

`watch_compilations()` (called when this module is imported: every module
of cfr_jax that compiles imports it) trims after every compilation that took
at least `MIN_COMPILE_SECONDS`, before the program first runs: JAX reports
each backend compilation as it ends, and a jitted call compiles, then
executes. Quick compilations leave little and are not worth a trim. Where
the C library has no `malloc_trim` (not glibc), nothing is done.

Dropping a program's traces once it is compiled (`forget_traces`,
`drop_lowering`) frees them with a full garbage collection only where
tracing and lowering that function took at least `MIN_TRACE_SECONDS`: a
collection costs ~50-100 ms in a process that has imported JAX, which the
traces of small programs (Kuhn, Leduc, a river) are not worth (the test suite
spent a quarter of tests/test_solver.py's time in them, a Kuhn launcher run
an eighth); their few megabytes go with Python's own collections.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

import jax

MIN_COMPILE_SECONDS = 1.0
MIN_TRACE_SECONDS = 1.0
_EVENT = '/jax/core/compile/backend_compile_duration'
_TRACE_EVENTS = ('/jax/core/compile/jaxpr_trace_duration',
                 '/jax/core/compile/jaxpr_to_mlir_module_duration')
# 'traced': seconds of tracing and lowering of each function (by name) whose
# traces have not been dropped yet.
_state = {'watching': False, 'trims': 0, 'traced': {}}


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


def available_memory() -> int | None:
  """Bytes of memory the system can give this process now without swapping
  (Linux: MemAvailable), or None where that is not known."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def _base_name(name) -> str | None:
  """'run' for 'run' (a trace's name) and 'jit(run)' (its lowering's)."""
  if not isinstance(name, str):
    return None
  return name[4:-1] if name.startswith('jit(') and name.endswith(')') else name


def _on_event(event: str, duration: float, fun_name=None, **_) -> None:
  if event == _EVENT and duration >= MIN_COMPILE_SECONDS:
    release_free_memory()
  elif event in _TRACE_EVENTS and (name := _base_name(fun_name)):
    _state['traced'][name] = _state['traced'].get(name, 0.0) + duration


def _collect_dropped(name, done: bool) -> bool:
  """Frees what was just dropped of function `name` (traces and lowerings:
  graphs of many small objects, some in cycles) and returns its memory to
  the system, if tracing and lowering it took `MIN_TRACE_SECONDS`; True if
  it did. done: its traces are all gone (its count starts again)."""
  name = _base_name(name)
  seconds = (_state['traced'].pop if done else _state['traced'].get)(name, 0.0)
  if seconds < MIN_TRACE_SECONDS:
    return False
  gc.collect()
  release_free_memory()
  return True


def watch_compilations() -> None:
  """Trims after each long compilation from now on (idempotent)."""
  if not _state['watching']:
    jax.monitoring.register_event_duration_secs_listener(_on_event)
    _state['watching'] = True


def _evict_named(cache, name: str) -> None:
  """Evicts from one of JAX's lowering caches (keyed by a jaxpr, then the
  lowering's arguments) the entries whose arguments include `name`."""
  for key in cache.cache_keys():
    jaxpr = key[0]()
    if jaxpr is not None and any(isinstance(a, str) and a == name for a in key[2]):
      cache.evict_weakref(jaxpr)


def forget_traces(jitted) -> bool:
  """Drops the traces (jaxprs) and lowered programs (MLIR modules) that JAX
  keeps of a `jax.jit` function once it has compiled them; its compiled
  programs stay. True if it dropped any (then their memory is collected and
  returned to the system where tracing them took long: `_collect_dropped`).

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
  programs too), so this evicts the function from four caches of the pinned
  jax version, and does nothing where they are not there. The lowerings go
  by the function's name: another jitted function of that name loses its
  lowering too, which matters only to a call of it that misses JAX's C++
  dispatch cache (it then lowers and compiles again).
  """
  fun = getattr(jitted, '_fun', None)
  try:
    from jax._src import pjit  # pylint: disable=g-import-not-at-top
    from jax._src.interpreters import partial_eval  # pylint: disable=g-import-not-at-top
    from jax._src.interpreters import pxla  # pylint: disable=g-import-not-at-top
    caches = (partial_eval.trace_to_jaxpr, pjit._infer_params_cached)  # pylint: disable=protected-access
    name = getattr(fun, '__name__', None) or getattr(getattr(fun, 'func', None), '__name__', None)
    lowerings = ((pjit._pjit_lower, name),  # pylint: disable=protected-access
                 (pxla._cached_lowering_to_hlo, f'jit({name})')) if name else ()  # pylint: disable=protected-access
    every = caches + tuple(cache for cache, _ in lowerings)
    size = lambda: sum(cache.cache_info().currsize for cache in every)
    before = size()
    for cache in caches:
      cache.evict_weakref(fun)
    # The lowered programs (MLIR modules, kept to compile them again), keyed
    # by the jaxprs they lower (kept alive by the modules themselves) and
    # named after the function: the flop config's held 106 MB.
    for cache, named in lowerings:
      _evict_named(cache, named)
    dropped = size() < before
  except (ImportError, AttributeError, TypeError, IndexError):
    return False
  if dropped:
    _collect_dropped(name, done=True)
  return dropped


def strip_locations(lowered) -> bool:
  """Removes the source locations from `lowered`'s module (a
  `jax.stages.Lowered` not yet compiled), in place; True if it did.

  XLA turns every location (the op's name stack and source line) into its
  instructions' metadata and keeps it in the executable, copied into every
  fused computation: the flop config's two programs hold ~70 MB of RSS less
  without it (bench/RESULTS.md). The compiled code is the same; profiles
  and dumps of the program show no op names. MLIR's `strip-debuginfo` pass
  on the module that `compile()` then compiles (`compiler_ir()` returns it,
  not a copy, in the pinned jax; where that or the pass is missing, nothing
  is done). JAX's persistent cache keys ignore locations (it strips them to
  hash), so a program cached with them is loaded with them."""
  try:
    from jax._src.lib.mlir import passmanager  # pylint: disable=g-import-not-at-top
    module = lowered.compiler_ir('stablehlo')
    if module is not getattr(getattr(lowered, '_lowering', None), '_hlo', None):
      return False  # a copy: stripping it would change nothing compiled
    with module.context:
      passmanager.PassManager.parse('builtin.module(strip-debuginfo)').run(module.operation)
  except Exception:  # pylint: disable=broad-except  (MLIR raises its own error types)
    return False
  return True


def drop_lowering(lowered, compiled) -> bool:
  """Drops the MLIR module JAX keeps of `lowered` (a `jax.stages.Lowered`)
  once `compiled` (its `.compile()`) exists; True if it did.

  `jit(f).lower(...).compile()` leaves the module in two of JAX's caches.
  `forget_traces` evicts both at the function's first call, which finds the
  compiled program through the first cache without reading the module; but
  until then the module lives through the first iteration, the process's
  peak (the flop config's programs: ~0.1 GB with their MLIR contexts,
  bench/RESULTS.md). Dropped here: the module held by the lowering that
  compiled it (that lowering's `as_text()` then fails; a `lower` after the
  first call lowers afresh) and the module cached by jaxpr. Private fields
  of the pinned jax version; where they are not there, nothing is done."""
  computation = getattr(lowered, '_lowering', None)
  try:
    from jax._src.interpreters import pxla  # pylint: disable=g-import-not-at-top
    if getattr(computation, '_executable', None) is not compiled._executable:  # pylint: disable=protected-access
      return False  # not the cached compilation: the module may be needed again
    module = computation._hlo  # pylint: disable=protected-access
    computation._hlo = None  # pylint: disable=protected-access
    name = computation._name  # pylint: disable=protected-access  ('jit(f)')
    _evict_named(pxla._cached_lowering_to_hlo, name)  # pylint: disable=protected-access
  except (ImportError, AttributeError, TypeError, IndexError):
    return False
  del module
  _collect_dropped(name, done=False)  # its trace stays until its first call (`forget_traces`)
  return True


class _Forgetful:
  """A jitted function that drops its traces after every call, made at its
  first use (`jit`)."""

  def __init__(self, fun, kwargs: dict, forget: bool):
    self._fun_ = fun
    self._kwargs = kwargs
    self._forget = forget
    self._made = None
    functools.update_wrapper(self, fun)

  @property
  def _jitted(self):
    if self._made is None:
      kwargs = dict(self._kwargs)
      options = kwargs.pop('compiler_options', None)
      options = options() if callable(options) else options
      if options:
        kwargs['compiler_options'] = options
      self._made = jax.jit(self._fun_, **kwargs)
    return self._made

  def __call__(self, *args, **kwargs):
    jitted = self._jitted
    out = jitted(*args, **kwargs)
    if self._forget:
      forget_traces(jitted)  # compiled now; its jaxpr is not read again
    return out

  def __getattr__(self, name):  # lower, trace, _fun, _cache_size, ...
    return getattr(self._jitted, name)


def jit(fun, *, forget: bool = True, **kwargs):
  """`jax.jit(fun, **kwargs)` whose traces are dropped after each call
  (`forget_traces`; a call that compiled nothing drops nothing; `forget=False`
  keeps them). For cfr_jax's own top-level programs, which have no callbacks.

  `compiler_options` may be a function of no arguments, called at the first
  use (a call, `lower`, ...), not here: what it returns may depend on the
  backend (`subgame.compiler_options`), and asking for that starts JAX's
  backends, which a module's import must not do (`jax.distributed` must be
  initialised first)."""
  return _Forgetful(fun, kwargs, forget)


def trims() -> int:
  """How many trims this process has done (for tests and reports)."""
  return _state['trims']


watch_compilations()  # long compilations' leftovers go back to the system
