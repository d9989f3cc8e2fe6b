"""External-sampling traversals of a compiled game (Lanctot et al., 2009),
written as tree passes so that thousands of them vmap into one program.

A traversal for player p explores every action of p and samples one child
at every chance and opponent node. On the compiled tree that is one pass over
all histories: each chance or opponent node picks one child (Gumbel-max over
its siblings), the sampled path is the set of histories whose every
non-traverser edge was picked, and one backward pass gives every history's
value under (p's strategy, sampled everything else). Costs O(histories) per
traversal, independent of how many of them the path visits, which is what
makes it a single dense, vmappable program on games that compile.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from cfr_jax.games.tree import Game, backward_values, edge_probs


def external_sampling(game: Game, sigma: jax.Array, traverser, key: jax.Array):
  """One traversal for `traverser` under `sigma` [I, A] (both players).

  Returns (mine [I] bool, regrets [I, A], theirs [I] bool): the traverser's
  infosets on the sampled path, their sampled instantaneous regrets
  v(I, a) - v(I) (zero elsewhere and at illegal actions), and the opponent's
  infosets on the path. No importance weight is needed: a history is on the
  path with probability equal to its opponent-and-chance reach, which is the
  weight the counterfactual regret gives it, so the sampled regret is an
  unbiased estimate of the counterfactual regret. At most one history
  of each traverser infoset is on the path (perfect recall: its histories
  differ only in chance or opponent choices, each sampled once).
  """
  n = game.num_nodes
  edge_p = edge_probs(game, sigma)  # [N] probability of each node's incoming edge
  own_edge = game.parent_player == traverser
  gumbel = jax.random.gumbel(key, (n,), sigma.dtype)
  score = jnp.where(edge_p > 0, jnp.log(jnp.where(edge_p > 0, edge_p, 1)) + gumbel, -jnp.inf)
  score = score.at[0].set(-jnp.inf)  # the root is its own parent in `parent`
  best = jax.ops.segment_max(score, game.parent, num_segments=n, indices_are_sorted=True)
  picked = (score == best[game.parent]) & (edge_p > 0)
  keep = own_edge | picked

  on_path = [jnp.ones((1,), bool)]
  for (plo, _), (lo, hi) in zip(game.levels, game.levels[1:]):
    on_path.append(on_path[-1][game.parent[lo:hi] - plo] & keep[lo:hi])
  on_path = jnp.concatenate(on_path)

  weight = jnp.where(own_edge, edge_p, picked.astype(sigma.dtype))
  sign = jnp.where(traverser == 0, 1, -1).astype(sigma.dtype)
  values = backward_values(game, weight, sign * game.utility.astype(sigma.dtype))

  pad = lambda x, fill: jnp.concatenate([x, jnp.full((1,), fill, x.dtype)])
  at = pad(on_path, False)[game.infoset_members]  # [K, I]: k-th history on the path
  value = pad(values, 0)
  visited = at.any(0)
  v_infoset = jnp.where(at, value[game.infoset_members], 0).sum(0)
  v_action = jnp.where(at[:, :, None], value[game.slot_children], 0).sum(0)
  mine = game.infoset_player == traverser
  regrets = jnp.where(game.legal & (visited & mine)[:, None], v_action - v_infoset[:, None], 0)
  return visited & mine, regrets, visited & ~mine
