"""External-sampling MCCFR over a compiled game, level by level, batched.

External sampling (Lanctot et al., "Monte Carlo sampling for regret
minimization in extensive games", NeurIPS 2009): for the traverser i, every
action is explored at i's nodes, one action is sampled at the opponent's
nodes (from the opponent's current strategy) and one outcome at chance
nodes. A history h of i's is then reached with probability
pi_{-i}(h) pi_c(h), so the sum over a trajectory's histories h in I of the
sampled value v(h a) is an unbiased estimate of the counterfactual value
cfv_i(I, a). The same trajectory visits an opponent infoset J with
probability pi_{-i}(J) times a constant of J (its histories' chance reach),
so adding sigma_{-i}(J) there estimates the opponent's average-strategy
increment up to a per-infoset constant, which normalisation removes
(OpenSpiel's "simple" averaging).

Why level by level, and not a recursion: a jitted program cannot recurse,
and an explicit stack per trajectory serialises the work. Since every
history of a compiled game lies at a known depth, a traversal is instead a
*frontier* per depth: the nodes this trajectory reaches there. At depth d a
trajectory's frontier is at most `widths[d]` nodes (the most that any choice
of sampled actions reaches, computed once on the host), so a batch of B
trajectories is a dense [B, widths[d]] array of node ids (padded with the
inert sentinel N). Going down a level expands every frontier node into its
children ([B, W, K]), keeps all of them at the traverser's nodes and one
sampled child elsewhere, and packs the kept ones into the next frontier
(a cumulative sum gives each its position). Going back up, a node's value
is its kept children's (sigma-weighted at the traverser's nodes), and the
children's values are scatter-added into the [I * A] counterfactual-value
table. This is the same estimator as the recursive ES-MCCFR with one
trajectory per batch element, and its work is the sampled tree's size, not
the game's: on Leduc the frontier is at most `max(widths)` nodes wide.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax.envs.core import CHANCE, TERMINAL
from cfr_jax.envs.tree import TreeArrays, tree_arrays
from cfr_jax.games.tree import Game


class Plan(NamedTuple):
  """Device arrays of the per-node tables, and the static level shapes.

  widths[i][d]: the widest frontier at depth d when i traverses.
  fanout[d]:    the most children of a node at depth d (at least 1).
  """
  first: jax.Array
  count: jax.Array
  player: jax.Array
  infoset: jax.Array
  utility: jax.Array
  chance_prob: jax.Array
  slot: jax.Array


def frontier_widths(t: TreeArrays, num_levels: int, traverser: int) -> list:
  """[D] the most nodes any external-sampling trajectory for `traverser`
  reaches at each depth: the root's reach vector, bottom up, where a node's
  vector is itself at its depth plus the sum of its children's vectors
  (traverser's nodes: all children are kept) or their elementwise maximum
  (other nodes: one child is kept)."""
  n = len(t.first) - 1
  reach = np.zeros((n, num_levels), np.int64)
  reach[np.arange(n), t.depth[:n]] = 1
  levels = np.unique(t.depth[:n])
  for d in levels[::-1][1:]:
    nodes = np.flatnonzero((t.depth[:n] == d) & (t.count[:n] > 0))
    if not len(nodes):
      continue
    lo, hi = t.first[nodes[0]], t.first[nodes[-1]] + t.count[nodes[-1]]
    below = reach[lo:hi]  # the children of depth d, contiguous
    # Consecutive parents' children are consecutive, so segment j (from one
    # start to the next) is the j-th parent's children exactly.
    starts = t.first[nodes] - lo
    summed = np.add.reduceat(below, starts, axis=0)
    maxed = np.maximum.reduceat(below, starts, axis=0)
    own = t.player[nodes] == traverser
    reach[nodes] += np.where(own[:, None], summed, maxed)
  return [max(int(w), 1) for w in reach[0]]


def make_plan(game: Game, dtype) -> tuple:
  """(Plan, widths per traverser, fanout per depth) of `game`."""
  t = tree_arrays(game)
  depth_count = len(game.levels)
  widths = tuple(tuple(frontier_widths(t, depth_count, i)) for i in (0, 1))
  fanout = tuple(max(int(t.count[lo:hi].max(initial=0)), 1) for lo, hi in game.levels)
  plan = Plan(first=jnp.asarray(t.first), count=jnp.asarray(t.count),
              player=jnp.asarray(t.player), infoset=jnp.asarray(t.infoset),
              utility=jnp.asarray(t.utility, dtype),
              chance_prob=jnp.asarray(t.chance_prob, dtype), slot=jnp.asarray(t.slot))
  return plan, widths, fanout


def traverse(plan: Plan, widths, fanout, sigma: jax.Array, key: jax.Array,
             traverser: int, batch: int) -> tuple:
  """One batch of external-sampling traversals for `traverser`.

  sigma: [I, A] the current profile. Returns (cfv [I, A], visits [I]):
  the counterfactual values of the traverser's infosets and the opponent's
  infoset visit counts, each summed over the `batch` trajectories.
  """
  num_infosets, num_actions = sigma.shape
  dtype = sigma.dtype
  sentinel = plan.first.shape[0] - 1
  pad_slot = num_infosets * num_actions
  flat_sigma = jnp.concatenate([sigma.reshape(-1), jnp.ones((1,), dtype)])
  rows = jnp.arange(batch)[:, None]
  sign = 1.0 if traverser == 0 else -1.0

  front = jnp.zeros((batch, 1), jnp.int32)
  levels = []  # (front, children, kept positions) per depth, for the way back up
  for d in range(len(fanout) - 1):
    k = jnp.arange(fanout[d], dtype=jnp.int32)
    player = plan.player[front]  # [B, W]
    count = plan.count[front]
    valid = k < count[..., None]  # [B, W, K]
    child = jnp.where(valid, plan.first[front][..., None] + k, sentinel)
    weight = jnp.where(player[..., None] == CHANCE, plan.chance_prob[child],
                       flat_sigma[plan.slot[child]])
    cdf = jnp.cumsum(jnp.where(valid, weight, 0), axis=-1)
    u = jax.random.uniform(jax.random.fold_in(key, d), front.shape, dtype) * cdf[..., -1]
    pick = jnp.minimum(jnp.sum(cdf <= u[..., None], axis=-1), count - 1)
    keep = valid & jnp.where((player == traverser)[..., None], True, k == pick[..., None])
    width = widths[d + 1]
    flat_keep = keep.reshape(batch, -1)
    pos = jnp.where(flat_keep, jnp.cumsum(flat_keep, axis=-1, dtype=jnp.int32) - 1, width)
    nxt = jnp.full((batch, width + 1), sentinel, jnp.int32)
    nxt = nxt.at[rows, pos].set(child.reshape(batch, -1), mode='drop')[:, :width]
    levels.append((front, child, pos.reshape(child.shape)))
    front = nxt

  value = sign * plan.utility[front]  # the deepest level: terminals (or the sentinel)
  cfv = jnp.zeros(pad_slot + 1, dtype)
  visits = jnp.zeros(num_infosets + 1, dtype)
  zero = jnp.zeros((batch, 1), dtype)
  for front, child, pos in reversed(levels):
    player = plan.player[front]
    child_value = jnp.concatenate([value, zero], axis=1)[rows[..., None], pos]  # [B, W, K]
    mine = player == traverser
    slot = plan.slot[child]
    own_value = jnp.sum(flat_sigma[slot] * child_value, axis=-1)  # pad slot's sigma is 1, value 0
    value = jnp.where(mine, own_value, jnp.sum(child_value, axis=-1))
    value = jnp.where(player == TERMINAL, sign * plan.utility[front], value)
    cfv = cfv.at[jnp.where(mine[..., None], slot, pad_slot)].add(child_value)
    visits = visits.at[jnp.where(player == 1 - traverser, plan.infoset[front],
                                 num_infosets)].add(1)
  return cfv[:pad_slot].reshape(num_infosets, num_actions), visits[:num_infosets]
