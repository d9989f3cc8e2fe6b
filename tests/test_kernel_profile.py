"""bench/kernel_profile.py's mapping from XLA's kernels to cfr_jax's source lines."""
import inspect
import os
import sys

import jax
import jax.numpy as jnp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'bench'))

import kernel_profile  # pylint: disable=g-import-not-at-top,wrong-import-position


def _inner(x):
  return jnp.sin(x) * 3


def _outer(x):
  return _inner(x).sum()


def test_every_kernel_is_named_by_its_source_line_and_caller():
  hlo = jax.jit(_outer).lower(jnp.ones((64,))).compile().as_text()
  lines = kernel_profile.source_lines(hlo)
  inner_line = inspect.getsourcelines(_inner)[1] + 1  # the line of its return
  outer_line = inspect.getsourcelines(_outer)[1] + 1
  # The fused sin * 3: the innermost frame first, then its caller.
  assert f'_inner:{inner_line} < _outer:{outer_line}' in set(lines.values()), lines
  # Every instruction of the module has an entry (the trace names kernels by them).
  assert 'ENTRY' not in lines and all(isinstance(v, str) for v in lines.values())
  assert len(lines) >= 2


def test_loops_are_not_counted_over_the_kernels_they_run():
  """A while loop's trace event spans its body's kernels: it is recognised as
  control flow (and skipped), its body's kernels are not."""
  def loop(x):
    return jax.lax.fori_loop(0, 3, lambda i, y: jnp.sin(y) * i, x)
  hlo = jax.jit(loop).lower(jnp.ones((64,))).compile().as_text()
  nested = kernel_profile.control_flow(hlo)
  lines = kernel_profile.source_lines(hlo)
  assert nested and all(name.startswith('while') for name in nested), nested
  assert nested < set(lines)  # named like every instruction
  kernels = [n for n in lines if 'fusion' in n]
  assert kernels and not nested & set(kernels)
