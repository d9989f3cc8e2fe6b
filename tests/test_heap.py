"""cfr_jax.heap: a long compilation's leftovers are returned before its program
runs, and compiled programs' traces are dropped."""
import gc
import sys
import weakref

import jax
from jax._src import dispatch  # the trace event's name
from jax._src import monitoring  # pylint: disable=g-bad-import-order  (to unregister)
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest

import cfr_jax  # pylint: disable=unused-import  (importing it starts the watch)
from cfr_jax import heap
from cfr_jax.holdem import subgame


def _fresh_program(calls):
  """A program no cache holds (a new closure each time) that records its run."""
  marker = object()

  def f(x):
    jax.debug.callback(lambda: calls.append('ran'))
    return x * 2 + (id(marker) % 7)

  return jax.jit(f)


def test_a_long_compilation_is_trimmed_after_compiling_and_before_running(monkeypatch):
  calls = []
  monkeypatch.setattr(heap, 'release_free_memory', lambda: calls.append('trim') or True)
  monkeypatch.setattr(heap, 'MIN_COMPILE_SECONDS', 0.0)  # every compilation is "long"
  jax.block_until_ready(_fresh_program(calls)(jnp.arange(3.0)))
  assert 'trim' in calls and 'ran' in calls, calls
  assert calls.index('trim') < calls.index('ran'), calls


def test_a_quick_compilation_is_not_trimmed(monkeypatch):
  calls = []
  monkeypatch.setattr(heap, 'release_free_memory', lambda: calls.append('trim') or True)
  monkeypatch.setattr(heap, 'MIN_COMPILE_SECONDS', 1e9)
  jax.block_until_ready(_fresh_program(calls)(jnp.arange(3.0)))
  assert calls == ['ran'], calls


@pytest.mark.parametrize('min_seconds,collected', [(0.0, True), (1e9, False)])
def test_dropped_traces_are_collected_where_tracing_them_took_long(monkeypatch, min_seconds,
                                                                    collected):
  """A full collection (~50-100 ms here) after dropping a program's traces
  only where tracing and lowering that program took `MIN_TRACE_SECONDS`: a
  small program's traces are not worth it."""
  collections = []
  monkeypatch.setattr(heap, 'MIN_TRACE_SECONDS', min_seconds)
  monkeypatch.setattr(heap.gc, 'collect', lambda *a: collections.append(a) or 0)
  marker = object()

  def doubled(x):  # a new program: traced and lowered
    return x * 2 + (id(marker) % 7)

  f = heap.jit(doubled)
  jax.block_until_ready(f(jnp.arange(3.0)))  # compiles, then drops its traces
  assert bool(collections) == collected, collections
  assert 'doubled' not in heap._state['traced']  # pylint: disable=protected-access  (counted anew)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc_trim')
def test_the_trim_reaches_the_c_library():
  before = heap.trims()
  assert heap.release_free_memory() is True
  assert heap.trims() == before + 1


class _Traces:
  """Counts JAX's traces to jaxprs while in a `with` block."""

  def __enter__(self):
    self.count = 0
    self._listener = lambda event, *_, **__: setattr(
        self, 'count', self.count + (event == dispatch.JAXPR_TRACE_EVENT))
    jax.monitoring.register_event_duration_secs_listener(self._listener)
    return self

  def __exit__(self, *exc):
    monitoring.unregister_event_duration_listener(self._listener)


def _jaxprs(jitted, *args):
  """Weak references to the jaxpr JAX caches for jitted(*args) and to its
  loops' bodies (a loop's condition, a few equations, may stay cached)."""
  closed = jitted.trace(*args).jaxpr
  return [weakref.ref(closed.jaxpr)] + [
      weakref.ref(eqn.params['body_jaxpr'].jaxpr)
      for eqn in closed.jaxpr.eqns if 'body_jaxpr' in eqn.params]


@pytest.mark.parametrize('which', ['leduc', 'subgame'])
def test_a_solver_drops_its_traces_once_compiled_and_never_traces_again(which):
  """After its first run a solver's chunk program is called from JAX's C++
  cache; the jaxprs JAX kept to lower it again (flop config: ~0.1 GB, loop
  body included) are dropped, and later runs neither trace nor compile."""
  from test_engine import RIVER  # pylint: disable=g-import-not-at-top
  game = (cfr_jax.load_game('leduc') if which == 'leduc'
          else subgame.compile_subgame(RIVER))
  solver = cfr_jax.make_solver(game, 'dcfr')
  state = solver.init()
  n = jnp.asarray(2, jnp.int32)
  refs = _jaxprs(solver._run, solver._passes, state, n, solver._hp)  # pylint: disable=protected-access
  gc.collect()
  assert len(refs) == 2 and all(r() is not None for r in refs)  # the trace and loop body live
  state = solver.run(state, 2)  # compiles what `trace` traced
  gc.collect()
  assert [r() for r in refs] == [None] * len(refs)
  with _Traces() as traces:
    for _ in range(3):
      state = solver.run(state, 2)
    jax.block_until_ready(state)
  assert traces.count == 0 and not heap.forget_traces(solver._run)  # pylint: disable=protected-access
  assert solver._run._cache_size() == 1  # pylint: disable=protected-access
  assert int(state.iteration) == 8


def test_exploitability_programs_are_not_traced_again_after_their_traces_are_dropped():
  from test_engine import RIVER  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(RIVER)
  solver = cfr_jax.make_solver(game, 'dcfr')
  policy = solver.average_policy(solver.run(solver.init(), 3))
  first = [cfr_jax.exploitability(game, policy), cfr_jax.game_value(game, policy)]
  with _Traces() as traces:
    again = [cfr_jax.exploitability(game, policy), cfr_jax.game_value(game, policy)]
  assert traces.count == 0 and again == first


class _Compiles:
  """Counts XLA compilations while in a `with` block."""

  def __enter__(self):
    self.count = 0
    self._listener = lambda event, *_, **__: setattr(
        self, 'count', self.count + (event == '/jax/core/compile/backend_compile_duration'))
    jax.monitoring.register_event_duration_secs_listener(self._listener)
    return self

  def __exit__(self, *exc):
    monitoring.unregister_event_duration_listener(self._listener)


@pytest.mark.parametrize('which', ['leduc', 'iso_turn_split', 'turn_float64'])
def test_building_a_game_and_its_solver_compiles_no_program(which):
  """Games, split parts and envs reach the device as host arrays, cast on the
  host. `jnp.asarray` of a host array compiles a program per shape and
  dtype, which JAX's caches then hold: the flop config's build and split
  compiled 90 of them, ~54 MB kept (bench/RESULTS.md)."""
  from test_split import ISO_TURN  # pylint: disable=g-import-not-at-top
  from test_engine import TURN  # pylint: disable=g-import-not-at-top
  from cfr_jax.envs import tree as tree_env  # pylint: disable=g-import-not-at-top
  jax.clear_caches()  # what earlier tests compiled would hide a compilation here
  with _Compiles() as compiles:
    if which == 'leduc':
      game = cfr_jax.load_game('leduc')
      tree_env.tree_env(game)
      game.astype(jnp.float64)
      solver = cfr_jax.make_solver(game, 'dcfr', dtype='float64')
      cfr_jax.make_solver(game, 'es-mccfr', batch_size=64, seed=0)  # its traversal plan
    else:
      game = subgame.compile_subgame(ISO_TURN if which == 'iso_turn_split' else TURN)
      solver = cfr_jax.make_solver(game, 'dcfr', subtrees=1 if which == 'iso_turn_split' else 0,
                                   dtype='float32' if which == 'iso_turn_split' else 'float64')
      assert solver._splits == (which == 'iso_turn_split')  # pylint: disable=protected-access
      game.legal, game.infoset_player  # pylint: disable=pointless-statement  (per-row tables)
  assert compiles.count == 0, compiles.count


@pytest.mark.parametrize('which', ['dcfr_run_many', pytest.param('es-mccfr', marks=pytest.mark.slow),
                                   'deep_cfr'])  # es-mccfr ~20-35 s
def test_a_run_compiles_its_own_program_only(which):
  """A run's iteration count (and `run_many`'s hyperparameters) reach the
  device as host arrays too: the first run compiles its program and nothing
  else, a run with another count nothing (with `jnp.asarray` each was one
  more small program, held for the process's life)."""
  from cfr_jax.neural import deep_cfr  # pylint: disable=g-import-not-at-top
  game = cfr_jax.load_game('leduc')
  if which == 'dcfr_run_many':
    solver = cfr_jax.make_solver(game, 'dcfr')
    states = jax.tree.map(lambda *x: jnp.stack(x), solver.init(), solver.init())
    run = lambda s, n: solver.run_many(s, n)
  else:
    solver = (cfr_jax.make_solver(game, 'es-mccfr', batch_size=16, seed=0) if which == 'es-mccfr'
              else deep_cfr.make_deep_cfr(game, hidden=(8,), traversals=8, advantage_steps=2,
                                          policy_steps=2, batch_size=8))
    states, run = solver.init(), solver.run
  jax.clear_caches()
  with _Compiles() as first:
    states = jax.block_until_ready(run(states, 1))
  with _Compiles() as again:
    states = jax.block_until_ready(run(states, 2))
  assert (first.count, again.count) == (1, 0)
  assert (np.asarray(states.iteration) == 3).all()


def _mlir_modules() -> int:
  """How many lowered programs (MLIR modules) the process holds."""
  gc.collect()
  return sum(type(o).__name__ == 'Module' and 'mlir' in type(o).__module__
             for o in gc.get_objects())


def test_compiling_a_solver_keeps_no_lowered_program_and_its_runs_compile_nothing():
  """`Solver.compile` drops the MLIR modules of the programs it compiled
  (flop config: ~0.1 GB held through the first iteration otherwise), and
  `run` and `exploitability` still find the compiled programs."""
  from test_split import ISO_TURN  # pylint: disable=g-import-not-at-top
  solver = cfr_jax.make_solver(subgame.compile_subgame(ISO_TURN), 'dcfr', subtrees=2)
  assert solver._splits  # pylint: disable=protected-access  (two programs: run, exploitability)
  state = solver.init()
  before = _mlir_modules()
  solver.compile(state)
  assert _mlir_modules() == before
  with _Compiles() as compiles:
    state = solver.run(state, 2)
    value = float(solver.exploitability(state))
  assert compiles.count == 0 and value > 0
  assert _mlir_modules() == before


def test_stripped_locations_leave_no_metadata():
  x = jnp.linspace(0, 1, 11)
  lowered = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 2.5) - 0.25).lower(x)
  assert 'jit(<lambda>)/sin' in lowered.as_text(debug_info=True)
  assert heap.strip_locations(lowered)
  assert 'jit(<lambda>)' not in lowered.as_text(debug_info=True)
  # A program that no other test compiles: the persistent cache's key ignores
  # locations (JAX strips them to hash), so it may serve this program as
  # another run compiled it, but only this test compiles it, always stripped.
  assert 'op_name=' not in lowered.compile().as_text()


def test_solver_compile_strips_locations_and_changes_no_iterate(monkeypatch):
  """The programs `Solver.compile` builds carry no source locations (flop
  config: ~70 MB of RSS less, bench/RESULTS.md) and compute what the
  programs `run` compiles by itself compute, bit for bit."""
  from test_split import ISO_TURN  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(ISO_TURN)
  stripped = []
  real = heap.strip_locations
  monkeypatch.setattr(heap, 'strip_locations', lambda lowered: stripped.append(real(lowered)))
  states = []
  for compile_first in (False, True):
    solver = cfr_jax.make_solver(game, 'dcfr', subtrees=2)
    if compile_first:
      solver.compile()
    state = solver.run(solver.init(), 4)
    states.append((state, float(solver.exploitability(state))))
  assert stripped == [True, True]  # the run chunk and the split exploitability
  (a, value_a), (b, value_b) = states
  assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert value_a == value_b > 0
