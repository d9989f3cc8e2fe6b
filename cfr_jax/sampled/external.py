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

Padded or pooled. Padding every trajectory to the widest frontier wastes
work where the widest is far from the typical (Leduc, traverser 0: 159
padded child slots per trajectory against 84 expected under uniform play;
liar's dice: 6,241 against 1,182, 130 nodes, as the replies to a bid get
fewer the higher the bid). So by default the frontiers of all B trajectories
share one pool of C_d nodes per depth (`traverse_pooled`), each entry
carrying its place in the padded layout, so that both layouts draw the same
children from the same key: a draw is a counter-based hash of the depth's
seed and that place (`kernels.uniform_hash`), so the pool draws for its own
entries only. Each entry's kept children are one segment of the next pool
(a prefix sum of the kept counts places it), and the way back up sums each
segment: the work is the entries and their children, not a slot for every
child that a node at the depth could have (measured 1.5-2.2x faster than
padding on Kuhn, Leduc and liar's dice, bench/RESULTS.md).
C_d comes from the mean and variance of one trajectory's frontier size
(`frontier_moments`, uniform opponent play) with slack for the opponent's
actual strategy (`pool_capacities`), at most B widths[d]. Correctness never
rests on it: a batch whose pool overflows at any depth is recomputed padded
(`traverse`), so either way the result is the same estimator from the same
draws, and only the order of the sums differs (not bit for bit, but each
layout is deterministic, so resumed runs still are).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import kernels
from cfr_jax.envs.core import CHANCE, TERMINAL
from cfr_jax.envs.tree import TreeArrays, tree_arrays
from cfr_jax.games.tree import Game
from cfr_jax.placement import to_device


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
  chance_cdf: jax.Array


def _parents_bottom_up(t: TreeArrays):
  """Per depth, deepest first: (nodes with children, lo, hi, starts). The
  children of a depth's nodes are the contiguous rows lo:hi, and consecutive
  parents' children are consecutive, so segment j (from starts[j] to the
  next start, relative to lo) is the j-th parent's children exactly."""
  n = len(t.first) - 1
  for d in np.unique(t.depth[:n])[::-1][1:]:
    nodes = np.flatnonzero((t.depth[:n] == d) & (t.count[:n] > 0))
    if len(nodes):
      lo = t.first[nodes[0]]
      yield nodes, lo, t.first[nodes[-1]] + t.count[nodes[-1]], t.first[nodes] - lo


def frontier_widths(t: TreeArrays, num_levels: int, traverser: int) -> list:
  """[D] the most nodes any external-sampling trajectory for `traverser`
  reaches at each depth: the root's reach vector, bottom up, where a node's
  vector is itself at its depth plus the sum of its children's vectors
  (traverser's nodes: all children are kept) or their elementwise maximum
  (other nodes: one child is kept)."""
  n = len(t.first) - 1
  reach = np.zeros((n, num_levels), np.int64)
  reach[np.arange(n), t.depth[:n]] = 1
  for nodes, lo, hi, starts in _parents_bottom_up(t):
    below = reach[lo:hi]  # the children of depth d, contiguous
    summed = np.add.reduceat(below, starts, axis=0)
    maxed = np.maximum.reduceat(below, starts, axis=0)
    own = t.player[nodes] == traverser
    reach[nodes] += np.where(own[:, None], summed, maxed)
  return [max(int(w), 1) for w in reach[0]]


def frontier_moments(t: TreeArrays, num_levels: int, traverser: int) -> tuple:
  """([D], [D]) float64: the mean and variance of one trajectory's frontier
  size at each depth, when the opponent samples uniformly (chance: its own
  probabilities). Bottom up as `frontier_widths`: a node's size vector is
  itself at its depth plus, at the traverser's nodes, the sum of its
  children's (independent subtrees: means and variances add), elsewhere the
  one sampled child's (a mixture: mean sum_c p_c m_c, variance
  sum_c p_c (v_c + m_c^2) - mean^2).

  The opponent's real strategy is not uniform and changes every iteration,
  so these are estimates, not bounds; `pool_capacities` adds slack, and an
  overflowing batch is recomputed by the padded path, so a wrong estimate
  costs time, never exactness.
  """
  n = len(t.first) - 1
  mean = np.zeros((n, num_levels))
  mean[np.arange(n), t.depth[:n]] = 1
  var = np.zeros((n, num_levels))
  for nodes, lo, hi, starts in _parents_bottom_up(t):
    own = (t.player[nodes] == traverser)[:, None]
    chance = np.repeat(t.player[nodes] == CHANCE, t.count[nodes])
    p = np.where(chance, t.chance_prob[lo:hi], np.repeat(1.0 / t.count[nodes], t.count[nodes]))
    m, v = mean[lo:hi], var[lo:hi]
    mixed = np.add.reduceat(p[:, None] * m, starts, axis=0)
    mixed_var = np.add.reduceat(p[:, None] * (v + m * m), starts, axis=0) - mixed ** 2
    mean[nodes] += np.where(own, np.add.reduceat(m, starts, axis=0), mixed)
    var[nodes] += np.where(own, np.add.reduceat(v, starts, axis=0), np.maximum(mixed_var, 0))
  return mean[0], var[0]


def chance_cdf(t: TreeArrays, dtype) -> np.ndarray:
  """[N+1] of dtype: for each child of a chance node, its parent's outcome
  probabilities summed in order up to and including it (0 elsewhere), added
  one by one in dtype."""
  out = np.zeros(len(t.first), dtype)
  nodes = np.flatnonzero((t.player == CHANCE) & (t.count > 0))
  acc = np.zeros(len(nodes), dtype)
  for k in range(int(t.count[nodes].max(initial=0))):
    has = k < t.count[nodes]
    rows = t.first[nodes[has]] + k
    acc[has] = (acc[has] + t.chance_prob[rows].astype(dtype)).astype(dtype)
    out[rows] = acc[has]
  return out


def depth_movers(game: Game) -> tuple:
  """[D] frozensets: who acts at each depth's nodes (0, 1, CHANCE; not
  terminals). Static, so that a depth where the traverser never acts skips
  her bookkeeping, and one where only she acts skips the draws (in liar's
  dice and Kuhn the players alternate by depth: half of each)."""
  t = tree_arrays(game)
  return tuple(frozenset(int(p) for p in np.unique(t.player[lo:hi][t.count[lo:hi] > 0]))
               for lo, hi in game.levels)


def make_plan(game: Game, dtype) -> tuple:
  """(Plan, widths per traverser, fanout per depth) of `game`."""
  t = tree_arrays(game)
  depth_count = len(game.levels)
  widths = tuple(tuple(frontier_widths(t, depth_count, i)) for i in (0, 1))
  fanout = tuple(max(int(t.count[lo:hi].max(initial=0)), 1) for lo, hi in game.levels)
  plan = Plan(first=to_device(t.first), count=to_device(t.count),
              player=to_device(t.player), infoset=to_device(t.infoset),
              utility=to_device(t.utility, dtype),
              chance_prob=to_device(t.chance_prob, dtype), slot=to_device(t.slot),
              chance_cdf=to_device(chance_cdf(t, jnp.dtype(dtype))))
  return plan, widths, fanout


# Pool capacity at depth d: B m (1 + SLACK) + SIGMAS sqrt(B v) + MARGIN, with
# (m, v) from `frontier_moments`. The normal tail term covers the batch's
# spread about its mean; SLACK covers the opponent's strategy moving the mean
# itself away from uniform play's: on liar's dice (B = 1024) a near-
# equilibrium profile (CFR+, exploitability 1e-3) fills 1.46x uniform play's
# mean at traverser 1's depth 4 (low opening bids leave more replies); ES
# after 40 iterations fills at most 76% of these capacities, and overflowed
# in none of 2 x 50 batches.
SLACK, SIGMAS, MARGIN = 1.0, 6.0, 64


def pool_capacities(game: Game, batch: int, widths, fanout, pooled: bool | None = None) -> tuple:
  """Per traverser, the pooled frontier's capacity at each depth ([D] ints,
  for `traverse(capacity=...)`), or None where the padded path is used.

  widths, fanout: `make_plan`'s. pooled: False pads (the fallback's layout,
  for comparison); True or None (default) pools.
  """
  t = tree_arrays(game)
  out = []
  for i in (0, 1):
    mean, var = frontier_moments(t, len(fanout), i)
    capacity = tuple(
        min(batch * w, int(np.ceil(batch * m * (1 + SLACK) + SIGMAS * np.sqrt(batch * v))) + MARGIN)
        for w, m, v in zip(widths[i], mean, var))
    capacity = (batch,) + capacity[1:]  # the roots: exactly one per trajectory
    out.append(None if pooled is False else capacity)
  return tuple(out)


def child_cdf(plan: Plan, sigma: jax.Array) -> jax.Array:
  """[N+1]: for each node, its parent's sampling weights (chance: outcome
  probabilities; decision nodes: sigma) summed in order over its siblings up
  to and including it. sigma is 0 at illegal actions, and a node's children
  are its infoset's legal actions in order, so the running sum along an
  infoset's row, read at each child's slot, is that sum exactly. One pass
  over the infoset table per half step, where drawing from a frontier's
  [S, K] children would gather K weights per entry at every depth."""
  cum = kernels.running_sum(sigma).reshape(-1)
  cum = jnp.concatenate([cum, jnp.zeros((1,), sigma.dtype)])  # slot I * A: not a decision edge
  return plan.chance_cdf + cum[plan.slot]


def _pick(plan: Plan, cdf: jax.Array, front: jax.Array, unit: jax.Array,
          num_children: int) -> jax.Array:
  """front's shape: the child a draw picks at each node (its index among
  the node's children; -1 at a node without any). unit: front's shape, a
  uniform draw in [0, 1) per node; num_children: the most children a node
  of front has. The pick is the first child whose cdf (`child_cdf`) exceeds
  unit times the node's total, so a zero-weight child is never picked.
  Siblings' cdfs rise with the index, so a binary search finds it: log2(K)
  gathers per node, not K."""
  first, count = plan.first[front], plan.count[front]
  u = unit * cdf[first + jnp.maximum(count, 1) - 1]
  below = jnp.zeros_like(count)  # children known to have cdf <= u
  step = 1 << (num_children.bit_length() - 1)
  while step:
    ahead = below + step
    below = jnp.where((ahead <= count) & (cdf[first + ahead - 1] <= u), ahead, below)
    step >>= 1
  return jnp.minimum(below, count - 1)


def _expand(plan: Plan, cdf: jax.Array, front: jax.Array, unit: jax.Array,
            num_children: int, traverser: int) -> tuple:
  """Children of a padded frontier, and which of them the trajectory keeps.

  front: [B, W] node ids (sentinel padding allowed); unit: front's shape, a
  uniform draw in [0, 1) per node (`_pick`'s, at opponent and chance nodes).
  Returns (child, keep), each front's shape + [num_children]; child is the
  sentinel where a node has fewer children.
  """
  sentinel = plan.first.shape[0] - 1
  k = jnp.arange(num_children, dtype=jnp.int32)
  valid = k < plan.count[front][..., None]
  child = jnp.where(valid, plan.first[front][..., None] + k, sentinel)
  pick = _pick(plan, cdf, front, unit, num_children)
  mine = plan.player[front] == traverser
  keep = valid & jnp.where(mine[..., None], True, k == pick[..., None])
  return child, keep


def _leaves(plan: Plan, last: jax.Array, flat_sigma: jax.Array, traverser: int,
            num_infosets: int) -> tuple:
  """Where both ways back up start: (the pad slot, the traverser's sign, the
  deepest frontier's values, empty cfv [I * A + 1] and visits [I + 1])."""
  dtype = flat_sigma.dtype
  pad_slot = flat_sigma.shape[0] - 1
  sign = 1.0 if traverser == 0 else -1.0
  value = sign * plan.utility[last]  # terminals (or the sentinel)
  return (pad_slot, sign, value, jnp.zeros(pad_slot + 1, dtype),
          jnp.zeros(num_infosets + 1, dtype))


def _back_up(plan: Plan, levels: list, last: jax.Array, flat_sigma: jax.Array,
             traverser: int, num_infosets: int) -> tuple:
  """The way back up of padded frontiers (pooled ones: `_back_up_pooled`).

  levels: per depth (front, child, below): front [S_d] or [B, W_d] node
  ids, child front's shape + [K_d], below the same shape: each child's
  index into the next level's frontier flattened, or that frontier's size
  (reads 0) where the child was not kept. last: the deepest frontier.
  Returns (cfv [I * A + 1], visits [I + 1]), the last entry of each a
  dump for padding.
  """
  pad_slot, sign, value, cfv, visits = _leaves(plan, last, flat_sigma, traverser,
                                               num_infosets)
  for front, child, below in reversed(levels):
    player = plan.player[front]
    # below's past-the-end index reads the appended 0; every index is in bounds,
    # which spares the gather its per-element bounds check
    padded = jnp.concatenate([value.reshape(-1), jnp.zeros((1,), value.dtype)])
    child_value = padded.at[below].get(mode='promise_in_bounds')  # front's shape + [K]
    mine = player == traverser
    slot = plan.slot[child]
    own_value = jnp.sum(flat_sigma[slot] * child_value, axis=-1)  # pad slot's sigma is 1, value 0
    value = jnp.where(mine, own_value, jnp.sum(child_value, axis=-1))
    value = jnp.where(player == TERMINAL, sign * plan.utility[front], value)
    cfv = cfv.at[jnp.where(mine[..., None], slot, pad_slot)].add(child_value)
    visits = visits.at[jnp.where(player == 1 - traverser, plan.infoset[front],
                                 num_infosets)].add(1)
  return cfv, visits


def _seeds(key: jax.Array, depths: int) -> jax.Array:
  """[D, 2] uint32: the seed of each depth's draws."""
  return jax.random.bits(key, (depths, 2), jnp.uint32)


def _draws(seeds: jax.Array, depth: int, home: jax.Array, dtype) -> jax.Array:
  """Uniform draws in [0, 1), home's shape: entry home = b * widths[d] + j
  is for the j-th node of trajectory b's frontier at depth d, in both the
  padded and the pooled layouts (so that both sample the same children). A
  counter-based hash of (the depth's seed, home), so the pooled layout draws
  only its entries, not the padded layout's B widths[d]."""
  return kernels.uniform_hash(seeds[depth], home, dtype)


def _with_pad(sigma: jax.Array) -> jax.Array:
  """[I * A + 1] sigma flattened, and 1 at the pad slot."""
  return jnp.concatenate([sigma.reshape(-1), jnp.ones((1,), sigma.dtype)])


def _unpad(cfv, visits, sigma) -> tuple:
  num_infosets, num_actions = sigma.shape
  return cfv[:-1].reshape(num_infosets, num_actions), visits[:num_infosets]


def traverse_padded(plan: Plan, widths, fanout, sigma: jax.Array, key: jax.Array,
                    traverser: int, batch: int, first_row=0, num_rows=None,
                    cdf=None) -> tuple:
  """`traverse` with each trajectory's frontier padded to widths[d]: [B, W_d].

  first_row, num_rows: these B rows are trajectories first_row.. of a batch
  of num_rows (default: B), drawn as that batch's; rows past its end start
  at the sentinel and add nothing (`_padded_in_chunks`). cdf: `child_cdf`
  of sigma, if the caller has it."""
  sentinel = plan.first.shape[0] - 1
  flat_sigma = _with_pad(sigma)
  cdf = child_cdf(plan, sigma) if cdf is None else cdf
  rows = jnp.arange(batch)[:, None]
  front = jnp.zeros((batch, 1), jnp.int32)
  if num_rows is not None:
    front = jnp.where(first_row + rows < num_rows, front, sentinel)
  seeds = _seeds(key, len(fanout))
  levels = []
  for d in range(len(fanout) - 1):
    unit = _draws(seeds, d, (first_row + rows) * widths[d] + jnp.arange(widths[d]), sigma.dtype)
    child, keep = _expand(plan, cdf, front, unit, fanout[d], traverser)
    width = widths[d + 1]
    flat_keep = keep.reshape(batch, -1)
    rank = kernels.count_prefix(flat_keep) - 1  # position in the row
    below = jnp.where(flat_keep, rows * width + rank, batch * width).reshape(child.shape)
    levels.append((front, child, below))
    front = jnp.full((batch * width + 1,), sentinel, jnp.int32).at[below].set(child)
    front = front[:-1].reshape(batch, width)
  return _unpad(*_back_up(plan, levels, front, flat_sigma, traverser, sigma.shape[0]), sigma)


def traverse_pooled(plan: Plan, widths, fanout, sigma: jax.Array, key: jax.Array,
                    traverser: int, batch: int, capacity, movers=None, cdf=None) -> tuple:
  """`traverse` with all trajectories' frontiers in one pool of capacity[d]
  nodes per depth. Returns (cfv [I, A], visits [I], sizes [D] int32): sizes
  are the pool's occupancy per depth; where any exceeds capacity[d], nodes
  were dropped and cfv and visits are wrong (`traverse` then falls back).

  A pool entry is a node id and its `home`, b * widths[d] + j for the j-th
  node of trajectory b's frontier (its place in the padded layout), which
  gives it the padded path's draw. Entries stay sorted by home (parents in
  order, each parent's kept children in order). Each entry's kept children
  are a segment of the next pool (a prefix sum of the kept counts gives its
  start), so the next pool is built from, and backed up over, its own
  entries, not a slot per child that a node at this depth could have (on
  liar's dice a fifth of those slots are children, bench/RESULTS.md).
  movers: `depth_movers(game)`, or None (anyone may act anywhere): the same
  result, with less work where a depth's movers rule out a case. cdf:
  `child_cdf` of sigma, if the caller has it.
  """
  sentinel = plan.first.shape[0] - 1
  flat_sigma = _with_pad(sigma)
  cdf = child_cdf(plan, sigma) if cdf is None else cdf
  front = jnp.zeros((batch,), jnp.int32)
  home = jnp.arange(batch, dtype=jnp.int32)  # widths[0] == 1
  offset = jnp.arange(batch, dtype=jnp.int32)  # [B] each trajectory's first place in the pool
  owner = jnp.arange(batch, dtype=jnp.int32)  # [S] each entry's trajectory (padding: 0)
  sizes = [jnp.asarray(batch, jnp.int32)]
  seeds = _seeds(key, len(fanout))
  levels = []
  for d in range(len(fanout) - 1):
    unit = _draws(seeds, d, home, sigma.dtype)
    num = front.shape[0]
    acting = movers[d] if movers is not None else {0, 1, CHANCE}
    draws = bool(acting - {traverser})  # someone other than the traverser picks a child
    count = plan.count[front]
    if traverser not in acting:  # the one kept child of each node
      mine = None
      kept = jnp.minimum(count, 1)
    elif draws:
      mine = plan.player[front] == traverser
      kept = jnp.where(mine, count, jnp.minimum(count, 1))  # [S] children kept
    else:  # all of them
      mine = None
      kept = count
    pick = _pick(plan, cdf, front, unit, fanout[d]) if draws else 0
    end = kernels.count_prefix(kept)
    start = end - kept  # [S] first place of each entry's children in the next pool
    sizes.append(end[-1])
    size = capacity[d + 1]
    # parent[p]: the entry whose segment holds place p (num: none).
    place = jnp.arange(size, dtype=jnp.int32)
    live = place < end[-1]
    if mine is None and draws:  # at most one child per entry: each names its place
      parent = jnp.full((size + 1,), num, jnp.int32).at[
          jnp.where(kept > 0, jnp.minimum(start, size), size)].set(
              jnp.arange(num, dtype=jnp.int32))[:size]
    else:  # the last entry whose start is at most p
      # Every entry marks its start; an entry without children shares its
      # start with the next one, so the count of marks up to p, less one, is
      # that entry's index.
      mark = jnp.zeros((size + 1,), jnp.int32).at[jnp.minimum(start, size)].add(1)
      parent = jnp.where(live, kernels.count_prefix(mark[:size]) - 1, num)
    safe = jnp.minimum(parent, num - 1)
    # by_mine [S']: the child of a traverser's node (None: of none)
    if mine is not None:
      by_mine = live & mine[safe]
      k = jnp.where(by_mine, place - start[safe], pick[safe])
    elif draws:
      by_mine, k = None, pick[safe]
    else:
      by_mine, k = live, place - start[safe]
    child = jnp.where(live, plan.first[front[safe]] + k, sentinel)
    # A child's home is its rank among its trajectory's children. Pools are
    # sorted by trajectory, so the children of trajectories before b are the
    # entries before b's first, `offset[b]` (that of the first place after
    # them where b has none), and their kept children come before b's.
    earlier = jnp.append(start, end[-1])[jnp.minimum(offset, num)]  # [B]
    owner = jnp.where(live, owner[safe], 0)
    child_home = owner * widths[d + 1] + place - earlier[owner]
    offset = earlier
    levels.append((front, parent, child, by_mine, 1 - traverser in acting))
    front = child
    home = jnp.where(live, child_home, 0)
  cfv, visits = _unpad(*_back_up_pooled(plan, levels, front, flat_sigma, traverser,
                                        sigma.shape[0]), sigma)
  return cfv, visits, jnp.stack(sizes)


def _back_up_pooled(plan: Plan, levels: list, last: jax.Array, flat_sigma: jax.Array,
                    traverser: int, num_infosets: int) -> tuple:
  """`_back_up` for pooled frontiers. levels: per depth (front [S], and for
  each entry p of the next pool its parent [S'] (S: none), its node child
  [S'] and whether that parent is the traverser's, by_mine [S'] (None: no
  parent is); then whether the opponent acts at any of front).
  A parent's value is the segment sum of its children's (sigma-weighted at
  the traverser's nodes), and the traverser's children's values are
  scatter-added into the counterfactual-value table, one entry per child."""
  pad_slot, sign, value, cfv, visits = _leaves(plan, last, flat_sigma, traverser,
                                               num_infosets)
  for front, parent, child, by_mine, opponent in reversed(levels):
    num = front.shape[0]
    player = plan.player[front]
    weighted = value
    if by_mine is not None:
      slot = plan.slot[child]
      weighted = jnp.where(by_mine, flat_sigma[slot], 1) * value
      cfv = cfv.at[jnp.where(by_mine, slot, pad_slot)].add(value)
    summed = jax.ops.segment_sum(weighted, parent, num_segments=num + 1,
                                 indices_are_sorted=True)[:num]
    value = jnp.where(player == TERMINAL, sign * plan.utility[front], summed)
    if opponent:
      visits = visits.at[jnp.where(player == 1 - traverser, plan.infoset[front],
                                   num_infosets)].add(1)
  return cfv, visits


# The overflow fallback pads FALLBACK_ROWS trajectories at a time: padded
# frontiers are B x widths[d] x fanout[d] per depth, and XLA:CPU allocates a
# program's temporaries afresh at every call, which the OS then maps page by
# page (liar's dice, B = 1024: 122 MB of temporaries, 4,700 page faults and
# 6.7 ms per call with the whole batch padded; 26 MB and 5.8 ms in chunks).
FALLBACK_ROWS = 128


def _padded_in_chunks(plan: Plan, widths, fanout, sigma: jax.Array, key: jax.Array,
                      traverser: int, batch: int, cdf: jax.Array) -> tuple:
  """`traverse_padded`'s result, FALLBACK_ROWS trajectories at a time (the
  same draws; one chunk, the same sums). cdf: `child_cdf` of sigma, made
  once for every chunk."""
  rows = min(batch, FALLBACK_ROWS)

  def chunk(c, sums):
    part = traverse_padded(plan, widths, fanout, sigma, key, traverser, rows,
                           first_row=c * rows, num_rows=batch, cdf=cdf)
    return sums[0] + part[0], sums[1] + part[1]
  zeros = (jnp.zeros_like(sigma), jnp.zeros(sigma.shape[0], sigma.dtype))
  return jax.lax.fori_loop(0, -(-batch // rows), chunk, zeros)


def traverse(plan: Plan, widths, fanout, sigma: jax.Array, key: jax.Array,
             traverser: int, batch: int, capacity=None, movers=None) -> tuple:
  """One batch of external-sampling traversals for `traverser`.

  sigma: [I, A] the current profile. Returns (cfv [I, A], visits [I]):
  the counterfactual values of the traverser's infosets and the opponent's
  infoset visit counts, each summed over the `batch` trajectories.
  capacity: None (padded frontiers) or [D] pool sizes (`pool_capacities`):
  pooled, and where the pool overflows, this batch again padded (in chunks
  of FALLBACK_ROWS trajectories), so the result is the same estimator from
  the same draws either way.
  movers: `depth_movers(game)` (less work for the pooled layout) or None.
  """
  args = (plan, widths, fanout, sigma, key, traverser, batch)
  if capacity is None:
    return traverse_padded(*args)
  cdf = child_cdf(plan, sigma)  # one table for the pool and its fallback
  cfv, visits, sizes = traverse_pooled(*args, capacity, movers, cdf)
  overflow = jnp.any(sizes > jnp.asarray(capacity, jnp.int32))
  return jax.lax.cond(overflow, lambda: _padded_in_chunks(*args, cdf), lambda: (cfv, visits))
