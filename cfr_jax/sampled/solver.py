"""Monte Carlo CFR solvers with the tabular Solver's API.

    solver = cfr_jax.make_solver(game, 'es-mccfr', batch_size=1024, weighting='linear')
    state = solver.run(solver.init(), 200)   # 200 iterations of 1024 traversals per player
    cfr_jax.exploitability(game, solver.average_policy(state))
    cfr_jax.make_solver(game, 'os-mccfr', batch_size=4096, exploration=0.6)

External sampling traverses the compiled tree level by level (external.py);
outcome sampling plays trajectories through the generative interface
(outcome.py): the game's `envs.tree_env` by default, or any `env=` whose
infoset ids are the game's rows (`envs.align`).

An iteration is one batch of `batch_size` traversals for player 0, then one
for player 1 (alternating, as OpenSpiel's MCCFR). Each batch's sampled
counterfactual values, averaged over the batch, are an unbiased estimate of
the iteration's exact ones; they enter the same per-infoset regret kernels
as the exact solvers (cfr_jax/regret.py), which supply the weighting:
'uniform' (plain MCCFR), 'linear' (linear CFR: iteration t weighs t, as
Pluribus's discounting; the default) or 'discounted' (DCFR alpha, beta, gamma).

The RNG key lives in the state and each iteration's randomness is derived
from it and the iteration number (`fold_in`), never advanced: a resumed run
draws what the uninterrupted run draws, so `run(run(s, a), b)` equals
`run(s, a + b)` bit for bit on CPU.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import placement
from cfr_jax import regret as regret_lib
from cfr_jax.checks import (checked_bool, checked_count, checked_dtype, checked_float,
                            checked_hyperparameters, checked_int64, checked_seed,
                            checked_state)
from cfr_jax.games.tree import Game
from cfr_jax.policy import TabularPolicy
from cfr_jax import envs as envs_lib
from cfr_jax.sampled import external, outcome

SAMPLED_ALGORITHMS = ('es-mccfr', 'os-mccfr')
SCHEMES = {'es-mccfr': 'external', 'os-mccfr': 'outcome'}
WEIGHTINGS = {'uniform': 'cfr', 'linear': 'linear_cfr', 'discounted': 'dcfr'}


@struct.dataclass
class SampledState:
  """Everything needed to continue a sampled run bit for bit.

  regrets:      [I, A] cumulative (weighted) sampled regrets.
  strategy_sum: [I, A] weighted sum of sampled-reach-weighted strategies.
  strategy_sum_low: [I, A] its low-order part (compensated), or None.
  last_regrets: always None (no predictive kernel here); kept so that tools
                reading tabular states read these alike.
  iteration:    [] int32 completed iterations.
  key:          [2] uint32, the run's base PRNG key (constant; see module doc).
  """
  regrets: jax.Array
  strategy_sum: jax.Array
  strategy_sum_low: jax.Array | None
  last_regrets: jax.Array | None
  iteration: jax.Array
  key: jax.Array


def canonical_name(algorithm: str) -> str | None:
  """'es-mccfr' or 'os-mccfr' for their spellings ('es_mccfr',
  'external_sampling', ...), else None."""
  key = str(algorithm).strip().lower().replace('_', '-')
  return {'es-mccfr': 'es-mccfr', 'external-sampling': 'es-mccfr', 'esmccfr': 'es-mccfr',
          'os-mccfr': 'os-mccfr', 'outcome-sampling': 'os-mccfr',
          'osmccfr': 'os-mccfr'}.get(key)


@dataclasses.dataclass(frozen=True, eq=False)
class SampledSolver:
  """A Monte Carlo CFR solver bound to a compiled game. Build it with `make_solver`."""
  game: Game
  algorithm: str
  weighting: str
  batch_size: int
  seed: int
  hyperparameters: dict
  dtype: Any
  compensated: bool = True
  exploration: float | None = None  # outcome sampling's epsilon
  env: Any = None  # outcome sampling's env (None: the game's tree_env)
  pooled: bool | None = None  # external sampling's frontier layout (None: pooled)
  alternating: bool = True  # always: the traverser alternates
  mesh: Any = None  # a 1-D mesh: each device runs batch_size / devices trajectories
  storage: Any = None

  def __post_init__(self):
    algo = regret_lib.ALGORITHMS[WEIGHTINGS[self.weighting]]
    batch = self.batch_size // self.shards  # each device's trajectories
    if self.scheme == 'external':
      plan, widths, fanout = external.make_plan(self.game, self.dtype)
      capacity = external.pool_capacities(self.game, batch, widths, fanout, self.pooled)
      movers = external.depth_movers(self.game)
      traverse = lambda plan, sigma, key, i: external.traverse(
          plan, widths[i], fanout, sigma, key, i, batch, capacity[i], movers)
    else:
      plan = self.env if self.env is not None else envs_lib.tree_env(self.game, self.dtype)
      widths, fanout, capacity, epsilon = None, None, None, self.exploration
      traverse = lambda plan, sigma, key, i: outcome.traverse(
          plan, sigma, key, i, batch, epsilon)
    game = self.game.astype(self.dtype)
    hp = {k: placement.to_device(v, self.dtype) for k, v in self.hyperparameters.items()}
    if self.mesh is not None:
      game, plan, hp = placement.put((game, plan, hp), self._replicated)
    run = jax.jit(_make_run(algo, traverse, self.batch_size, self.mesh), donate_argnums=(2,))
    object.__setattr__(self, '_game', game)
    object.__setattr__(self, '_plan', plan)
    object.__setattr__(self, '_algo', algo)
    object.__setattr__(self, '_run', run)
    object.__setattr__(self, 'widths', widths)
    object.__setattr__(self, 'fanout', fanout)
    object.__setattr__(self, 'capacity', capacity)
    object.__setattr__(self, '_hp', hp)

  @property
  def scheme(self) -> str:
    return SCHEMES[self.algorithm]

  @property
  def num_rows(self) -> int:
    return self.game.num_infosets

  @property
  def shards(self) -> int:
    """Devices the batch is split over (1 without a mesh)."""
    return 1 if self.mesh is None else self.mesh.size

  @property
  def _replicated(self):
    return jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

  def state_shardings(self) -> SampledState | None:
    """Every leaf whole on every device of the mesh (None without one): the
    tables are small next to the traversals, which are what is split."""
    if self.mesh is None:
      return None
    return jax.tree.map(lambda _: self._replicated, jax.eval_shape(self._zeros))

  def _zeros(self) -> SampledState:
    zeros = lambda: jnp.zeros((self.num_rows, self.game.num_actions), self.dtype)
    return SampledState(regrets=zeros(), strategy_sum=zeros(),
                        strategy_sum_low=zeros() if self.compensated else None,
                        last_regrets=None, iteration=jnp.zeros((), jnp.int32),
                        key=jax.random.PRNGKey(self.seed))

  def init(self) -> SampledState:
    """The state before the first iteration (uniform strategy, key from `seed`)."""
    state = self._zeros()
    return state if self.mesh is None else placement.put(state, self._replicated)

  def abstract_state(self, num_rows: int | None = None) -> SampledState:
    """Shapes and dtypes (and shardings, with a mesh) of a state (for
    restoring checkpoints)."""
    shapes = jax.eval_shape(self._zeros)
    if num_rows is None:
      if self.mesh is None:
        return shapes
      return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                         sharding=self._replicated), shapes)
    # Another row count (a padded checkpoint), read as is for `place` to cut.
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        (num_rows,) + x.shape[1:] if x.ndim == 2 else x.shape, x.dtype), shapes)

  def place(self, state: SampledState) -> SampledState:
    """`state` on the default device (whole on every device of the mesh, if
    any), its infoset rows cut to the game's."""
    real = self.game.num_infosets

    def fit(x):
      if np.ndim(x) != 2:
        return x
      if x.shape[0] < real:
        raise ValueError(f'state has {x.shape[0]} infoset rows; the game has {real}')
      return x[:real]
    state = jax.tree.map(fit, state)
    if self.mesh is None:
      return jax.device_put(state, jax.devices()[0])
    return placement.put(state, self._replicated)

  def run(self, state: SampledState, num_iterations: int) -> SampledState:
    """Runs `num_iterations` more iterations in one jitted call (state is donated)."""
    n = checked_count(checked_state(self, state).iteration, num_iterations)
    return self._run(self._game, self._plan, state, placement.to_device(n, np.int32), self._hp)

  def run_many(self, states, num_iterations, hyperparameters=None):
    raise ValueError(f'{self.algorithm} does not run vmapped instances yet: run one solver '
                     'per instance (the launcher runs them as processes, '
                     'instances_mode=process)')

  def current_policy(self, state: SampledState) -> TabularPolicy:
    """The strategy the next iteration samples from."""
    checked_state(self, state)
    return self._policy(_strategy(self._algo, self._game, state, self._hp))

  def average_policy(self, state: SampledState) -> TabularPolicy:
    """The average strategy: what converges to an equilibrium."""
    total = checked_state(self, state, reads=('strategy_sum', 'strategy_sum_low')).strategy_sum
    if state.strategy_sum_low is not None:
      total = total + state.strategy_sum_low
    return self._policy(jax.vmap(regret_lib.regret_matching)(total, self._game.legal))

  def describe(self) -> dict:
    """What gives a state its meaning (for checkpoint fingerprints)."""
    return {'game': self.game.info.spec, 'algorithm': self.algorithm,
            'sampling': {'scheme': self.scheme, 'batch_size': self.batch_size,
                         'seed': self.seed, 'weighting': self.weighting,
                         **({} if self.exploration is None else
                            {'exploration': self.exploration}),
                         **({} if self.env is None else {'env': type(self.env).__name__})},
            'hyperparameters': self.hyperparameters, 'alternating': True,
            'dtype': jnp.dtype(self.dtype).name,
            'shape': [self.game.num_infosets, self.game.num_actions],
            **({} if self.compensated else {'compensated': False})}

  def _policy(self, probs) -> TabularPolicy:
    return TabularPolicy(self.game.info, np.asarray(probs), np.asarray(self.game.legal),
                         normalised=True)


def _strategy(algo, game, state, hp):
  t = state.iteration.astype(hp['gamma'].dtype) + 1
  zeros = jnp.zeros_like(state.regrets)
  return jax.vmap(algo.policy, in_axes=(0, 0, None, None, 0))(
      state.regrets, zeros, t, hp, game.legal)


def _make_run(algo, traverse, batch, mesh=None):
  """The jitted body: n iterations of sampled MCCFR, `traverse(plan, sigma,
  key, traverser)` -> (cfv [I, A], visits [I]) summed over its trajectories:
  all `batch` of them, or with a 1-D `mesh` each device's share, drawn from
  the key folded with the device's index and summed across devices (so the
  draws, not the estimator, depend on the device count)."""
  update = jax.vmap(algo.update, in_axes=(0, 0, 0, None, None))
  accumulate = jax.vmap(regret_lib.accumulate, in_axes=(0, 0, 0, None, None))

  def sampled(plan, sigma, key, traverser):
    if mesh is None:
      return traverse(plan, sigma, key, traverser)
    axis = mesh.axis_names[0]
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(mesh.size))

    def share(plan, sigma, keys):
      cfv, visits = traverse(plan, sigma, keys[0], traverser)
      return jax.lax.psum(cfv, axis), jax.lax.psum(visits, axis)
    spec = jax.sharding.PartitionSpec
    # check_vma off: outcome sampling's loops carry values that the per-device
    # key makes device-varying, which the check would have cast by hand; the
    # psums above are what make the results the same on every device.
    return jax.shard_map(share, mesh=mesh, in_specs=(spec(), spec(), spec(axis)),
                         out_specs=(spec(), spec()), check_vma=False)(plan, sigma, keys)

  def half_step(game, plan, state, hp, t, traverser):
    sigma = _strategy(algo, game, state, hp)
    key = jax.random.fold_in(jax.random.fold_in(state.key, state.iteration), traverser)
    cfv, visits = sampled(plan, sigma, key, traverser)
    cfv = cfv / batch
    # the node value, summed over actions in order: one fused pass (a
    # reduction over the short axis becomes a slow dot on CPU)
    value = sum(sigma[:, a] * cfv[:, a] for a in range(sigma.shape[1]))
    inst = jnp.where(game.legal, cfv - value[:, None], 0)
    regrets, _ = update(state.regrets, jnp.zeros_like(inst), inst, t, hp)
    low = (jnp.zeros_like(inst) if state.strategy_sum_low is None
           else state.strategy_sum_low)
    total, low = accumulate(state.strategy_sum, low, (visits / batch)[:, None] * sigma,
                            t, hp['gamma'])
    own = (game.infoset_player == traverser)[:, None]
    return state.replace(
        regrets=jnp.where(own, regrets, state.regrets),
        strategy_sum=jnp.where(own, state.strategy_sum, total),
        strategy_sum_low=(None if state.strategy_sum_low is None
                          else jnp.where(own, state.strategy_sum_low, low)))

  def iteration(_, carry):
    game, plan, state, hp = carry
    t = state.iteration.astype(hp['gamma'].dtype) + 1
    state = half_step(game, plan, state, hp, t, 0)
    state = half_step(game, plan, state, hp, t, 1)
    return game, plan, state.replace(iteration=state.iteration + 1), hp

  def run(game, plan, state, n, hp):
    return jax.lax.fori_loop(0, n, iteration, (game, plan, state, hp))[2]

  return run


def make_sampled_solver(game: Game, algorithm: str = 'es-mccfr', *,
                        batch_size: int = 1024, weighting: str = 'linear', seed: int = 0,
                        dtype: Any = 'float32', alternating: bool = True, mesh=None,
                        storage=None, compensated: bool | None = None,
                        exploration: float | None = None, env=None,
                        pooled: bool | None = None, **hyperparameters) -> SampledSolver:
  """A Monte Carlo CFR solver for the compiled `game` (see `cfr_jax.make_solver`).

  exploration: outcome sampling's epsilon (default 0.6, OpenSpiel's).
  env: outcome sampling's generative game, whose `infoset(s)` must be the
    game's infoset rows (`envs.tree_env(game)`, the default, or `envs.align`).
  pooled: external sampling's frontiers, pooled across the batch (True or
    None, the default) or padded per trajectory (False, the layout a pool
    that overflows falls back to; slower on every game measured). Both give
    the same estimator from the same draws (sums in another order: not bit
    for bit).
  """
  name = canonical_name(algorithm)
  if name is None:
    raise ValueError(f'unknown sampled algorithm {algorithm!r}; choose one of '
                     f'{", ".join(SAMPLED_ALGORITHMS)}')
  if not isinstance(game, Game):
    raise TypeError(f'{name} needs a compiled tree Game (kuhn, leduc, openspiel:...), '
                    f'got {type(game).__name__}')
  weighting = str(weighting).strip().lower()
  if weighting not in WEIGHTINGS:
    raise ValueError(f'weighting must be one of {", ".join(WEIGHTINGS)}, got {weighting!r}')
  compensated = checked_bool(compensated, 'compensated', none=True)
  if not checked_bool(alternating, 'alternating'):
    raise ValueError(f'{name} alternates the traverser; alternating=False is not offered')
  if storage is not None and jnp.dtype(storage) != jnp.dtype(dtype):
    raise ValueError(f'{name} has no compact storage yet')
  if name == 'es-mccfr' and (exploration is not None or env is not None):
    raise ValueError('es-mccfr takes neither exploration nor env (outcome sampling does)')
  if name == 'os-mccfr' and pooled is not None:
    raise ValueError('os-mccfr takes no pooled (external sampling does)')
  if name == 'os-mccfr':
    exploration = 0.6 if exploration is None else checked_float(exploration, 'exploration')
    if not 0 < exploration <= 1:
      raise ValueError(f'exploration must be in (0, 1], got {exploration}')
    if env is not None and not isinstance(env, envs_lib.Env):  # 'kuhn': an AttributeError
      raise TypeError(f'env must be an env object (cfr_jax.envs.load_env("kuhn"), aligned by '
                      f'envs.align(env, game)), got {type(env).__name__} {env!r:.40}')
    if env is not None and env.num_actions != game.num_actions:
      raise ValueError(f'env has {env.num_actions} action slots, the game {game.num_actions}')
  if checked_int64(batch_size, 'batch_size') < 1:
    raise ValueError(f'batch_size must be a positive whole number, got {batch_size!r}')
  if mesh is not None:
    if not isinstance(mesh, jax.sharding.Mesh) or len(mesh.axis_names) != 1:
      raise ValueError(f'{name} takes a 1-D jax.sharding.Mesh (cfr_jax.make_mesh), got '
                       f'{mesh!r}')
    if batch_size % mesh.size:
      raise ValueError(f'batch_size {batch_size} does not split evenly over '
                       f'{mesh.size} devices')
  algo = regret_lib.ALGORITHMS[WEIGHTINGS[weighting]]
  fixed = set(hyperparameters) & set(algo.fixed)
  unknown = set(hyperparameters) - set(algo.defaults)
  if fixed or unknown:
    raise ValueError(f'{name} with weighting {weighting!r} takes hyperparameters '
                     f'{sorted(set(algo.defaults) - set(algo.fixed)) or "none"}; got '
                     f'{sorted(hyperparameters)}')
  hp = {**algo.defaults,
        **{k: checked_float(v, f'hyperparameter {k}') for k, v in hyperparameters.items()}}
  dtype = checked_dtype(dtype)
  checked_hyperparameters(hp, dtype)
  return SampledSolver(game=game, algorithm=name, weighting=weighting,
                       batch_size=int(batch_size), seed=checked_seed(seed), hyperparameters=hp,
                       dtype=dtype, compensated=compensated is not False,
                       exploration=exploration, env=env, mesh=mesh,
                       pooled=checked_bool(pooled, 'pooled', none=True))
