"""The iteration counter every solver state carries, and its limits."""
from __future__ import annotations

import numpy as np

# States count iterations in int32 (x64 is off by default).
MAX_ITERATION = int(np.iinfo(np.int32).max)


def checked_count(iteration, num_iterations) -> int:
  """`num_iterations` as an int, after checking that running that many more
  from `iteration` is possible: ValueError if negative, OverflowError if the
  counter would pass MAX_ITERATION."""
  n = int(num_iterations)
  if n < 0:
    raise ValueError(f'num_iterations must be >= 0, got {num_iterations}')
  if int(iteration) + n > MAX_ITERATION:
    raise OverflowError(f'iteration counter would pass {MAX_ITERATION}')
  return n
