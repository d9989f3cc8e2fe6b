"""cfr_jax.kernels: prefix sums without reduce-windows, counter-based draws."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cfr_jax
from cfr_jax import kernels


def test_running_sum_adds_in_order_whatever_the_leading_shape():
  x = np.random.default_rng(0).random((64, 7, 11)).astype(np.float32)
  out = np.asarray(jax.jit(kernels.running_sum)(x))
  # numpy's accumulate adds in order too: the same float32 roundings
  np.testing.assert_array_equal(out, np.add.accumulate(x, axis=-1))
  # the pooled and padded traversals rely on this: the same row gives the
  # same sums laid out [S, K] or [B, W, K]
  flat = np.asarray(jax.jit(kernels.running_sum)(x.reshape(-1, 11)))
  np.testing.assert_array_equal(flat.reshape(x.shape), out)


@pytest.mark.parametrize('n', [1, 31, 32, 33, 1000, 33 * 32 + 5, 100_000])
def test_count_prefix_is_cumsum_exactly(n):
  rng = np.random.default_rng(n)
  keep = rng.random((3, n)) < 0.4
  np.testing.assert_array_equal(jax.jit(kernels.count_prefix)(keep), np.cumsum(keep, axis=-1))
  counts = rng.integers(0, 9, size=n).astype(np.int32)
  np.testing.assert_array_equal(jax.jit(kernels.count_prefix)(counts), np.cumsum(counts))


def test_count_prefix_refuses_what_float32_cannot_count():
  with pytest.raises(ValueError, match='2\\^24'):
    kernels.count_prefix(jax.ShapeDtypeStruct((1 << 24,), jnp.bool_))


def test_prefix_sum_over_many_blocks_matches_cumsum():
  x = np.random.default_rng(1).standard_normal((2, 5000))
  np.testing.assert_allclose(jax.jit(kernels.prefix_sum)(jnp.asarray(x, jnp.float32)),
                             np.cumsum(x, axis=-1), rtol=1e-4, atol=1e-3)


def test_uniform_hash_draws_depend_on_seed_and_index_only():
  seed = jax.random.bits(jax.random.PRNGKey(3), (2,), jnp.uint32)
  index = jnp.arange(200_000, dtype=jnp.int32)
  u = np.asarray(kernels.uniform_hash(seed, index, jnp.float32))
  assert u.min() >= 0 and u.max() < 1
  # uniform: every twentieth of [0, 1) holds its share (chi-square, 19 dof;
  # 60 is far in the tail, a broken mixer lands far past it)
  counts = np.histogram(u, bins=20, range=(0, 1))[0]
  assert ((counts - 10_000) ** 2 / 10_000).sum() < 60
  # consecutive indices are not correlated
  assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
  # the same (seed, index) in another shape and order: the same draw
  picked = jnp.asarray([[7, 199_999], [0, 12345]], jnp.int32)
  np.testing.assert_array_equal(kernels.uniform_hash(seed, picked, jnp.float32),
                                u[np.asarray(picked)])
  other = np.asarray(kernels.uniform_hash(seed + 1, index, jnp.float32))
  assert abs(np.corrcoef(u, other)[0, 1]) < 0.01


@pytest.mark.parametrize('name', ['leduc', 'kuhn'])
def test_es_mccfr_iteration_has_no_reduce_window(name):
  # jnp.cumsum lowers to reduce-windows that XLA:CPU expands into hundreds of
  # small kernels per iteration; the traversal's prefix sums must not.
  game = cfr_jax.load_game(name)
  solver = cfr_jax.make_solver(game, 'es-mccfr', batch_size=64)
  state = solver.init()
  # pylint: disable=protected-access
  hlo = solver._run.lower(solver._game, solver._plan, state, jnp.asarray(1, jnp.int32),
                          solver._hp).as_text()
  assert 'reduce_window' not in hlo and 'reduce-window' not in hlo
  assert 'cumsum' not in hlo


def _fusions_around_writes(hlo: str) -> list:
  """The fused computations of an HLO module whose root is a dynamic-update-slice."""
  blocks = hlo.split('\n\n')
  return [b for b in blocks if 'ROOT' in b and 'dynamic-update-slice(' in
          b[b.index('ROOT'):].split('\n')[0] and b.lstrip().startswith('%fused')]


def test_unfused_traces_its_computation_once():
  """A flop chunk traces ~400 `unfused` blocks at every start (the compilation
  cache's hits too): each is traced once, and its outputs keep their pytree."""
  traced = []

  def block(x, live):
    def make():
      traced.append(1)
      return {'sum': x.sum(), 'rows': jnp.cos(x)[:3]}
    return kernels.unfused(make, live)

  x = jnp.arange(6.0, dtype=jnp.float32)
  out = jax.jit(block)(x, jnp.asarray(True))
  assert len(traced) == 1
  assert float(out['sum']) == 15.0 and out['rows'].shape == (3,)
  np.testing.assert_array_equal(out['rows'], jnp.cos(x)[:3])


def test_unfused_keeps_its_work_out_of_an_in_place_write():
  """XLA:CPU fuses the computation of a block into the dynamic-update-slice
  that writes it (which it runs one entry at a time); `unfused` keeps it a
  computation of its own, with the same values, also under vmap."""
  def write(x, i, apart):
    make = lambda: jnp.sin(jax.lax.dynamic_slice(x, (i,), (8,))) * 3.0
    rows = kernels.unfused(make, i >= 0) if apart else make()
    return jax.lax.dynamic_update_slice(x, rows, (i,))

  x = jnp.arange(64.0, dtype=jnp.float32)
  fused_sine = {}
  for apart in (False, True):
    hlo = jax.jit(write, static_argnums=2).lower(x, 3, apart).compile().as_text()
    writes = _fusions_around_writes(hlo)
    fused_sine[apart] = any('sine(' in w for w in writes)
  assert fused_sine == {False: True, True: False}
  np.testing.assert_array_equal(write(x, 3, True), write(x, 3, False))
  # Batched: the cond becomes a select of both branches, the values the same.
  xs, starts = jnp.stack([x, 2 * x]), jnp.asarray([3, 40])
  np.testing.assert_array_equal(jax.vmap(lambda a, i: write(a, i, True))(xs, starts),
                                jax.vmap(lambda a, i: write(a, i, False))(xs, starts))
