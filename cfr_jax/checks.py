"""Checks every solver kind (tabular, sampled, neural) makes of its inputs."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# States count iterations in int32 (x64 is off by default).
MAX_ITERATION = int(np.iinfo(np.int32).max)


def checked_count(iteration, num_iterations) -> int:
  """`num_iterations` as an int, after checking that running that many more
  from `iteration` is possible: ValueError if negative, OverflowError if the
  counter would pass MAX_ITERATION."""
  try:
    n = int(num_iterations)
    whole = n == num_iterations
  except (TypeError, ValueError, OverflowError):
    whole = False
  if not whole:  # int(2.5) would run 2 in silence
    raise ValueError(f'num_iterations must be a whole number, got {num_iterations!r}')
  if n < 0:
    raise ValueError(f'num_iterations must be >= 0, got {num_iterations}')
  if int(iteration) + n > MAX_ITERATION:
    raise OverflowError(f'iteration counter would pass {MAX_ITERATION}')
  return n


def checked_hyperparameters(hp: dict) -> dict:
  """`hp` ({name: number or array}) after checking every value is finite:
  a NaN or infinite alpha would run and fill the state with NaN."""
  for k, v in hp.items():
    if not np.isfinite(np.asarray(v, np.float64)).all():
      raise ValueError(f'hyperparameter {k} must be finite, got {v!r}')
  return hp


def checked_dtype(dtype):
  """`dtype` as a jnp.dtype: float32, or float64 where x64 is enabled; ValueError else."""
  dtype = jnp.dtype(dtype)
  if dtype not in (jnp.float32, jnp.float64):
    raise ValueError(f'dtype must be float32 or float64, got {dtype}')
  if dtype == jnp.float64 and not jax.config.jax_enable_x64:
    raise ValueError('float64 needs jax_enable_x64: call '
                     'jax.config.update("jax_enable_x64", True) at start-up')
  return dtype
