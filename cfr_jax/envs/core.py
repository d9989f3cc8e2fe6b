"""The generative game interface: pure functions on small state pytrees.

A generative game (an `Env`) never holds its tree: it describes one history
at a time, so it scales to games far beyond memory, and every function is
pure, jittable and vmappable over states (pgx-style). Chance is explicit:
a chance node offers `chance_probs(s)` over `num_outcomes` outcome slots and
`step(s, outcome)` follows one, so a sampler draws chance itself (external
and outcome sampling need that), and `init(key)` is the usual shortcut that
samples the deal.

The convention every env follows, which ties it to a compiled `Game`
(cfr_jax/games/tree.py): the k-th child of a decision node is its k-th legal
action slot, and the k-th child of a chance node its k-th outcome of
positive probability, both in ascending order. `envs.align` walks an env
and a compiled game in lockstep on that convention, checks that they agree,
and maps the env's infoset codes to the game's infoset rows.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from cfr_jax import kernels

CHANCE = 2
TERMINAL = 3

State = Any  # a pytree of arrays; each env defines its own


class Env:
  """A two-player zero-sum game as pure functions (subclasses are pytrees).

  Static integers:
    num_actions:  A, the players' action slots.
    num_outcomes: C, the chance outcome slots.
    max_depth:    an upper bound on the number of steps (chance included)
                  from the root to any terminal.
    num_codes:    infoset codes lie in [0, num_codes).
  Functions of one state (vmap them for batches):
    root() -> State                 the empty history.
    current_player(s) -> [] int32   0, 1, CHANCE or TERMINAL.
    legal_mask(s) -> [A] bool       the acting player's legal slots (none elsewhere).
    chance_probs(s) -> [C] float32  outcome probabilities at chance nodes (zeros elsewhere).
    step(s, a) -> State             take action slot a, or chance outcome a.
    returns(s) -> [2] float32       the players' payoffs at terminals (zeros elsewhere).
    infoset_code(s) -> [] int32     the acting player's infoset, an integer in
                                    [0, num_codes) (-1 where nobody decides).
    observation(s) -> [F] float32   what the acting player knows, as a fixed-size
                                    vector a network reads (F = num_features): a
                                    function of the infoset alone (equal for
                                    every history of one infoset), zeros where
                                    nobody decides.
  payoff_scale: the largest |payoff| (or a bound on it): neural solvers learn
  values in this unit.
  `infoset(s)` is the id a tabular solver indexes its tables with: the code,
  or, for an env aligned with a compiled game (`envs.align`), the game's row.
  """
  num_actions: int
  num_outcomes: int
  max_depth: int
  num_codes: int

  def root(self) -> State:
    raise NotImplementedError

  def current_player(self, s: State) -> jax.Array:
    raise NotImplementedError

  def legal_mask(self, s: State) -> jax.Array:
    raise NotImplementedError

  def chance_probs(self, s: State) -> jax.Array:
    raise NotImplementedError

  def step(self, s: State, a) -> State:
    raise NotImplementedError

  def returns(self, s: State) -> jax.Array:
    raise NotImplementedError

  def infoset_code(self, s: State) -> jax.Array:
    raise NotImplementedError

  def observation(self, s: State) -> jax.Array:
    raise NotImplementedError(f'{type(self).__name__} has no observation() (neural '
                              'solvers need one)')

  @property
  def num_features(self) -> int:
    return int(jax.eval_shape(self.observation, self.root()).shape[0])

  @property
  def payoff_scale(self) -> float:
    return 1.0

  def infoset(self, s: State) -> jax.Array:
    return self.infoset_code(s)

  def is_terminal(self, s: State) -> jax.Array:
    return self.current_player(s) == TERMINAL

  def init(self, key: jax.Array) -> State:
    """The root with its leading chance events (the deal) sampled from `key`."""
    return sample_chance(self, self.root(), key)


def sample_outcome(probs: jax.Array, key: jax.Array) -> jax.Array:
  """[] int32 slot drawn from the weights `probs` [C] (not necessarily
  normalised) by inverse CDF from one uniform; never a zero-weight slot."""
  cdf = kernels.running_sum(probs)  # jnp.cumsum: a ladder of reduce-windows on CPU
  u = jax.random.uniform(key, dtype=cdf.dtype) * cdf[-1]
  last = probs.shape[0] - 1 - jnp.argmax(probs[::-1] > 0)  # u * total may round up
  return jnp.minimum(jnp.sum(cdf <= u), last).astype(jnp.int32)


def sample_chance(env: Env, s: State, key: jax.Array) -> State:
  """Follows sampled chance outcomes from `s` until a decision or a terminal.

  At most `max_depth` draws, as a `lax.while_loop` (jittable, vmappable).
  """
  def cond(carry):
    s, _, n = carry
    return (env.current_player(s) == CHANCE) & (n < env.max_depth)

  def body(carry):
    s, key, n = carry
    key, sub = jax.random.split(key)
    return env.step(s, sample_outcome(env.chance_probs(s), sub)), key, n + 1

  return jax.lax.while_loop(cond, body, (s, key, jnp.zeros((), jnp.int32)))[0]


def random_playout(env: Env, key: jax.Array, policy=None) -> tuple:
  """(terminal state, [max_depth] acting players, [max_depth] actions taken)
  of one history played from the root: chance by its probabilities, players
  uniformly over legal actions (or by `policy(s) -> [A]`). Steps after the
  terminal record player TERMINAL and action -1."""
  def body(carry, k):
    s = carry
    p = env.current_player(s)
    probs = jnp.where(p == CHANCE, _pad(env.chance_probs(s), env),
                      _pad(env.legal_mask(s).astype(jnp.float32)
                           if policy is None else policy(s), env))
    a = jnp.where(p == TERMINAL, -1, sample_outcome(probs, k))
    nxt = jax.tree.map(lambda x, y: jnp.where(p == TERMINAL, x, y), s,
                       env.step(s, jnp.maximum(a, 0)))
    return nxt, (p, a)

  s, (players, actions) = jax.lax.scan(body, env.root(),
                                       jax.random.split(key, env.max_depth))
  return s, players, actions


def _pad(x, env):
  width = max(env.num_actions, env.num_outcomes)
  return jnp.zeros(width, jnp.float32).at[:x.shape[0]].set(x.astype(jnp.float32))
