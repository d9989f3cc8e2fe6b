"""cfr_jax.heap: a long compilation's leftovers are returned before its program runs."""
import sys

import jax
import jax.numpy as jnp
import pytest

import cfr_jax  # pylint: disable=unused-import  (importing it starts the watch)
from cfr_jax import heap


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


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc_trim')
def test_the_trim_reaches_the_c_library():
  before = heap.trims()
  assert heap.release_free_memory() is True
  assert heap.trims() == before + 1
