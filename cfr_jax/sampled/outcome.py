"""Outcome-sampling MCCFR through the generative interface (`cfr_jax.envs`).

Outcome sampling (Lanctot et al., NeurIPS 2009) follows one history to a
terminal z per trajectory: the traverser i samples from an exploring mix
epsilon * uniform + (1 - epsilon) * sigma_i, the opponent from sigma_{-i},
chance from its probabilities; q(z) is the probability of having sampled z.
At each of i's histories h on the way, taking a*, the sampled
counterfactual value of a* is

    v(I, a*) = pi_{-i}(h) * u_i(z) * pi(h a*, z) / q(z)

(pi: the reach under sigma and chance; pi(h a*, z) from h a* to z), and 0
for the other actions: an unbiased estimate of cfv_i(I, a). At the
opponent's histories h the weight pi_{-i}(h) / q(h) (opponent and chance
reach over sampling probability) estimates, like external sampling's visit
counts, the opponent's own reach times its infoset's chance reach.

Unlike external sampling here (cfr_jax/sampled/external.py), nothing in it
reads the compiled tree: a trajectory is a `lax.scan` of `max_depth` env
steps, vmapped over the batch, so it runs on any env whose infoset ids
index the tables (a compiled game's `tree_env`, or an env `align`ed to it).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from cfr_jax.envs.core import CHANCE, TERMINAL, Env, sample_outcome


def _exclusive_cumprod(x, reverse=False):
  """[T] products of the entries before (after, with reverse) each one."""
  if reverse:
    return _exclusive_cumprod(x[::-1])[::-1]
  return jnp.concatenate([jnp.ones((1,), x.dtype), jnp.cumprod(x[:-1])])


def traverse(env: Env, sigma: jax.Array, key: jax.Array, traverser: int, batch: int,
             epsilon: float) -> tuple:
  """One batch of outcome-sampling trajectories for `traverser`.

  sigma: [I, A] the current profile. Returns (cfv [I, A], visits [I]), each
  summed over the `batch` trajectories (see the module docstring).
  """
  num_infosets, num_actions = sigma.shape
  dtype = sigma.dtype
  width = max(env.num_actions, env.num_outcomes)
  pad = lambda x: jnp.zeros(width, dtype).at[:x.shape[0]].set(x.astype(dtype))

  def one(key):
    def body(s, k):
      p = env.current_player(s)
      live = p != TERMINAL
      info = env.infoset(s)
      row = sigma[jnp.clip(info, 0, num_infosets - 1)]
      legal = env.legal_mask(s).astype(dtype)
      explore = epsilon * legal / jnp.maximum(legal.sum(), 1) + (1 - epsilon) * row
      chance = pad(env.chance_probs(s))
      sampling = jnp.where(p == CHANCE, chance, pad(jnp.where(p == traverser, explore, row)))
      a = sample_outcome(sampling, k)
      on_policy = jnp.where(p == CHANCE, chance, pad(row))[a]
      nxt = env.step(s, a)
      s = jax.tree.map(lambda x, y: jnp.where(live, x, y), nxt, s)
      one_ = jnp.ones((), dtype)
      return s, (p, info, a, jnp.where(live, sampling[a], one_),
                 jnp.where(live, on_policy, one_))

    end, (players, infos, actions, q, pi) = jax.lax.scan(
        body, env.root(), jax.random.split(key, env.max_depth))
    u = env.returns(end)[traverser].astype(dtype)
    mine = players == traverser
    others = jnp.where(mine, 1, pi)  # the opponent's and chance's factors
    reach_others = _exclusive_cumprod(others)  # pi_{-i}(h) at each step
    tail = _exclusive_cumprod(pi, reverse=True)  # pi(h a*, z)
    value = reach_others * u * tail / jnp.prod(q)
    cfv_slot = jnp.where(mine, infos * num_actions + actions, num_infosets * num_actions)
    opp = players == 1 - traverser
    weight = reach_others / _exclusive_cumprod(q)
    visit = jnp.where(opp, infos, num_infosets)
    return cfv_slot, jnp.where(mine, value, 0), visit, jnp.where(opp, weight, 0)

  cfv_slot, value, visit, weight = jax.vmap(one)(jax.random.split(key, batch))
  cfv = jnp.zeros(num_infosets * num_actions + 1, dtype).at[cfv_slot].add(value)
  visits = jnp.zeros(num_infosets + 1, dtype).at[visit].add(weight)
  return cfv[:-1].reshape(num_infosets, num_actions), visits[:-1]
