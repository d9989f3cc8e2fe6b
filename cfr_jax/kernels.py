"""Small array kernels that XLA:CPU runs poorly as `jnp` writes them.

`jnp.cumsum` lowers to a reduce-window over the whole axis, which XLA:CPU
rewrites into a ladder of window-16 scans and copies: on ES-MCCFR's Leduc
traversals 1,729 of an iteration's 2,588 kernels (bench/RESULTS.md). The
prefix sums here are a few fused kernels instead:

- `running_sum`: along a short axis (a node's children), one add per entry in
  sequence: the same arithmetic, so the same rounding, whatever the array's
  other dimensions (the pooled and padded traversals must pick the same child);
- `prefix_sum`: along a long axis, as triangular matmuls over blocks (exact for
  integer counts held in float32 below 2^24).

`unfused` keeps a computation out of XLA's fusion with its consumers.

`hash32` and `uniform_hash` give counter-based random numbers: a draw is a
function of a seed and an index, so any subset of entries can be drawn
without drawing the rest, and in any layout.
"""
from __future__ import annotations

import itertools
from typing import Callable

import jax
import jax.numpy as jnp


def running_sum(x: jax.Array) -> jax.Array:
  """Inclusive cumulative sum over x's last (short) axis, added in order.

  Unrolled: one slice and add per entry, which XLA fuses into one kernel. For
  axes of a few dozen entries at most (program size grows with the axis).
  """
  parts = list(itertools.accumulate(x[..., k] for k in range(x.shape[-1])))
  return jnp.stack(parts, axis=-1) if parts else x


# `prefix_sum`'s block: inputs whose length is a multiple of it are not padded.
PREFIX_BLOCK = 32


def prefix_sum(x: jax.Array, block: int = PREFIX_BLOCK) -> jax.Array:
  """Inclusive cumulative sum over the last axis as triangular matmuls:
  within blocks of `block` entries, then over the blocks' totals (the same
  way again when there are more than `block` of them). Several times faster
  than `jnp.cumsum` on CPU, and matmuls are what accelerators do best.
  Floating point, so it rounds unlike a sequential sum; integer counts
  converted to float32 are exact while every partial sum is below 2^24.
  Entry i depends only on entries 0..i, so a caller may extend x with any
  finite values to a multiple of `block`; then no pad is computed (XLA fuses
  a pad into x's producer, and a gather there pays for it per element)."""
  n = x.shape[-1]
  k = -(-n // block)
  x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, k * block - n)])
  inner = x.reshape(*x.shape[:-1], k, block) @ jnp.triu(jnp.ones((block, block), x.dtype))
  totals = inner[..., -1]
  if k <= block:
    offsets = totals @ jnp.triu(jnp.ones((k, k), x.dtype), 1)
  else:  # exclusive prefix of the totals
    offsets = prefix_sum(totals, block) - totals
  return (inner + offsets[..., None]).reshape(*x.shape[:-1], k * block)[..., :n]


def unfused(fn: Callable, live: jax.Array):
  """fn() (a pytree of arrays) computed as an XLA computation of its own: the
  branch of a `cond` on `live`, a traced boolean the caller knows is always
  true and XLA cannot prove so (an iteration count >= 1, an index read from
  an argument's array >= 0; a loop counter's test folds away where XLA
  unrolls a one-step loop). XLA then neither fuses fn's outputs into their
  consumers nor those into fn; on CPU, `jax.lax.optimization_barrier` does
  not keep them apart. For work that XLA:CPU would otherwise run inside a
  consumer it emits poorly (an in-place write) or more than once per output.
  The other branch, zeros, is never taken. Under `vmap` with a batched
  `live` the cond is a `select`: the same values.

  fn is traced once: `cond` traces its true branch first, whose output
  shapes the zeros then take (`jax.eval_shape` first traced every fn twice:
  ~2.5 s of the ~14 s a flop chunk took to trace and lower, which every
  start pays, the compilation cache's hits too)."""
  shapes = []

  def compute():
    out = fn()
    shapes.append(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), out))
    return out

  def zeros():
    like = shapes[0] if shapes else jax.eval_shape(fn)  # a JAX tracing this branch first
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), like)
  return jax.lax.cond(live, compute, zeros)


def count_prefix(counts: jax.Array) -> jax.Array:
  """[..., n] int32: the inclusive cumulative sum of counts (booleans or
  non-negative integers) along the last axis, exactly (as `jnp.cumsum`)
  while the total is below 2^24, which booleans guarantee below 2^24 entries."""
  if counts.dtype == jnp.bool_ and counts.shape[-1] >= 1 << 24:
    raise ValueError(f'count_prefix counts exactly below 2^24 entries, got {counts.shape[-1]}')
  return prefix_sum(counts.astype(jnp.float32)).astype(jnp.int32)


def hash32(x: jax.Array) -> jax.Array:
  """A uint32 -> uint32 mixing function (the murmur3 finaliser): a bijection
  whose every output bit depends on every input bit."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x85EBCA6B)
  x = x ^ (x >> 13)
  x = x * jnp.uint32(0xC2B2AE35)
  return x ^ (x >> 16)


def uniform_hash(seed: jax.Array, index: jax.Array, dtype) -> jax.Array:
  """index.shape uniform draws in [0, 1) of `dtype`, each a function of the
  seed ([2] uint32, e.g. from `jax.random.bits`) and its own index (uint32
  or int32) only: 24 random bits, mixed twice with the seed's two words."""
  h = hash32(index.astype(jnp.uint32) * jnp.uint32(0x9E3779B9) ^ seed[0])
  h = hash32(h ^ seed[1])
  return (h >> 8).astype(dtype) * jnp.asarray(2.0 ** -24, dtype)
