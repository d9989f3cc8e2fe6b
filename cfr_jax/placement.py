"""Placing host values on devices, under one process or several (jax.distributed)."""
from __future__ import annotations

from typing import Any

import jax
import numpy as np


def to_device(x: Any, dtype: Any = None) -> jax.Array:
  """A host array on the default device, cast on the host to `dtype` (None:
  its own). Not `jnp.asarray`: on a host array that compiles a small program
  per shape and dtype (JAX 0.10), each then held in JAX's caches (a flop
  game and its split: 90 programs, ~54 MB of host memory; bench/RESULTS.md)."""
  return jax.device_put(np.asarray(x, dtype))


def put(tree: Any, shardings: Any) -> Any:
  """`tree` placed as `shardings` say: one sharding for every leaf, or a tree
  of them matching `tree`. Under jax.distributed a sharding may span other
  processes' devices, which `jax.device_put` cannot reach: each process then
  holds the whole value (the same in every process) and keeps its own shards."""
  if isinstance(shardings, jax.sharding.Sharding):
    shardings = jax.tree.map(lambda _: shardings, tree)

  def one(x, sharding):
    if sharding.is_fully_addressable:
      return jax.device_put(x, sharding)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
  return jax.tree.map(one, tree, shardings)
