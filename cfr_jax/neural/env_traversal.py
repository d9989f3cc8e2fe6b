"""Sampled Deep CFR traversals through a generative env: one trajectory per
traversal, `max_depth` env steps in a `lax.scan`, vmapped over thousands.

Why not external sampling: it explores every action of the traverser, so a
traversal of liar's dice with 2 dice each (25 action slots, bids only
increase) branches into a large part of a 1e10-history tree. Here each
traversal follows ONE history z, sampled by

  * chance: its probabilities;
  * the opponent: its current strategy sigma_{-i} (on policy);
  * the traverser i: xi = epsilon * uniform(legal) + (1 - epsilon) * sigma_i,

which is outcome sampling (Lanctot, Waugh, Zinkevich & Bowling, "Monte Carlo
sampling for regret minimization in extensive games", NeurIPS 2009) with
exploration epsilon; epsilon = 1 is the "robust sampling" with k = 1 and a
uniform sampling policy of Double Neural CFR (Li et al., 2018, arXiv:1812.10607,
section 4), and the same scheme trains the networks of Single Deep CFR and
DREAM (Steinberger 2019; Steinberger, Lerer & Brown 2020).

At each traverser history h of the trajectory (taking a* there), with
W(h) = prod over the traverser's later steps of sigma_i / xi (its own tail
reach over its tail sampling probability), the sampled value of action a is

    v(h, a) = 1[a = a*] * u_i(z) * W(h) / xi(h, a*),

an unbiased estimate of h's action value given that h is reached (the
opponent and chance play on policy after h, so they need no weight), and the
sampled regret target is

    r(h, a) = v(h, a) - sum_b sigma(I, b) v(h, b)
            = u_i(z) W(h) / xi(h, a*) * (1[a = a*] - sigma(I, a*)).

No division by the whole probability of reaching h (outcome sampling's
1 / q(h), whose variance is what makes it impractical for networks). Deep CFR
regresses each infoset's targets, weighted by iteration (linear CFR), to their
mean; what that mean must be proportional to, per infoset and with a factor
that does not change over iterations (regret matching ignores it), is
sum_t t R_t(I), the linear-weighted cumulative counterfactual regret. In
iteration t a history h of I is reached at the rate pi_{-i}(h) (opponent and
chance, on policy: the factor external sampling's targets carry too) times
xi_i(h), the traverser's own sampling probability of its earlier actions. The
first factor is what a counterfactual regret needs; the second changes with
sigma_t, so each sample is weighted by

    weight(h) = prod over the traverser's earlier steps of 1 / (|legal| xi(a)),

which turns xi_i(h) into the uniform policy's probability of those actions, a
function of the infoset alone (perfect recall). The weight is at most
epsilon^-k after k earlier traverser steps, and exactly 1 with epsilon = 1:
Double Neural CFR's robust sampling needs no weights for that reason. The
exploration also bounds the targets: sigma / xi <= 1 / (1 - epsilon) at each
later traverser step and 1 / xi(a*) <= |legal| / epsilon.

Opponent histories on the trajectory give (features, legal, sigma) samples
for the average-strategy memory, as in Deep CFR, with the same weight: their
rate is the opponent's own reach (the average strategy's weight) times
chance's times xi_i, which the weight turns into a constant per infoset.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from cfr_jax.envs.core import CHANCE, TERMINAL, Env, sample_outcome


def _exclusive_cumprod(x, reverse=False):
  """[T] products of the entries before (after, with reverse) each one."""
  if reverse:
    return _exclusive_cumprod(x[::-1])[::-1]
  return jnp.concatenate([jnp.ones((1,), x.dtype), jnp.cumprod(x[:-1])])


def sampled_traversal(env: Env, strategy: Callable, traverser, epsilon, key: jax.Array):
  """One outcome-sampling trajectory for `traverser` (see the module docstring).

  strategy(features [F], legal [A] bool, player [] int32) -> [A]: the current
  strategy sigma of the player to act. Returns, per step t < max_depth:
    features [T, F], legal [T, A] bool,
    mine [T] bool    the traverser acted at step t,
    regrets [T, A]   its sampled regret targets there (in payoff units), zero
                     elsewhere and at illegal actions,
    theirs [T] bool  the opponent acted at step t,
    sigma [T, A]     the acting player's strategy at step t,
    weight [T]       the sample weight of step t: prod over the traverser's
                     earlier steps of 1 / (|legal| xi(a)), in (0, epsilon^-k]
                     (see the module docstring; 1 when epsilon = 1).
  """
  width = max(env.num_actions, env.num_outcomes)
  pad = lambda x: jnp.zeros(width, jnp.float32).at[:x.shape[0]].set(x.astype(jnp.float32))

  def body(s, k):
    p = env.current_player(s)
    live = p != TERMINAL
    obs = env.observation(s)
    legal = env.legal_mask(s)
    sigma = strategy(obs, legal, p)
    uniform = legal / jnp.maximum(legal.sum(), 1)
    xi = jnp.where(p == traverser, epsilon * uniform + (1 - epsilon) * sigma, sigma)
    sampling = jnp.where(p == CHANCE, pad(env.chance_probs(s)), pad(xi))
    a = sample_outcome(sampling, k)
    nxt = env.step(s, a)
    s = jax.tree.map(lambda x, y: jnp.where(live, x, y), nxt, s)
    decides = live & (p < CHANCE)
    sig_a = jnp.where(decides, sigma[jnp.minimum(a, env.num_actions - 1)], 1.0)
    xi_a = jnp.where(decides, xi[jnp.minimum(a, env.num_actions - 1)], 1.0)
    # The traverser's sampling probability of a* over the uniform policy's.
    over_uniform = jnp.where(decides & (p == traverser), xi_a * legal.sum(), 1.0)
    return s, (obs, legal & decides, jnp.where(decides, p, CHANCE), a, sigma, sig_a, xi_a,
               over_uniform)

  end, (obs, legal, players, actions, sigma, sig_a, xi_a, over_uniform) = jax.lax.scan(
      body, env.root(), jax.random.split(key, env.max_depth))
  u = env.returns(end)[traverser].astype(jnp.float32)
  mine = players == traverser
  ratio = jnp.where(mine, sig_a / jnp.maximum(xi_a, 1e-30), 1.0)  # 1 at others' steps
  tail = _exclusive_cumprod(ratio, reverse=True)  # W(h): the traverser's later steps
  scale = u * tail / jnp.maximum(xi_a, 1e-30)
  chosen = jax.nn.one_hot(actions, env.num_actions, dtype=jnp.float32)
  regrets = scale[:, None] * (chosen - sig_a[:, None])
  regrets = jnp.where(mine[:, None] & legal, regrets, 0.0)
  weight = 1 / _exclusive_cumprod(over_uniform)  # the traverser's earlier steps
  return obs, legal, mine, regrets, players == 1 - traverser, sigma, weight
