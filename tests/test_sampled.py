"""External-sampling MCCFR (cfr_jax/sampled) against exact quantities."""
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import cfr_jax
from cfr_jax import checkpoint as checkpoint_lib
from cfr_jax import solver as solver_lib
from cfr_jax import training
from cfr_jax import envs
from cfr_jax import regret as regret_lib
from cfr_jax.envs.core import CHANCE
from cfr_jax.sampled import external, outcome


@pytest.fixture(scope='module')
def kuhn():
  return cfr_jax.load_game('kuhn')


@pytest.fixture(scope='module')
def leduc_solver():
  return cfr_jax.make_solver(cfr_jax.load_game('leduc'), 'es-mccfr', batch_size=1024, seed=0)


def _equal(a, b):
  return all(np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize('scheme,atol_cfv,atol_visits', [
    ('external', 1.5e-2, 6e-3),  # measured max errors 6.6e-3 and 1.2e-3 at 2e5 trajectories
    ('outcome', 3e-2, 1.2e-2),  # measured 7.7e-3 and 2.9e-3
])
def test_sampled_values_are_unbiased_estimates_of_the_exact_ones(kuhn, scheme, atol_cfv,
                                                                 atol_visits):
  # The batch mean of the sampled counterfactual values is the exact cfv,
  # and of the opponent's visit weights its own reach times a per-infoset
  # constant (the chance reach of the infoset's histories: 1/3 in Kuhn).
  game = kuhn.astype(jnp.float32)
  sigma = jax.random.dirichlet(jax.random.PRNGKey(3), jnp.ones(2), (game.num_infosets,))
  cfv, own = solver_lib.counterfactual_pass(game, sigma)
  batch = 200_000
  if scheme == 'external':
    plan, widths, fanout = external.make_plan(kuhn, jnp.float32)
    traverse = jax.jit(lambda sigma, key, i: external.traverse(
        plan, widths[i], fanout, sigma, key, i, batch), static_argnums=2)
  else:
    env = envs.tree_env(kuhn)
    traverse = jax.jit(lambda sigma, key, i: outcome.traverse(env, sigma, key, i, batch, 0.6),
                       static_argnums=2)
  for i in (0, 1):
    est, visits = traverse(sigma, jax.random.PRNGKey(i), i)
    mine = np.asarray(game.infoset_player) == i
    np.testing.assert_allclose(np.asarray(est)[mine] / batch, np.asarray(cfv)[mine],
                               atol=atol_cfv)
    np.testing.assert_allclose(np.asarray(visits)[~mine] / batch,
                               np.asarray(own)[~mine] / 3, atol=atol_visits)


def test_outcome_sampling_converges_through_an_aligned_env(kuhn):
  # Through the native Kuhn env (aligned to the game's rows) it draws the same
  # children as through the compiled tree's adapter, so the runs agree.
  aligned = envs.align(envs.kuhn_env(), kuhn)
  policies = []
  for env in (None, aligned):
    solver = cfr_jax.make_solver(kuhn, 'os-mccfr', batch_size=512, env=env)
    policies.append(solver.average_policy(solver.run(solver.init(), 300)).probs)
  np.testing.assert_allclose(policies[0], policies[1], rtol=1e-5, atol=1e-6)
  assert _equal(solver.run(solver.run(solver.init(), 3), 4), solver.run(solver.init(), 7))
  assert cfr_jax.exploitability(kuhn, policies[1]) <= 1e-2  # measured 4.2e-3 (seed 0)


def test_kuhn_converges(kuhn):
  solver = cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=512, seed=0)
  state = solver.run(solver.init(), 500)
  value = cfr_jax.exploitability(kuhn, solver.average_policy(state))
  assert value <= 5e-3  # measured 1.7e-3 (seed 0, float32, CPU)
  # The average strategy, not the last one, is what converges.
  assert int(state.iteration) == 500


@pytest.mark.slow  # suite time: see README "Two commands"
def test_leduc_converges_and_chunks_bit_for_bit(leduc_solver):
  solver = leduc_solver
  state = solver.run(solver.init(), 400)
  value = cfr_jax.exploitability(solver.game, solver.average_policy(state))
  assert value <= 5e-2  # measured 3.7e-2 (seed 0, batch 1024, linear weighting, CPU)
  # run(run(s, a), b) == run(s, a + b), bit for bit: the key is in the state.
  a = solver.run(solver.run(solver.init(), 7), 13)
  b = solver.run(solver.init(), 20)
  assert _equal(a, b)
  # Another key (what seed=1 would give) draws other trajectories.
  other = solver.init().replace(key=jax.random.PRNGKey(1))
  assert not np.array_equal(solver.run(other, 20).regrets, b.regrets)


@pytest.fixture(scope='module')
def liars_dice():
  return cfr_jax.load_game('openspiel:liars_dice')


@pytest.mark.parametrize('name', ['kuhn', pytest.param('leduc', marks=pytest.mark.slow),
                                  pytest.param('liars_dice', marks=pytest.mark.slow)])
# leduc ~20-30 s, liar's dice: the pooled case (47 s, compiles)
def test_pooled_and_padded_frontiers_draw_the_same_trajectories(name, kuhn, liars_dice):
  # Same key, same draws: the pooled traversal returns the padded one's
  # estimate, up to the order of the scatter-adds.
  game = {'kuhn': kuhn, 'liars_dice': liars_dice}.get(name) or cfr_jax.load_game(name)
  batch = 64
  plan, widths, fanout = external.make_plan(game, jnp.float32)
  capacity = external.pool_capacities(game, batch, widths, fanout, pooled=True)
  sigma = jax.random.dirichlet(jax.random.PRNGKey(3), jnp.ones(game.num_actions),
                               (game.num_infosets,))
  sigma = jnp.where(game.legal, sigma, 0)
  sigma = sigma / jnp.sum(sigma, axis=1, keepdims=True)
  padded_fn = jax.jit(lambda key, i: external.traverse_padded(
      plan, widths[i], fanout, sigma, key, i, batch), static_argnums=1)
  # movers: who acts at each depth, which lets the pooled layout skip cases;
  # None: anyone anywhere
  pooled_fn = jax.jit(lambda key, i, movers: external.traverse_pooled(
      plan, widths[i], fanout, sigma, key, i, batch, capacity[i], movers), static_argnums=(1, 2))
  for i, movers in itertools.product((0, 1), (None, external.depth_movers(game))):
    key = jax.random.PRNGKey(11 + i)
    padded = padded_fn(key, i)
    *pooled, sizes = pooled_fn(key, i, movers)
    assert np.all(np.asarray(sizes) <= np.asarray(capacity[i]))
    assert np.asarray(padded[1]).sum() > 0  # the opponent was visited
    for a, b in zip(pooled, padded):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('name', ['leduc', 'openspiel:liars_dice(dice_sides=4)'])
def test_binary_search_picks_the_child_a_running_sum_over_the_children_picks(name):
  # The draw's child, found by `_pick`'s binary search over `child_cdf`, is
  # the one a sequential cumulative sum over the node's own children picks
  # (numpy here, in float32 and in order), at every node, chance or not,
  # including draws at the ends of [0, 1).
  game = cfr_jax.load_game(name)
  plan, _, fanout = external.make_plan(game, jnp.float32)
  sigma = jax.random.dirichlet(jax.random.PRNGKey(5), jnp.ones(game.num_actions),
                               (game.num_infosets,))
  # zero weights too, as regret matching gives them (uniform where all are 0)
  sigma = jnp.where(jax.random.bernoulli(jax.random.PRNGKey(6), 0.3, sigma.shape), 0, sigma)
  sigma = jax.vmap(regret_lib.regret_matching)(sigma, game.legal)
  num = plan.first.shape[0]
  first, count, player = (np.asarray(a) for a in (plan.first, plan.count, plan.player))
  slot, chance_prob = np.asarray(plan.slot), np.asarray(plan.chance_prob)
  flat_sigma = np.append(np.asarray(sigma).reshape(-1), 1).astype(np.float32)
  front = jnp.arange(num, dtype=jnp.int32)
  cdf = external.child_cdf(plan, sigma)
  for unit in (np.random.default_rng(0).random(num, dtype=np.float32),
               np.zeros(num, np.float32), np.full(num, 1 - 2.0 ** -24, np.float32)):
    got = np.asarray(jax.jit(external._pick, static_argnums=4)(
        plan, cdf, front, jnp.asarray(unit), max(fanout)))
    picks = {-1: 0}
    for node in range(num):
      children = first[node] + np.arange(count[node])
      weight = np.where(player[node] == CHANCE, chance_prob[children], flat_sigma[slot[children]])
      acc, cum = np.float32(0), []
      for w in weight.astype(np.float32):
        acc = np.float32(acc + w)
        cum.append(acc)
      u = np.float32(unit[node] * (cum[-1] if cum else np.float32(0)))
      want = min(int(np.sum(np.asarray(cum) <= u)), count[node] - 1)
      assert got[node] == want, (node, got[node], want)
      picks[want >= 0] = picks.get(want >= 0, 0) + 1
    assert picks[True] > 1000  # nodes with children were checked, not only leaves


def test_overflowing_pool_falls_back_to_the_padded_result_exactly(kuhn):
  batch = 32
  plan, widths, fanout = external.make_plan(kuhn, jnp.float32)
  tiny = (batch,) + (1,) * (len(fanout) - 1)  # overflows from depth 1 on
  sigma = jnp.full((kuhn.num_infosets, kuhn.num_actions), 0.5)
  key = jax.random.PRNGKey(5)
  sizes = jax.jit(lambda: external.traverse_pooled(
      plan, widths[0], fanout, sigma, key, 0, batch, tiny)[2])()
  assert np.any(np.asarray(sizes) > np.asarray(tiny))
  traverse = jax.jit(lambda capacity: external.traverse(
      plan, widths[0], fanout, sigma, key, 0, batch, capacity), static_argnums=0)
  assert _equal(traverse(tiny), traverse(None))
  # Past FALLBACK_ROWS trajectories the fallback pads them a chunk at a time:
  # the same draws (the last chunk part empty), summed in another order.
  batch = 2 * external.FALLBACK_ROWS + 40
  tiny = (batch,) + (1,) * (len(fanout) - 1)
  chunked, padded = (jax.jit(lambda capacity: external.traverse(
      plan, widths[0], fanout, sigma, key, 0, batch, capacity), static_argnums=0)(c)
                     for c in (tiny, None))
  # every trajectory, the last chunk's too, meets the opponent after both of
  # the traverser's opening actions, and the rows past the batch add nothing
  assert np.asarray(chunked[1]).sum() == 2 * batch
  for a, b in zip(chunked, padded):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_frontiers_are_pooled_unless_padding_is_asked_for(kuhn, liars_dice):
  for game in (kuhn, cfr_jax.load_game('leduc'), liars_dice):
    _, widths, fanout = external.make_plan(game, jnp.float32)
    capacity = external.pool_capacities(game, 1024, widths, fanout)
    assert all(c is not None for c in capacity)
    # never wider than padding, and narrower where trajectories' frontiers vary
    for c, w in zip(capacity, widths):
      assert all(ci <= 1024 * wi for ci, wi in zip(c, w))
    assert external.pool_capacities(game, 1024, widths, fanout, pooled=False) == (None, None)
  _, widths, fanout = external.make_plan(liars_dice, jnp.float32)
  capacity = external.pool_capacities(liars_dice, 1024, widths, fanout)
  assert sum(capacity[1]) * 4 < sum(1024 * w for w in widths[1])
  # Forced on a small game, a pooled solver resumes bit for bit and tracks
  # the padded one (sums in another order only).
  solver = cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=64, pooled=True)
  assert all(c is not None for c in solver.capacity)
  assert _equal(solver.run(solver.run(solver.init(), 3), 4), solver.run(solver.init(), 7))
  padded = cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=64, pooled=False)
  assert all(c is None for c in padded.capacity)
  np.testing.assert_allclose(solver.run(solver.init(), 7).regrets,
                             padded.run(padded.init(), 7).regrets, rtol=1e-5, atol=1e-5)


def test_describe_and_fingerprint_name_the_sampling(kuhn):
  base = cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=64)
  d = base.describe()
  assert d['algorithm'] == 'es-mccfr'
  assert d['sampling'] == {'scheme': 'external', 'batch_size': 64, 'seed': 0,
                           'weighting': 'linear'}
  fingerprint = lambda s: checkpoint_lib.make_fingerprint(**s.describe())
  others = [cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=32),
            cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=64, seed=1),
            cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=64, weighting='uniform'),
            cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=64, weighting='discounted',
                                alpha=1.0),
            cfr_jax.make_solver(kuhn, 'cfr')]
  outcome_solver = cfr_jax.make_solver(kuhn, 'os-mccfr', batch_size=64, exploration=0.5)
  assert outcome_solver.describe()['sampling']['scheme'] == 'outcome'
  assert outcome_solver.describe()['sampling']['exploration'] == 0.5
  others.append(outcome_solver)
  prints = {fingerprint(s) for s in [base] + others}
  assert len(prints) == 1 + len(others)


def test_bad_settings_are_refused(kuhn):
  with pytest.raises(ValueError, match='weighting'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', weighting='cubic')
  with pytest.raises(ValueError, match='batch_size'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', batch_size=0)
  with pytest.raises(ValueError, match='alternating'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', alternating=False)
  with pytest.raises(ValueError, match='hyperparameters'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', alpha=2.0)  # linear weighting fixes them
  with pytest.raises(ValueError, match='gamma must be finite'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', weighting='discounted', gamma=float('nan'))
  with pytest.raises(ValueError, match='gamma must be a number'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', weighting='discounted', gamma='fast')
  with pytest.raises(ValueError, match='exploration'):
    cfr_jax.make_solver(kuhn, 'os-mccfr', exploration=0)
  with pytest.raises(ValueError, match='outcome sampling'):
    cfr_jax.make_solver(kuhn, 'es-mccfr', exploration=0.5)
  with pytest.raises(ValueError, match='pooled'):
    cfr_jax.make_solver(kuhn, 'os-mccfr', pooled=True)


def test_launcher_chunking_is_invariant(tmp_path, kuhn):
  # Two chunk sizes, each chunk saved and the state rebuilt from its
  # checkpoint: the final states are identical.
  from cfr_jax.configs import leduc_mccfr
  states = []
  for chunk in (40, 120):
    config = leduc_mccfr.get_config()
    config.game, config.batch_size = 'kuhn', 128
    config.max_iterations, config.chunk_iterations, config.eval_every = 120, chunk, 60
    config.compilation_cache = str(tmp_path / 'cache')
    workdir = str(tmp_path / f'chunk{chunk}')
    assert training.run(config, workdir) == training.EXIT_COMPLETE
    solver, state = training.load_run(workdir)
    assert int(state.iteration) == 120 and solver.describe()['algorithm'] == 'es-mccfr'
    states.append(state)
  assert _equal(*states)


@pytest.mark.slow  # ~40-70 s; test_distributed's es-mccfr run spans devices in the default run
def test_batch_split_over_devices_sums_each_devices_draws(tmp_path):
  # In a child with two CPU devices: a mesh splits each batch in two, each
  # device drawing from the key folded with its index. The run must equal,
  # to rounding, one device summing the same two half batches (so neither
  # half is dropped or drawn twice), chunk bit for bit, converge, and run
  # through the launcher with config.devices=2 (resumed from a checkpoint:
  # the same state as uninterrupted); outcome sampling splits too.
  import multidevice  # pylint: disable=g-import-not-at-top
  out = multidevice.run_python(f'''
      import jax, numpy as np, cfr_jax
      from cfr_jax import training
      from cfr_jax.configs import leduc_mccfr
      from cfr_jax.sampled import external, solver as sampled
      assert len(jax.devices()) == 2
      game = cfr_jax.load_game('kuhn')
      mesh = cfr_jax.make_mesh(2)
      split = cfr_jax.make_solver(game, 'es-mccfr', batch_size=64, mesh=mesh)
      state = split.run(split.init(), 30)
      assert state.regrets.sharding.is_fully_replicated

      def halves(plan, sigma, key, i):
        parts = [external.traverse(plan, split.widths[i], split.fanout, sigma,
                                   jax.random.fold_in(key, d), i, 32, split.capacity[i])
                 for d in (0, 1)]
        return parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]
      one = cfr_jax.make_solver(game, 'es-mccfr', batch_size=64)
      run = jax.jit(sampled._make_run(one._algo, halves, 64))
      ref = run(one._game, one._plan, one.init(), 30, one._hp)
      for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(state)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
      # Folded keys: not the unsplit solver's draws.
      assert not np.allclose(one.run(one.init(), 30).regrets, state.regrets)
      chunked = split.run(split.run(split.init(), 11), 19)
      assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(chunked),
                                                      jax.tree.leaves(state)))
      state = split.run(state, 470)
      value = cfr_jax.exploitability(game, split.average_policy(state))
      assert value <= 2e-2, value
      # Outcome sampling splits the same way (its loops' carries vary by device).
      outcome = cfr_jax.make_solver(game, 'os-mccfr', batch_size=512, mesh=mesh)
      o = outcome.run(outcome.init(), 300)
      assert all(np.array_equal(a, b) for a, b in zip(
          jax.tree.leaves(outcome.run(outcome.run(outcome.init(), 3), 4)),
          jax.tree.leaves(outcome.run(outcome.init(), 7))))
      assert cfr_jax.exploitability(game, outcome.average_policy(o)) <= 2e-2

      states = []
      for chunk in (40, 120):
        config = leduc_mccfr.get_config()
        config.game, config.batch_size, config.devices = 'kuhn', 64, 2
        config.max_iterations, config.chunk_iterations, config.eval_every = 120, chunk, 60
        config.compilation_cache = {str(tmp_path / 'cache')!r}
        workdir = {str(tmp_path)!r} + f'/chunk{{chunk}}'
        assert training.run(config, workdir) == training.EXIT_COMPLETE
        solver, s = training.load_run(workdir)
        assert solver.shards == 2 and int(s.iteration) == 120
        states.append(s)
      assert all(np.array_equal(a, b) for a, b in zip(*map(jax.tree.leaves, states)))
      print('ok', value)
  ''', devices=2)
  assert 'ok' in out
