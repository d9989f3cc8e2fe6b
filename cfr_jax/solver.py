"""SolverState, the CFR iteration over a compiled game, and `make_solver`.

`Solver.run(state, n)` runs n iterations as one `lax.fori_loop` inside one
`jax.jit`, with the state donated: no host round trip, and since `n` and the
hyperparameters are traced, no recompilation between calls.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import regret as regret_lib
from cfr_jax.games.tree import Game, backward_values, edge_probs, player_reach
from cfr_jax.policy import TabularPolicy

MAX_ITERATION = np.iinfo(np.int32).max


@struct.dataclass
class SolverState:
  """Everything needed to continue a run bit for bit.

  regrets:      [I, A] cumulative (possibly discounted / clipped) regrets.
  strategy_sum: [I, A] weighted sum of reach-weighted current strategies.
  strategy_sum_low: [I, A] its low-order part (compensated summation keeps
                the float32 average exact to rounding over millions of iterations).
  last_regrets: [I, A] previous instantaneous regrets (predictive algorithms; zeros otherwise).
  iteration:    [] int32, number of completed iterations.
  """
  regrets: jax.Array
  strategy_sum: jax.Array
  strategy_sum_low: jax.Array
  last_regrets: jax.Array
  iteration: jax.Array


def counterfactual_values(game: Game, reach: jax.Array, values: jax.Array) -> jax.Array:
  """[I, A] counterfactual values of each infoset's owner.

  reach: [2, N] players' own reaches; values: [N] player 0's expected values.
  cfv(I, a) = sum_{h in I} reach_{-i}(h) * chance(h) * v_i(h a).
  """
  zero = jnp.zeros((1,), values.dtype)
  pad = lambda x: jnp.concatenate([x, zero])
  owner = game.infoset_player
  opp, chance = pad(reach[0]), pad(game.chance_reach)
  opp = (jnp.where(owner == 0, pad(reach[1])[game.infoset_members], opp[game.infoset_members])
         * chance[game.infoset_members])  # [K, I]
  signed = jnp.where(owner == 0, 1, -1).astype(values.dtype)[:, None]
  v = pad(values)
  return signed * sum(opp[k][:, None] * v[game.slot_children[k]]
                      for k in range(opp.shape[0]))


@dataclasses.dataclass(frozen=True, eq=False)
class Solver:
  """A CFR-family solver bound to a game. Build it with `make_solver`."""
  game: Game
  algorithm: str
  hyperparameters: dict
  alternating: bool
  dtype: Any

  def __post_init__(self):
    _, algo = regret_lib.get_algorithm(self.algorithm)
    run = jax.jit(_make_run(algo, self.alternating), donate_argnums=(1,))
    object.__setattr__(self, '_game', self.game.astype(self.dtype))
    object.__setattr__(self, '_algo', algo)
    object.__setattr__(self, '_run', run)
    object.__setattr__(self, '_hp', {k: jnp.asarray(v, self.dtype)
                                     for k, v in self.hyperparameters.items()})

  def init(self) -> SolverState:
    """The state before the first iteration (uniform current strategy)."""
    zeros = lambda: jnp.zeros((self.game.num_infosets, self.game.num_actions), self.dtype)
    return SolverState(regrets=zeros(), strategy_sum=zeros(), strategy_sum_low=zeros(),
                       last_regrets=zeros(), iteration=jnp.zeros((), jnp.int32))

  def abstract_state(self) -> SolverState:
    """Shapes and dtypes of a state, for restoring checkpoints."""
    return jax.eval_shape(self.init)

  def run(self, state: SolverState, num_iterations: int) -> SolverState:
    """Runs `num_iterations` more iterations in one jitted call (state is donated)."""
    n = int(num_iterations)
    if n < 0:
      raise ValueError(f'num_iterations must be >= 0, got {num_iterations}')
    if int(state.iteration) + n > MAX_ITERATION:
      raise OverflowError(f'iteration counter would pass {MAX_ITERATION}')
    return self._run(self._game, state, jnp.asarray(n, jnp.int32), self._hp)

  def current_policy(self, state: SolverState) -> TabularPolicy:
    """The strategy the next iteration plays."""
    return self._policy(_current_strategy(self._algo, self._game, state, self._hp))

  def average_policy(self, state: SolverState) -> TabularPolicy:
    """The average strategy: what converges to an equilibrium."""
    return self._policy(average_strategy(self.game, state.strategy_sum + state.strategy_sum_low))

  def describe(self) -> dict:
    """What gives a state its meaning (for checkpoint fingerprints)."""
    return {'game': self.game.info.spec, 'algorithm': self.algorithm,
            'hyperparameters': self.hyperparameters,
            'alternating': self.alternating, 'dtype': jnp.dtype(self.dtype).name,
            'shape': [self.game.num_infosets, self.game.num_actions]}

  def _policy(self, probs):
    return TabularPolicy(self.game.info, np.asarray(probs), np.asarray(self.game.legal))


def average_strategy(game: Game, strategy_sum: jax.Array) -> jax.Array:
  """[I, A] normalised strategy sums; uniform where an infoset was never reached."""
  return jax.vmap(regret_lib.regret_matching)(strategy_sum, game.legal)


def _current_strategy(algo, game, state, hp):
  t = state.iteration.astype(state.regrets.dtype) + 1
  return jax.vmap(algo.policy, in_axes=(0, 0, None, None, 0))(
      state.regrets, state.last_regrets, t, hp, game.legal)


def _make_run(algo: regret_lib.Algorithm, alternating: bool):
  """The jitted body: n iterations of `algo`, alternating or simultaneous."""
  update = jax.vmap(algo.update, in_axes=(0, 0, 0, None, None))
  accumulate = jax.vmap(regret_lib.accumulate, in_axes=(0, 0, 0, None, None))

  def half_step(game, state, hp, t, players):
    # One tree pass under the current profile; updates the infosets of `players`.
    sigma = _current_strategy(algo, game, state, hp)
    ep = edge_probs(game, sigma)
    reach = player_reach(game, ep)
    values = backward_values(game, ep, game.utility)
    cfv = counterfactual_values(game, reach, values)
    inst = jnp.where(game.legal, cfv - (sigma * cfv).sum(-1, keepdims=True), 0)
    own = reach[game.infoset_player, game.infoset_node]
    new = (*update(state.regrets, state.last_regrets, inst, t, hp),
           *accumulate(state.strategy_sum, state.strategy_sum_low, own[:, None] * sigma,
                       t, hp['gamma']))
    old = (state.regrets, state.last_regrets, state.strategy_sum, state.strategy_sum_low)
    mask = jnp.isin(game.infoset_player, jnp.asarray(players))[:, None]
    new = [jnp.where(mask, a, b) for a, b in zip(new, old)]
    return state.replace(regrets=new[0], last_regrets=new[1], strategy_sum=new[2],
                         strategy_sum_low=new[3])

  def iteration(_, carry):
    game, state, hp = carry
    t = state.iteration.astype(state.regrets.dtype) + 1
    if alternating:
      state = half_step(game, state, hp, t, (0,))
      state = half_step(game, state, hp, t, (1,))
    else:
      state = half_step(game, state, hp, t, (0, 1))
    return game, state.replace(iteration=state.iteration + 1), hp

  def run(game, state, n, hp):
    return jax.lax.fori_loop(0, n, iteration, (game, state, hp))[1]

  return run


def make_solver(game: Game, algorithm: str = 'dcfr', *, alternating: bool = True,
                dtype: Any = 'float32', **hyperparameters) -> Solver:
  """A solver for `game`.

  algorithm: 'cfr', 'cfr+', 'linear_cfr', 'dcfr', 'pcfr+' or 'pdcfr+'.
  hyperparameters: DCFR's alpha, beta, gamma (defaults 1.5, 0, 2); PDCFR+'s
    alpha, gamma (2.3, 5); gamma, the averaging exponent, for every algorithm.
  dtype: 'float32' (default) or 'float64' (needs jax_enable_x64).
  """
  if not isinstance(game, Game):
    raise TypeError(f'expected a Game from cfr_jax.load_game, got {type(game).__name__}')
  name, algo = regret_lib.get_algorithm(algorithm)
  unknown = set(hyperparameters) - set(algo.defaults)
  if unknown:
    raise ValueError(f'{name} takes hyperparameters {sorted(algo.defaults)}; '
                     f'got unknown {sorted(unknown)}')
  fixed = set(hyperparameters) & set(algo.fixed)
  if fixed:
    raise ValueError(f'{name} fixes {sorted(fixed)}; use "dcfr" to change them')
  hp = dict(algo.defaults)
  for k, v in hyperparameters.items():
    try:
      hp[k] = float(v)
    except (TypeError, ValueError):
      raise ValueError(f'hyperparameter {k} must be a number, got {v!r}') from None
  dtype = jnp.dtype(dtype)
  if dtype not in (jnp.float32, jnp.float64):
    raise ValueError(f'dtype must be float32 or float64, got {dtype}')
  if dtype == jnp.float64 and not jax.config.jax_enable_x64:
    raise ValueError('float64 needs jax_enable_x64: call '
                     'jax.config.update("jax_enable_x64", True) at start-up')
  return Solver(game=game, algorithm=name, hyperparameters=hp,
                alternating=bool(alternating), dtype=dtype)
