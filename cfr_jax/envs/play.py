"""Head-to-head play: how two policies fare against each other by sampled games.

Where a game does not compile there is no exact best response, so progress is
measured by play: many games (vmapped, one `lax.scan` of `max_depth` steps
each), each policy taking both seats equally often (a seat's advantage cancels),
reporting the first policy's mean payoff and its standard error.

A policy is a pair (fn, params): fn(params, s, env) -> [A] action
probabilities at state s (zeros at illegal slots), a pure function; `params` a pytree
(network parameters, or () for `uniform`). Keep `fn` the same object across
calls (a module function, or a solver's `policy_fn`): it is a static argument
of the jitted program, so the same fn with new params compiles nothing.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from flax import errors as flax_errors

from cfr_jax.checks import checked_int64
from cfr_jax.envs.core import CHANCE, TERMINAL, Env, sample_outcome


def uniform(params, s, env: Env):  # pylint: disable=unused-argument
  """Uniform over the legal actions."""
  legal = env.legal_mask(s).astype(jnp.float32)
  return legal / jnp.maximum(legal.sum(), 1)


@functools.partial(jax.jit, static_argnames=('fn_a', 'fn_b', 'num_games'))
def _play(env, fn_a, params_a, fn_b, params_b, key, num_games):
  """[num_games] payoffs to policy a, seated as player g % 2 in game g."""
  width = max(env.num_actions, env.num_outcomes)
  pad = lambda x: jnp.zeros(width, jnp.float32).at[:x.shape[0]].set(x.astype(jnp.float32))

  def game(g, key):
    seat = g % 2

    def body(s, k):
      p = env.current_player(s)
      probs_a, probs_b = fn_a(params_a, s, env), fn_b(params_b, s, env)
      acting = jnp.where(p == seat, probs_a, probs_b)
      probs = jnp.where(p == CHANCE, pad(env.chance_probs(s)), pad(acting))
      a = sample_outcome(probs, k)
      nxt = env.step(s, a)
      return jax.tree.map(lambda x, y: jnp.where(p == TERMINAL, y, x), nxt, s), None

    end, _ = jax.lax.scan(body, env.root(), jax.random.split(key, env.max_depth))
    return env.returns(end)[seat]

  return jax.vmap(game)(jnp.arange(num_games), jax.random.split(key, num_games))


def head_to_head(env: Env, policy_a, policy_b, key: jax.Array, num_games: int = 10_000
                 ) -> tuple[float, float]:
  """(mean, standard error) of policy_a's payoff against policy_b over
  `num_games` sampled games (even: each policy plays each seat in half).

  policy_a, policy_b: (fn, params) with fn(params, s, env) -> [A]
  probabilities. The same key gives the same deals and draws (common random
  numbers: two policies compared against one opponent with one key differ
  by less noise than independent runs).
  """
  # Each mistake below was an error from deep inside JAX or flax.
  if checked_int64(num_games, 'num_games') < 2 or num_games % 2:
    raise ValueError(f'num_games must be an even number >= 2, got {num_games!r}')
  if not isinstance(env, Env):
    raise TypeError(f'env must be an env object (cfr_jax.envs.load_env), got '
                    f'{type(env).__name__}')
  if not (isinstance(key, jax.Array) and (jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
                                         or key.shape == (2,))):
    raise TypeError(f'key must be a JAX PRNG key (jax.random.key(0)), got {key!r:.40}')
  for name, policy in (('policy_a', policy_a), ('policy_b', policy_b)):
    if not (isinstance(policy, tuple) and len(policy) == 2 and callable(policy[0])):
      raise TypeError(f'{name} must be a (fn, params) pair (solver.policy(state), '
                      f'envs.UNIFORM), got {type(policy).__name__}')
  (fn_a, params_a), (fn_b, params_b) = policy_a, policy_b
  try:
    payoff = np.asarray(_play(env, fn_a, params_a, fn_b, params_b, key, num_games),
                        np.float64)
  except flax_errors.ScopeParamShapeError as e:
    raise ValueError(f'a policy\'s network does not read this env\'s observations (a '
                     f'policy of another game?): {str(e).split(" (https:")[0]}') from None
  return float(payoff.mean()), float(payoff.std(ddof=1) / math.sqrt(num_games))


UNIFORM = (uniform, ())
