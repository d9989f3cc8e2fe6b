"""The history-tree layout: a game compiled to flat, depth-ordered arrays.

Nodes are numbered breadth first, so depth `d` is the contiguous slice
`levels[d]` and the children of consecutive parents are consecutive. Every
tree pass is then a short, static sequence of gathers and sorted segment sums,
one per depth, with no Python in the per-node work.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Hashable, NamedTuple, Sequence

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import heap
from cfr_jax.placement import to_device

CHANCE = 2
TERMINAL = 3
ROOT = -1  # parent_player of the root


class GameInfo:
  """Host-side description of a compiled game (not traced).

  Hashes by identity so that a `Game` passed to `jax.jit` costs nothing to
  hash however many infosets it names.
  """

  def __init__(self, name: str, spec: dict, infoset_keys: Sequence[str],
               action_labels: Sequence[Hashable], openspiel_name: str | None):
    self.name = name
    self.spec = spec  # JSON-serialisable rules: enters checkpoint fingerprints
    self.infoset_keys = list(infoset_keys)
    self.infoset_index = {k: i for i, k in enumerate(self.infoset_keys)}
    self.action_labels = list(action_labels)  # slot -> game action id
    self.openspiel_name = openspiel_name  # pyspiel.load_game() name, if any
    self.float_arrays = {}  # float64 numpy copies of the Game's float fields

  def __repr__(self):
    return f'GameInfo({self.name!r})'


@struct.dataclass
class Game:
  """A two-player zero-sum extensive-form game as flat arrays.

  N nodes (histories), I infosets, A action slots.
    parent:        [N] int32, parent node (0 for the root).
    parent_player: [N] int32, who acts at the parent: 0, 1, CHANCE; ROOT at the root.
    edge_slot:     [N] int32, infoset(parent) * A + action for edges out of a
                   decision node, I * A (a padding slot) otherwise.
    chance_prob:   [N] probability of the edge from a chance parent, else 1.
    chance_reach:  [N] product of chance probabilities from the root.
    utility:       [N] player 0's payoff at terminals, 0 elsewhere.
    node_infoset:  [N] int32, infoset of a decision node, 0 elsewhere.
    legal:         [I, A] bool.
    infoset_player: [I] int32.
    infoset_node:  [I] int32, one node of each infoset (perfect recall: all
                   its nodes share the owner's reach).
    child_table:   flat int32; for depth d a [k_d, n_d] block of each node's
                   k-th child, indexed within depth d+1, padded with n_{d+1}.
                   Sums over children are then k dense 1-D gathers, much
                   faster than scatter-adds or small-axis reductions.
    wide_table, wide_pos: flat int32; depths that mix narrow (betting) and
                   wide (chance) nodes keep the m_d wide nodes' children apart
                   in a [w_d, m_d] block, and their positions in depth d, so
                   the narrow table is not padded to the widest node.
                   `child_shapes[d] = (k_d, m_d, w_d)`.
    slot_children: [K, I, A] int32, the children reached by taking action a in
                   the k-th history of infoset I (at most K); padded with N.
    infoset_members: [K, I] int32, the k-th history of infoset I; padded with N.
  Static: `levels[d] = (start, end)` node slice of depth d; `infoset_levels[d]`
  the infoset slice whose nodes lie at depth d (infosets are depth-ordered).
  """
  parent: jax.Array
  parent_player: jax.Array
  edge_slot: jax.Array
  chance_prob: jax.Array
  chance_reach: jax.Array
  utility: jax.Array
  node_infoset: jax.Array
  legal: jax.Array
  infoset_player: jax.Array
  infoset_node: jax.Array
  child_table: jax.Array
  wide_table: jax.Array
  wide_pos: jax.Array
  slot_children: jax.Array
  infoset_members: jax.Array
  num_actions: int = struct.field(pytree_node=False)
  child_shapes: tuple = struct.field(pytree_node=False)
  levels: tuple = struct.field(pytree_node=False)
  infoset_levels: tuple = struct.field(pytree_node=False)
  info: GameInfo = struct.field(pytree_node=False)

  @property
  def num_nodes(self) -> int:
    return self.levels[-1][1]

  @property
  def num_infosets(self) -> int:
    return self.legal.shape[0]

  @property
  def name(self) -> str:
    return self.info.name

  def astype(self, dtype) -> 'Game':
    """The same game with its float arrays in `dtype`."""
    # From the float64 host copies, so float64 runs see exact chance probabilities.
    host = self.info.float_arrays
    return self.replace(**{k: to_device(v, dtype) for k, v in host.items()})

  def __repr__(self):
    return (f'Game({self.name!r}, histories={self.num_nodes}, '
            f'infosets={self.num_infosets}, actions={self.num_actions}, '
            f'depth={len(self.levels)})')


# ----------------------------------------------------------------------------
# Compiling rules into a Game.


class Decision(NamedTuple):
  player: int
  infoset_key: str
  children: Sequence[tuple[int, Any]]  # (action slot, child state), ascending


class Chance(NamedTuple):
  outcomes: Sequence[tuple[float, Any]]  # (probability, child state)


class Terminal(NamedTuple):
  utility: float  # player 0's payoff


Expand = Callable[[Any], 'Decision | Chance | Terminal']

# Building holds ~240 bytes per history at its peak (Python lists and the
# breadth-first frontier's states; leduc(ranks=13,suits=4): 10.0M histories,
# 2.57 GB peak RSS, 0.18 GB of it the imported runtime). Node indices are int32.
BUILD_BYTES_PER_HISTORY = 250
MAX_HISTORIES = 2**31 - 1
# A build stops with an error once the system has less than this left:
# what is still to come (the arrays, the solver state) would not fit either.
MIN_FREE_BYTES = 512 * 2**20


def check_tree_size(name: str, histories: int, advice: str = '') -> None:
  """Refuses, before building, a game of `histories` nodes (counted or
  estimated) that cannot be built here: more than MAX_HISTORIES, or more
  than the memory available (`heap.available_memory`, when known) holds."""
  need, available = histories * BUILD_BYTES_PER_HISTORY, heap.available_memory()
  if histories > MAX_HISTORIES or (available is not None and need > available):
    raise ValueError(
        f'{name} has {histories:,} histories: too big to build as a tree on this machine '
        f'(~{need / 2**30:.1f} GiB to build'
        + (f', {available / 2**30:.1f} GiB available' if available is not None else '')
        + f'; at most {MAX_HISTORIES:,} histories){advice}')


def compile_tree(root: Any, expand: Expand, num_actions: int,
                 info_kwargs: dict) -> Game:
  """Builds a `Game` by expanding `root` breadth first.

  `expand(state)` returns `Decision`, `Chance` or `Terminal`. Per node it is the
  only Python call, so the cost is one `expand` per history plus numpy work.
  """
  parent, parent_player, action, chance_p, utility = [0], [ROOT], [0], [1.0], []
  node_infoset, level_bounds = [], []
  keys: dict[str, int] = {}
  key_player, key_node, key_legal, key_depth = [], [], [], []
  frontier = [root]
  start = 0
  next_check = 1 << 16
  while frontier:
    level_bounds.append((start, start + len(frontier)))
    nxt = []
    for offset, state in enumerate(frontier):
      node = start + offset
      if len(parent) >= next_check:  # games not counted before: stop short of the OOM killer
        _check_building(info_kwargs.get('name', 'the game'), len(parent))
        next_check = len(parent) + (1 << 16)
      kind = expand(state)
      if isinstance(kind, Terminal):
        utility.append(kind.utility)
        node_infoset.append(-1)
        continue
      utility.append(0.0)
      if isinstance(kind, Chance):
        node_infoset.append(-1)
        for prob, child in kind.outcomes:
          parent.append(node); parent_player.append(CHANCE)
          action.append(0); chance_p.append(prob); nxt.append(child)
        continue
      idx = keys.get(kind.infoset_key)
      slots = tuple(a for a, _ in kind.children)
      if idx is None:
        idx = keys[kind.infoset_key] = len(key_player)
        key_player.append(kind.player); key_node.append(node)
        key_legal.append(slots); key_depth.append(len(level_bounds) - 1)
      elif key_legal[idx] != slots or key_player[idx] != kind.player:
        raise ValueError(f'infoset {kind.infoset_key!r} has inconsistent '
                         'legal actions or player across its histories')
      elif key_depth[idx] != len(level_bounds) - 1:
        raise ValueError(
            f'infoset {kind.infoset_key!r} spans several depths; this layout '
            'needs every history of an infoset at the same depth')
      node_infoset.append(idx)
      for a, child in kind.children:
        parent.append(node); parent_player.append(kind.player)
        action.append(a); chance_p.append(1.0); nxt.append(child)
    start += len(frontier)
    frontier = nxt

  num_infosets = len(key_player)
  parent = np.asarray(parent, np.int32)
  parent_player = np.asarray(parent_player, np.int32)
  node_infoset = np.asarray(node_infoset, np.int32)
  legal = np.zeros((num_infosets, num_actions), bool)
  for i, slots in enumerate(key_legal):
    legal[i, list(slots)] = True
  return _finish(parent, parent_player, np.asarray(action, np.int32),
                 np.asarray(chance_p), np.asarray(utility), node_infoset,
                 np.asarray(key_player, np.int32), np.asarray(key_node, np.int32),
                 legal, level_bounds, list(keys), info_kwargs)


def _check_building(name: str, histories: int) -> None:
  """Raises ValueError once a build passes MAX_HISTORIES or leaves the
  system less than MIN_FREE_BYTES."""
  available = heap.available_memory()
  if histories > MAX_HISTORIES or (available is not None and available < MIN_FREE_BYTES):
    raise ValueError(
        f'{name}: building its tree stopped at {histories:,} histories, '
        + (f'more than the {MAX_HISTORIES:,} it can index'
           if histories > MAX_HISTORIES else
           f'with {available / 2**20:.0f} MiB of memory left')
        + ': the game is too big to build as a tree on this machine; use a smaller one')


def _finish(parent, parent_player, action, chance_p, utility, node_infoset,
            infoset_player, infoset_node, legal, level_bounds, keys,
            info_kwargs) -> Game:
  """Derives the remaining arrays and checks the invariants passes rely on."""
  num_infosets, num_actions = legal.shape
  decision_edge = parent_player >= 0
  decision_edge &= parent_player != CHANCE
  edge_slot = np.where(decision_edge,
                       node_infoset[parent] * num_actions + action,
                       num_infosets * num_actions).astype(np.int32)
  chance_reach = np.ones(len(parent))
  for lo, hi in level_bounds[1:]:
    chance_reach[lo:hi] = chance_reach[parent[lo:hi]] * chance_p[lo:hi]
  if np.any(np.diff(parent[1:]) < 0):
    raise AssertionError('nodes are not breadth-first ordered')
  # Infosets are numbered in order of first appearance, hence depth-ordered.
  depth_of = np.empty(len(parent), np.int32)
  for d, (lo, hi) in enumerate(level_bounds):
    depth_of[lo:hi] = d
  infoset_depth = depth_of[infoset_node]
  bounds = np.searchsorted(infoset_depth, np.arange(len(level_bounds) + 1))
  infoset_levels = tuple((int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]))
  child_table, wide_table, wide_pos, child_shapes = _child_tables(parent, level_bounds)
  slot_children, infoset_members = _slot_children(parent, node_infoset, legal,
                                                  len(parent))
  info = GameInfo(infoset_keys=keys, action_labels=range(num_actions), **info_kwargs)
  info.float_arrays = dict(chance_prob=chance_p, chance_reach=chance_reach,
                           utility=np.asarray(utility, np.float64))
  return Game(
      parent=to_device(parent), parent_player=to_device(parent_player),
      edge_slot=to_device(edge_slot), chance_prob=to_device(chance_p, jnp.float32),
      chance_reach=to_device(chance_reach, jnp.float32),
      utility=to_device(utility, jnp.float32),
      node_infoset=to_device(np.maximum(node_infoset, 0)), legal=to_device(legal),
      infoset_player=to_device(infoset_player), infoset_node=to_device(infoset_node),
      child_table=to_device(child_table), slot_children=to_device(slot_children),
      infoset_members=to_device(infoset_members),
      wide_table=to_device(wide_table), wide_pos=to_device(wide_pos),
      num_actions=num_actions, child_shapes=child_shapes,
      levels=tuple((int(a), int(b)) for a, b in level_bounds),
      infoset_levels=infoset_levels, info=info)


def _first_children(parent):
  """[N] index of each node's first child and [N] number of children."""
  n = len(parent)
  nodes = np.arange(n)
  first = np.searchsorted(parent[1:], nodes) + 1
  count = np.searchsorted(parent[1:], nodes, side='right') + 1 - first
  return first, count


def _child_tables(parent, level_bounds):
  first, count = _first_children(parent)
  narrow, wide, wide_pos, shapes = [], [], [], []
  for (lo, hi), (clo, chi) in zip(level_bounds, level_bounds[1:]):
    n = count[lo:hi]
    # Split width k minimising the padded work n_d * k + m_d * (w_d + 4),
    # the 4 standing for the scatter of the wide sums.
    options = np.unique(n)
    cost = [len(n) * k + (n > k).sum() * (n.max() + 4) for k in options]
    k = int(options[int(np.argmin(cost))])
    is_wide = n > k
    table = np.arange(k)[:, None]
    narrow.append(np.where((table < n) & ~is_wide, first[lo:hi] - clo + table,
                           chi - clo).reshape(-1))
    w = int(n.max()) if is_wide.any() else 0
    pos = np.flatnonzero(is_wide)
    table = np.arange(w)[:, None]
    wide.append(np.where(table < n[pos], first[lo:hi][pos] - clo + table,
                         chi - clo).reshape(-1))
    wide_pos.append(pos)
    shapes.append((k, len(pos), w))
  cat = lambda xs: (np.concatenate(xs) if xs else np.zeros(0)).astype(np.int32)
  return cat(narrow), cat(wide), cat(wide_pos), tuple(shapes)


def _slot_children(parent, node_infoset, legal, n):
  """[K, I, A] child of each history of each infoset under each legal action,
  and [K, I] the histories themselves."""
  num_infosets, num_actions = legal.shape
  first, _ = _first_children(parent)
  decision = np.flatnonzero(node_infoset >= 0)
  order = decision[np.argsort(node_infoset[decision], kind='stable')]
  infoset_of = node_infoset[order]
  sizes = np.bincount(infoset_of, minlength=num_infosets)
  k = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
  rank = np.cumsum(legal, axis=1) - 1  # position of each legal action among the children
  width = max(sizes.max(initial=0), 1)
  members = np.full((width, num_infosets), n, np.int64)
  members[k, infoset_of] = order
  table = np.full((num_infosets, num_actions, width), n, np.int64)
  for a in range(num_actions):
    ok = legal[infoset_of, a]
    table[infoset_of[ok], a, k[ok]] = first[order[ok]] + rank[infoset_of[ok], a]
  return np.moveaxis(table, 2, 0).astype(np.int32), members.astype(np.int32)


# ----------------------------------------------------------------------------
# Tree passes shared by the solver and the best response.


def edge_probs(game: Game, policy: jax.Array) -> jax.Array:
  """[N] probability of each node's incoming edge under `policy` [I, A] and chance."""
  flat = jnp.concatenate([policy.reshape(-1), jnp.ones((1,), policy.dtype)])
  return flat[game.edge_slot] * game.chance_prob


def player_reach(game: Game, edge_p: jax.Array) -> jax.Array:
  """[2, N] each player's own contribution to the reach of every node."""
  ones = jnp.ones_like(edge_p)
  factor = jnp.stack([jnp.where(game.parent_player == p, edge_p, ones)
                      for p in (0, 1)])
  # Level by level into a list (no full-array updates), concatenated once.
  reach = [jnp.ones((2, 1), edge_p.dtype)]
  for (plo, _), (lo, hi) in zip(game.levels, game.levels[1:]):
    reach.append(reach[-1][:, game.parent[lo:hi] - plo] * factor[:, lo:hi])
  return jnp.concatenate(reach, axis=1)


def gather_sum(x: jax.Array, table: jax.Array) -> jax.Array:
  """sum_k x[table[k]], where index len(x) reads 0. table: [K, ...]."""
  padded = jnp.concatenate([x, jnp.zeros((1,), x.dtype)])
  if table.shape[0] > 32:
    return padded[table].sum(0)
  return sum(padded[table[k]] for k in range(table.shape[0]))


def _sum_children(game: Game, d: int, x: jax.Array) -> jax.Array:
  """[n_d] sums of `x` ([n_{d+1}], one entry per node of depth d+1) over each
  depth-d node's children."""
  offsets = [0, 0, 0]
  for (lo, hi), (k, m, w) in zip(game.levels[:d], game.child_shapes[:d]):
    offsets = [offsets[0] + (hi - lo) * k, offsets[1] + m * w, offsets[2] + m]
  lo, hi = game.levels[d]
  k, m, w = game.child_shapes[d]
  summed = gather_sum(x, game.child_table[offsets[0]:offsets[0] + (hi - lo) * k]
                      .reshape(k, hi - lo)) if k else jnp.zeros(hi - lo, x.dtype)
  if m:
    wide = gather_sum(x, game.wide_table[offsets[1]:offsets[1] + m * w].reshape(w, m))
    summed = summed.at[game.wide_pos[offsets[2]:offsets[2] + m]].add(
        wide, indices_are_sorted=True, unique_indices=True)
  return summed


def backward_values(game: Game, edge_weight: jax.Array,
                    terminal_value: jax.Array,
                    at_level: Callable | None = None) -> jax.Array:
  """[N] values bottom up: value(h) = terminal_value(h) + sum_c w(c) value(c).

  `at_level(depth, child_values, edge_weight_of_children)`, when given, may
  replace the children's weights of that depth (used by the best response to
  put all weight on the maximising action) before they are summed.
  """
  levels = [terminal_value[slice(*game.levels[-1])]]
  for d in range(len(game.levels) - 2, -1, -1):
    lo, hi = game.levels[d]
    clo, chi = game.levels[d + 1]
    child_v = levels[-1]
    w = edge_weight[clo:chi]
    if at_level is not None:
      w = at_level(d, child_v, w)
    summed = _sum_children(game, d, w * child_v)
    levels.append(terminal_value[lo:hi] + summed)
  return jnp.concatenate(levels[::-1])
