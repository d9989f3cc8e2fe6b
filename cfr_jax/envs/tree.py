"""Any compiled `Game` (the flat-array history tree) as a generative env.

The state is a node index; each function is a few gathers into per-node
arrays. Infoset ids are the game's infoset rows, so a solver driving this
env fills tables that `cfr_jax.exploitability` reads directly.
"""
from __future__ import annotations

from typing import NamedTuple

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax.envs.core import CHANCE, TERMINAL, Env
from cfr_jax.games.tree import Game, _first_children
from cfr_jax.placement import to_device


class TreeArrays(NamedTuple):
  """Host (numpy) per-node arrays of a compiled game, padded with one inert
  terminal node at index N (a sentinel for padded batches).

  first, count: [N+1] int32, each node's first child and number of children.
  player:       [N+1] int32, 0, 1, CHANCE or TERMINAL.
  infoset:      [N+1] int32, the infoset row of decision nodes, -1 elsewhere.
  utility:      [N+1] float64, player 0's payoff at terminals.
  chance_prob:  [N+1] float64, the probability of the edge into each node
                from a chance parent, 1 elsewhere.
  slot:         [N+1] int32, infoset(parent) * A + action of decision edges,
                I * A elsewhere (the game's `edge_slot`).
  depth:        [N+1] int32.
  """
  first: np.ndarray
  count: np.ndarray
  player: np.ndarray
  infoset: np.ndarray
  utility: np.ndarray
  chance_prob: np.ndarray
  slot: np.ndarray
  depth: np.ndarray


def tree_arrays(game: Game) -> TreeArrays:
  """The per-node arrays of `game` (host numpy; built once)."""
  parent = np.asarray(game.parent)
  parent_player = np.asarray(game.parent_player)
  n = len(parent)
  first, count = _first_children(parent)
  first = np.where(count > 0, first, n)
  player = np.full(n + 1, TERMINAL, np.int32)
  has = count > 0
  player[:n][has] = parent_player[first[has]]  # who acts = the parent player of a child
  infoset = np.where(player[:n] < CHANCE, np.asarray(game.node_infoset), -1)
  depth = np.empty(n + 1, np.int32)
  for d, (lo, hi) in enumerate(game.levels):
    depth[lo:hi] = d
  depth[n] = len(game.levels) - 1
  pad = lambda x, v: np.concatenate([np.asarray(x), [v]])
  floats = game.info.float_arrays
  return TreeArrays(
      first=pad(first, n).astype(np.int32), count=pad(count, 0).astype(np.int32),
      player=player, infoset=pad(infoset, -1).astype(np.int32),
      utility=pad(floats['utility'], 0.0), chance_prob=pad(floats['chance_prob'], 1.0),
      slot=pad(game.edge_slot, game.num_infosets * game.num_actions).astype(np.int32),
      depth=depth)


@struct.dataclass
class TreeEnv(Env):
  """A compiled game through the generative interface (state: [] int32 node)."""
  first: jax.Array
  count: jax.Array
  player: jax.Array
  node_infoset: jax.Array
  utility: jax.Array
  chance_prob: jax.Array
  legal: jax.Array  # [I, A]
  num_actions: int = struct.field(pytree_node=False)
  num_outcomes: int = struct.field(pytree_node=False)
  max_depth: int = struct.field(pytree_node=False)
  num_codes: int = struct.field(pytree_node=False)

  def root(self):
    return jnp.zeros((), jnp.int32)

  def current_player(self, s):
    return self.player[s]

  def legal_mask(self, s):
    return self.legal[jnp.maximum(self.node_infoset[s], 0)] & (self.player[s] < CHANCE)

  def chance_probs(self, s):
    k = jnp.arange(self.num_outcomes)
    child = jnp.minimum(self.first[s] + k, self.first.shape[0] - 1)
    ok = (k < self.count[s]) & (self.player[s] == CHANCE)
    return jnp.where(ok, self.chance_prob[child], 0.0)

  def step(self, s, a):
    a = jnp.asarray(a, jnp.int32)
    legal = self.legal_mask(s)
    rank = jnp.sum(legal & (jnp.arange(self.num_actions) < a))  # k-th legal slot = k-th child
    return (self.first[s] + jnp.where(self.player[s] == CHANCE, a, rank)).astype(jnp.int32)

  def returns(self, s):
    u = jnp.where(self.player[s] == TERMINAL, self.utility[s], 0.0)
    return jnp.stack([u, -u])

  def infoset_code(self, s):
    return self.node_infoset[s]

  def observation(self, s):
    """[I]: the infoset row, one-hot (a network on it is a table)."""
    return jax.nn.one_hot(self.node_infoset[s], self.legal.shape[0], dtype=jnp.float32)

  @property
  def payoff_scale(self) -> float:
    return float(jnp.abs(self.utility).max()) or 1.0


def tree_env(game: Game, dtype=jnp.float32) -> TreeEnv:
  """`game` as an env; infoset ids = the game's infoset rows."""
  t = tree_arrays(game)
  chance_width = int(t.count[t.player == CHANCE].max(initial=1))
  return TreeEnv(first=to_device(t.first), count=to_device(t.count),
                 player=to_device(t.player), node_infoset=to_device(t.infoset),
                 utility=to_device(t.utility, dtype),
                 chance_prob=to_device(t.chance_prob, dtype),
                 legal=to_device(game.legal), num_actions=game.num_actions,
                 num_outcomes=chance_width, max_depth=len(game.levels) - 1,
                 num_codes=game.num_infosets)
