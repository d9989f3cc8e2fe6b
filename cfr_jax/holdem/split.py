"""Subtree-bounded passes: a subgame cut below its first deal into equal parts.

A flop subgame's tree is its flop betting (the *upper* part, small) and, below
each turn card, a subtree whose betting repeats card after card. Its
whole-tree passes hold a level's values for every turn card at once (the
flop config's widest levels: ~190 MiB each, 1.85 GiB of temporaries in all).
Here the same half step runs the upper part's forward pass, then loops over
batches of turn cards, each batch a complete forward and backward pass with
its regret updates, then the upper part's backward pass: only one batch's
levels are ever live (flop config, one card at a time: 83 MiB of
temporaries, 0.09x the state, within ~8% of the speed; bench/RESULTS.md).

Each part is itself a `Subgame` (so the level-fused pass,
`subgame.fused_half_step`, runs on it unchanged) over a subset of the full
game's nodes, in the full game's order:
- the upper part: every node above the first deal; the chance nodes of that
  deal (*stubs*) keep no children, their values come from the batches;
- a batch: the stubs (the roots, their reaches come from the upper part),
  dealing only the batch's cards, and every node below those cards.
Batches of one shape class (the same structure card for card: every card
without isomorphism) are stacked, and their arrays indexed by the loop; the
static structure (`levels`, `act_runs`, ...) is the class's, shared.

The state keeps the full game's layout: a part's decision reads and writes its
rows at their place in the full state (`Part.base`, the first entry of each
of the part's decisions there), block by block, one slice per contiguous run
of the block's entries (`block_rows`, `put`). Subgame layout 6 orders the
decisions below one card contiguously within each block, so on the configs
every block is one run. A 16-bit state is carried through the passes as its
bits (`to_bits`): XLA:CPU's window scatter into a bfloat16 array is not in place.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import heap
from cfr_jax import regret as regret_lib
from cfr_jax.holdem import cards as cards_lib
from cfr_jax.holdem import subgame as sg
from cfr_jax.placement import to_device

_NONE = cards_lib.NUM_CARDS


def _np(x):
  return None if x is None else np.asarray(x)


def _node_tables(game: sg.Subgame) -> dict:
  """Per global node (level order): its level, kind (0 decision, 1 chance,
  2 terminal), index among its kind, parent (-1: the root) and the first
  card dealt on its path (52: none)."""
  n = sum(nd + nc + nt for _, nd, nc, nt in game.levels)
  level, kind, kind_id = (np.zeros(n, np.int64) for _ in range(3))
  for l, ((start, nd, nc, nt), (d0, c0, t0)) in enumerate(zip(game.levels, game.offsets)):
    level[start:start + nd + nc + nt] = l
    kind[start:start + nd + nc + nt] = [0] * nd + [1] * nc + [2] * nt
    kind_id[start:start + nd + nc + nt] = np.concatenate(
        [d0 + np.arange(nd), c0 + np.arange(nc), t0 + np.arange(nt)])
  parent = np.full(n, -1)
  edge_parent, edge_card = _np(game.edge_parent), _np(game.edge_card)
  first = np.full(n, _NONE)
  for l in range(1, len(game.levels)):
    start, nd, nc, nt = game.levels[l]
    ids = np.arange(start, start + nd + nc + nt)
    parent[ids] = game.levels[l - 1][0] + edge_parent[ids]
    first[ids] = np.where(first[parent[ids]] != _NONE, first[parent[ids]], edge_card[ids])
  return dict(level=level, kind=kind, kind_id=kind_id, parent=parent, first=first)


_PER_NODE = ('dec_player', 'node_legal', 'dec_child', 'chance_child', 'chance_card',
             'chance_count', 'chance_perm', 'dec_sym', 'edge_parent', 'edge_dec',
             'edge_slot', 'edge_mover', 'edge_card', 'fold_sign', 'stake', 'rake', 'term_runout',
             'term_board', 'fold_terms', 'show_terms', 'sd_group_term', 'sd_group_board',
             'sd_slot', 'bucket')


def _restrict(game: sg.Subgame, t: dict, keep: np.ndarray, stub: np.ndarray,
              cut: bool) -> tuple:
  """(per-node arrays, static fields, decision ids) of the part of `game`
  holding the nodes `keep` [N] (bool); `stub` [N]: the first deal's chance
  nodes, put first among their level's chance nodes; `cut`: the stubs lose
  their children (the upper part)."""
  g = {k: _np(getattr(game, k)) for k in _PER_NODE}
  num_l = len(game.levels)
  order = []  # per level, the kept global nodes in the part's order
  for l, (start, nd, nc, nt) in enumerate(game.levels):
    ids = np.arange(start, start + nd + nc + nt)
    ids = ids[keep[ids]]
    seg = t['kind'][ids] * 2 - stub[ids]  # stubs first among the chance nodes
    order.append(ids[np.argsort(seg, kind='stable')])
  new_local = np.full(len(keep), -1)
  for ids in order:
    new_local[ids] = np.arange(len(ids))
  sizes = [len(ids) for ids in order] + [0]
  dec = np.concatenate([ids[t['kind'][ids] == 0] for ids in order])
  chance = np.concatenate([ids[t['kind'][ids] == 1] for ids in order])
  term = np.concatenate([ids[t['kind'][ids] == 2] for ids in order])
  new_dec = np.full(len(keep), -1)
  new_dec[dec] = np.arange(len(dec))
  d_full, c_full, t_full = (t['kind_id'][x] for x in (dec, chance, term))
  lev_d, lev_c = t['level'][dec], t['level'][chance]

  def relocal(child_local, lev):
    """Children's local indices in the full level lev + 1 -> in the part's."""
    out = np.full(child_local.shape, 0)
    for l in np.unique(lev):
      rows = lev == l
      start, nd, nc, nt = game.levels[l + 1] if l + 1 < num_l else (0, 0, 0, 0)
      c = child_local[rows]
      present = c < nd + nc + nt
      glob = np.where(present, start + np.minimum(c, max(nd + nc + nt - 1, 0)), 0)
      mapped = np.where(present & keep[glob] & (new_local[glob] >= 0), new_local[glob], -1)
      out[rows] = np.where(mapped >= 0, mapped, sizes[l + 1])
    return out

  a = {}
  a['dec_player'] = g['dec_player'][d_full]
  a['node_legal'] = g['node_legal'][d_full]
  a['dec_child'] = relocal(g['dec_child'][d_full], lev_d)
  if len(chance):
    child = relocal(g['chance_child'][c_full], lev_c)
    if cut:
      child[stub[chance]] = np.asarray(sizes)[lev_c[stub[chance]] + 1][:, None]
    a['chance_child'] = child
    for k in ('chance_card', 'chance_count', 'chance_perm'):
      a[k] = None if g[k] is None else g[k][c_full]
  else:  # as compile_subgame: one inert row
    a['chance_child'] = np.zeros((1, g['chance_child'].shape[1]), np.int64)
    a['chance_card'] = np.full((1, g['chance_card'].shape[1]), _NONE)
    a['chance_count'] = np.ones(1)
    a['chance_perm'] = None if g['chance_perm'] is None else np.zeros(
        (1, g['chance_perm'].shape[1]), np.int64)
  a['dec_sym'] = None if g['dec_sym'] is None else g['dec_sym'][d_full]
  a['bucket'] = None if g['bucket'] is None else g['bucket'][d_full]
  nodes = np.concatenate(order)
  par = t['parent'][nodes]
  has_parent = (par >= 0) & keep[np.maximum(par, 0)]
  a['edge_parent'] = np.where(has_parent, new_local[np.maximum(par, 0)], 0)
  a['edge_dec'] = np.where(has_parent, np.maximum(new_dec[np.maximum(par, 0)], 0), 0)
  a['edge_slot'] = g['edge_slot'][nodes]
  a['edge_mover'] = np.where(has_parent, g['edge_mover'][nodes], -1)
  a['edge_card'] = np.where(has_parent, g['edge_card'][nodes], _NONE)
  for k in ('fold_sign', 'stake', 'rake', 'term_runout', 'term_board'):
    a[k] = None if g[k] is None else g[k][t_full]
  fold = (a['fold_sign'] != 0)
  a['fold_terms'] = np.flatnonzero(fold)
  a['show_terms'] = np.flatnonzero(~fold)
  # Static structure, as compile_subgame lays it out.
  levels, offsets, splits = [], [], []
  counts = np.zeros(3, np.int64)
  start = 0
  for l, ids in enumerate(order):
    k = t['kind'][ids]
    nd, nc, nt = int((k == 0).sum()), int((k == 1).sum()), int((k == 2).sum())
    levels.append((start, nd, nc, nt))
    offsets.append(tuple(int(x) for x in counts))
    n0 = int((a['dec_player'][counts[0]:counts[0] + nd] == 0).sum())
    nf = int((a['fold_sign'][counts[2]:counts[2] + nt] != 0).sum())
    splits.append((n0, nf))
    counts += (nd, nc, nt)
    start += len(ids)
  # Showdowns grouped by runout (not by board: a batch's groups must have the
  # same sizes as every other batch's, and two runouts can share a board).
  group_term, group_board, a['sd_slot'], sd_groups = sg.showdown_groups(
      levels, offsets, splits, a['term_runout'], a['term_board'])
  a['sd_group_term'] = np.asarray(group_term or [0])
  a['sd_group_board'] = np.asarray(group_board or [0])
  runs = sg.row_runs(levels, offsets, splits, game.row_sizes)
  sym_ranges = ()
  if a['dec_sym'] is not None:
    sym_ranges = sg.spans((a['dec_sym'] != 0).any(1))
  static = dict(levels=tuple(levels), offsets=tuple(offsets), splits=tuple(splits),
                sd_groups=sd_groups, dec_runs=tuple(runs), sym_ranges=sym_ranges,
                act_runs=sg.action_runs(runs, a['node_legal']))
  # Stubs per level: (first stub id, count); stub ids in the order met.
  stubs, s = [], 0
  for ids in order:
    n = int(stub[ids].sum())
    stubs.append((s, n))
    s += n
  return a, static, d_full, tuple(stubs)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Part:
  """One part's game and its decisions' first entries in the full state."""
  game: sg.Subgame
  base: jax.Array  # [D'] int: first entry of each decision in the full compact state
  row: jax.Array  # [D'] int: first infoset row of each decision in the full table
  # The decisions whose entries do not follow the previous decision's in the
  # full state, in some batch (sorted; static): where contiguous runs begin.
  breaks: tuple = dataclasses.field(default=(), metadata=dict(static=True))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Split:
  """A subgame cut into its upper part and classes of batches.

  upper: Part; classes: tuple of Parts whose arrays have a leading [n] batch
  axis (each class's batches share its static structure); stubs: per level
  (first stub id, count), shared by every part (static)."""
  upper: Part
  classes: tuple
  stubs: tuple = dataclasses.field(metadata=dict(static=True))

  def astype(self, dtype) -> 'Split':
    cast = lambda p: dataclasses.replace(p, game=p.game.astype(dtype))
    return dataclasses.replace(self, upper=cast(self.upper),
                               classes=tuple(cast(c) for c in self.classes))


def deals(game: sg.Subgame) -> bool:
  """Whether the subgame deals a card (a flop or a turn): what a split cuts below."""
  return bool((np.asarray(game.chance_card) != _NONE).any())


def _part(game, arrays, static, decisions, cells, rows) -> Part:
  """A Part from `_restrict`'s output (arrays maybe stacked over batches);
  decisions: the full game's ids of its decisions."""
  fields = {k: None if v is None else to_device(v, getattr(game, k).dtype)
            for k, v in arrays.items()}
  ids = np.atleast_2d(decisions)
  start, end = game.cell_start[ids], game.cell_start[ids + 1]
  breaks = np.flatnonzero((end[:, :-1] != start[:, 1:]).any(0)) + 1
  return Part(game.replace(**fields, **static), to_device(cells[decisions], np.int32),
              to_device(rows[decisions], np.int32), tuple(int(i) for i in breaks))


def split_subgame(game: sg.Subgame, batch: int = 0) -> Split:
  """The parts of `game` (see the module docstring), `batch` cards per batch
  (0: every card of a class in one batch)."""
  parts = _split(game, batch)
  heap.release_free_memory()  # the per-card tables it built (flop config: ~0.1 GB)
  return parts


def _split(game: sg.Subgame, batch: int) -> Split:
  t = _node_tables(game)
  stub = (t['kind'] == 1) & (t['first'] == _NONE)
  if not stub.any():
    raise ValueError('a subgame without a deal (a river) has nothing to split')
  upper = t['first'] == _NONE
  cells, rows = game.cell_start[:-1], game.row_start[:-1]
  arrays, static, d_full, stubs = _restrict(game, t, upper, stub, cut=True)
  upper_part = _part(game, arrays, static, d_full, cells, rows)
  cards = np.unique(t['first'][~upper])
  # Shape classes: cards whose parts have the same static structure.
  by_shape, single = {}, {}
  for c in cards:
    *single[c], st = _restrict(game, t, upper & stub | (t['first'] == c), stub, cut=False)
    assert st == stubs
    by_shape.setdefault(repr(sorted(single[c][1].items())), []).append(c)
  classes = []
  for members in by_shape.values():
    # Equal batches only (a class's loop runs one program): the most cards
    # up to `batch` that divide the class (a class of 13 cards: 1 at a time).
    size = max(d for d in range(1, min(batch or len(members), len(members)) + 1)
               if len(members) % d == 0)
    parts = [single[members[i]] if size == 1 else
             _restrict(game, t, upper & stub | np.isin(t['first'], members[i:i + size]),
                       stub, cut=False)[:3] for i in range(0, len(members), size)]
    static = parts[0][1]
    assert all(p[1] == static for p in parts), 'batches of one class differ in shape'
    stacked = {k: None if parts[0][0][k] is None else np.stack([p[0][k] for p in parts])
               for k in parts[0][0]}
    decisions = np.stack([p[2] for p in parts])
    classes.append(_part(game, stacked, static, decisions, cells, rows))
  return Split(upper_part, tuple(classes), stubs)


# Above this many bytes of float32 state (one array of the compact layout),
# solvers run their half steps split (`Solver.subtrees`) and exact
# exploitability runs its best responses split: on the flop config the whole
# levels' temporaries are 2x the state, split one card at a time 0.09x.
BIG_BYTES = 1 << 28


def is_big(game: sg.Subgame) -> bool:
  """Whether a subgame is big enough for split passes by default (and deals a card)."""
  return game.num_cells * 4 > BIG_BYTES and deals(game)


_CACHE = {}  # id(game) -> (game, its split one card at a time)


def parts_of(game: sg.Subgame) -> Split:
  """`split_subgame(game, 1)`, built once per game object (the flop config's
  takes ~2 s), for repeated evaluations of one game."""
  hit = _CACHE.get(id(game))
  if hit is None or hit[0] is not game:
    _CACHE.clear()  # one game at a time: a split holds the game's node tables again
    hit = _CACHE[id(game)] = (game, split_subgame(game, 1))
  return hit[1]


def block_shape(part: Part, lo: int, hi: int) -> tuple:
  """(rows per decision, legal slots) of a part's decisions lo:hi, one block
  of `subgame._pieces` (static)."""
  [(_, _, slots)] = sg._pieces(part.game, lo, hi)  # pylint: disable=protected-access
  player = next(p for a, b, p, _ in part.game.act_runs if a <= lo < b)
  return part.game.row_sizes[player], slots


def windows(x: jax.Array, starts: jax.Array, size: int) -> jax.Array:
  """[n, size, ...] the windows x[s:s + size] of x's first axis at starts [n]
  (sorted, in bounds): a part's decisions' entries (or rows) in the full
  game's arrays."""
  dnums = jax.lax.GatherDimensionNumbers(offset_dims=tuple(range(1, x.ndim + 1)),
                                         collapsed_slice_dims=(), start_index_map=(0,))
  return jax.lax.gather(x, starts[:, None], dnums, (size,) + x.shape[1:],
                        indices_are_sorted=True,
                        mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def block_rows(x: jax.Array, part: Part, lo: int, hi: int) -> jax.Array:
  """[rows, k] the entries of a part's decisions lo:hi (one block of
  `block_shape`) in a state array x (a 16-bit state's bits read back as
  bfloat16): what `put` writes, read as it writes them, one slice per
  contiguous run (one per block on the configs in layout 6: with the joined
  writes, flop iterations ~1.1x faster than a window per decision;
  bench/RESULTS.md)."""
  rows, slots = block_shape(part, lo, hi)
  size = rows * len(slots)
  got = [jax.lax.dynamic_slice_in_dim(x, part.base[a], (b - a) * size)
         for a, b in runs(part, lo, hi)]
  return from_bits(jnp.concatenate(got) if len(got) > 1 else got[0]).reshape(-1, len(slots))


def put(x: jax.Array, part: Part, lo: int, hi: int, rows: jax.Array) -> jax.Array:
  """x [N] (a state array) with the entries of a part's decisions lo:hi set
  to rows [hi - lo, size]: one dynamic-update-slice per contiguous run of
  their entries (the same runs in every batch of a shape class,
  `Part.breaks`; one per block in layout 6, up to 6 on the flop config in
  layout 5), in place.

  Not one window scatter: XLA:CPU runs a scatter as a loop of one step per
  window, i.e. one per decision (~228k steps per flop iteration), and into
  a 16-bit array not in place. A 16-bit state goes through the passes as
  its bits (`to_bits`). On a float32 flop the two write the same bits at
  the same speed (10 alternating pairs in one process, bench/RESULTS.md):
  one way for every dtype."""
  if x.dtype == BITS:
    rows = to_bits(rows.astype(STORAGE))
  rows = rows.astype(x.dtype).reshape(hi - lo, -1)
  for a, b in runs(part, lo, hi):
    x = jax.lax.dynamic_update_slice_in_dim(x, rows[a - lo:b - lo].reshape(-1), part.base[a], 0)
  return x


def runs(part: Part, lo: int, hi: int) -> list:
  """[(a, b)] a part's decisions lo:hi cut where their entries stop being
  contiguous in the full state, in any batch (static)."""
  cut = part.breaks[bisect.bisect_right(part.breaks, lo):bisect.bisect_left(part.breaks, hi)]
  edges = [lo, *cut, hi]
  return list(zip(edges[:-1], edges[1:]))


# 16-bit storage (bfloat16, the one `make_solver` allows) as carried through
# the split passes: its bits, unsigned.
STORAGE, BITS = jnp.bfloat16, jnp.uint16


def to_bits(x: jax.Array | None) -> jax.Array | None:
  """A bfloat16 array's bits (uint16); other arrays (and None) as they are."""
  return jax.lax.bitcast_convert_type(x, BITS) if x is not None and x.dtype == STORAGE else x


def from_bits(x: jax.Array | None) -> jax.Array | None:
  """`to_bits` undone: uint16 bits as bfloat16; other arrays as they are."""
  return jax.lax.bitcast_convert_type(x, STORAGE) if x is not None and x.dtype == BITS else x


def _table_rows(part: Part, table: jax.Array, lo: int, hi: int) -> jax.Array:
  """[rows, k] a part's decisions lo:hi's rows of the full game's [I, A]
  table, at their legal slots."""
  rows, slots = block_shape(part, lo, hi)
  picked = windows(table, part.row[lo:hi], rows)
  return picked.reshape(-1, table.shape[1])[:, list(slots)]


def average_rows(part: Part, sums: tuple, lo: int, hi: int) -> jax.Array:
  """[rows, k] the average strategy of a part's decisions lo:hi (one block)
  from a state's compact strategy sums (sum, low part or None), normalised
  as `Solver.average_policy` normalises them: a `rows` for the passes below
  that makes no [I, A] table (the flop config's is 0.8 GB)."""
  dtype = part.game.prior.dtype
  read = lambda x: block_rows(x, part, lo, hi).astype(dtype)
  total = read(sums[0]) if sums[1] is None else read(sums[0]) + read(sums[1])
  return jax.vmap(regret_lib.regret_matching)(total, jnp.ones(total.shape, bool))


def _strategy(part: Part, rows):
  """`rows` as the fused passes' strategy(source, lo, hi) of one part."""
  return lambda source, lo, hi: rows(part, source, lo, hi)


def _keep(state, *_):
  """An update that changes nothing: passes that only read a policy."""
  return state


def _below(parts: Split, source, player: int, rows, reach: jax.Array,
           respond: str | None, rake: bool = False):
  """[S, H'] `player`'s values at the stubs (her range's hands), every
  batch's passes run in turn from the stubs' reaches [2, S, H] (each batch
  adds its cards' share); with rake, ([] the rake paid below the cut
  (`subgame.fused_forward`'s), those values)."""
  first, end = parts.upper.game.range_span[player]  # the backward passes' hands
  values = jnp.zeros((reach.shape[1], end - first), reach.dtype)
  if rake:
    values = (jnp.zeros((), reach.dtype), values)
  for cls in parts.classes:
    def batch(j, acc, cls=cls):
      part = batch_of(cls, j)
      forward = sg.fused_forward(part.game, source, player, _strategy(part, rows), reach,
                                 parts.stubs, rake=rake)
      _, v = sg.fused_backward(part.game, source, player, forward[-2], _strategy(part, rows),
                               _keep, stubs=parts.stubs, respond=respond)
      return (acc[0] + forward[0], acc[1] + v) if rake else acc + v
    values = jax.lax.fori_loop(0, num_batches(cls), batch, values)
  return values


def best_response_value(parts: Split, sigma, player: int, abstract: bool = False,
                        rows=_table_rows) -> jax.Array:
  """`subgame.best_response_value` in split passes: [] `player`'s value best
  responding to sigma [I, A] (the full game's table), one batch of dealt
  cards' levels live at a time.

  rows(part, sigma, lo, hi): [rows, k] the policy of a part's decisions
  lo:hi (one block); by default read from the table sigma. Another source
  (e.g. a state's strategy sums, `average_rows`) brings its own."""
  return _root_value(parts, sigma, player, 'bucket' if abstract else 'hand', rows)[1]


def game_value(parts: Split, sigma, player: int, rows=_table_rows) -> jax.Array:
  """`subgame.game_value` in split passes (sigma and rows as in
  `best_response_value`): [] `player`'s value when both follow sigma."""
  return _root_value(parts, sigma, player, None, rows)[1]


def nash_conv(parts: Split, sigma, abstract: bool = False, rows=_table_rows) -> jax.Array:
  """`subgame.nash_conv` in split passes (sigma and rows as in
  `best_response_value`). With rake, plus the rake sigma pays (minus the
  sum of its own values), which player 0's best response's forward passes
  give on the way: both players' reaches at every terminal."""
  raked, respond = parts.upper.game.rake is not None, 'bucket' if abstract else 'hand'
  paid, first = _root_value(parts, sigma, 0, respond, rows, rake=raked)
  total = first + _root_value(parts, sigma, 1, respond, rows)[1]
  return total + paid if raked else total


def _root_value(parts: Split, sigma, player: int, respond: str | None, rows,
                rake: bool = False) -> tuple:
  """([] the rake paid under sigma where `rake`, else 0; [] `player`'s value
  at the root: best responding (`respond` as in `subgame.fused_backward`) or,
  with respond None, playing sigma too)."""
  up = parts.upper
  forward = sg.fused_forward(up.game, sigma, player, _strategy(up, rows), stubs=parts.stubs,
                             rake=rake)
  stored, reach = forward[-2:]
  below = _below(parts, sigma, player, rows, reach, respond, rake)
  paid = 0.0
  if rake:
    paid, below = forward[0] + below[0], below[1]
  _, root = sg.fused_backward(up.game, sigma, player, stored, _strategy(up, rows), _keep,
                              below, parts.stubs, respond)
  first, end = up.game.range_span[player]
  return paid, root @ up.game.prior[player, first:end]


def node_report(parts: Split, game: sg.Subgame, source, history: str,
                rows=_table_rows) -> sg.NodeReport:
  """`subgame.node_report` in split passes: game's `NodeReport` at betting
  line `history` under the policy that `rows` reads from `source` (by
  default the [I, A] table; `average_rows`: a state's strategy sums).

  A node below the cut needs the upper part's forward pass and its own
  batch's passes only; a node above it, every batch's (as a best response).
  One batch's levels are live at a time: on the flop config the whole-tree
  report held ~4 GB (bench/RESULTS.md)."""
  line, perm, d = sg.locate(game, history)
  (cls, u), batch = _where(parts, game, d)
  level, k = sg.level_of((parts.upper if cls is None else parts.classes[cls]).game, u)
  policy, reach, cfv = _node_passes(parts, source, np.int32(batch), np.int32(k),
                                    int(game.dec_player[d]), (cls, level), rows)
  return sg.assemble_report(game, line, perm, d, policy, reach, cfv)


def _where(parts: Split, game: sg.Subgame, d: int) -> tuple:
  """((the class holding the full game's decision d, or None for the upper
  part; its id there), its batch in the class) (host side, from the parts'
  first rows: each decision has its own)."""
  row = int(game.row_start[d])
  hit = np.flatnonzero(np.asarray(parts.upper.row) == row)
  if hit.size:
    return (None, int(hit[0])), 0
  for c, cls in enumerate(parts.classes):
    j, u = np.nonzero(np.asarray(cls.row) == row)
    if j.size:
      return (c, int(u[0])), int(j[0])
  raise AssertionError(f'decision {d} is in no part')


@functools.partial(heap.jit, static_argnums=(4, 5, 6), compiler_options=sg.compiler_options)
def _node_passes(parts: Split, source, batch: jax.Array, k: jax.Array, p: int, where: tuple,
                 rows) -> tuple:
  """(policy [H, A], reaches [2, H], p's children's values [A, H]) at
  decision k of level where = (class or None, level of its part) of batch
  `batch`, whose player is p; jitted (one program per level and player: the
  decision and the batch are arguments)."""
  cls, level = where
  u = (level, k)
  up = parts.upper
  if cls is None:
    stored, reach, at = sg.fused_forward(up.game, source, p, _strategy(up, rows),
                                         stubs=parts.stubs, probe=u)
    values = _below(parts, source, p, rows, reach, None)
    _, _, (child, policy) = sg.fused_backward(up.game, source, p, stored, _strategy(up, rows),
                                              _keep, values, parts.stubs, probe=u)
    return policy, at, child
  _, reach = sg.fused_forward(up.game, source, p, _strategy(up, rows), stubs=parts.stubs)
  part = batch_of(parts.classes[cls], batch)
  kept, _, at = sg.fused_forward(part.game, source, p, _strategy(part, rows), reach,
                                 parts.stubs, probe=u)
  _, _, (child, policy) = sg.fused_backward(part.game, source, p, kept, _strategy(part, rows),
                                            _keep, stubs=parts.stubs, probe=u)
  return policy, at, child


def batch_of(part: Part, j) -> Part:
  """The j-th batch of a class (j traced): its per-node arrays indexed, the
  tables every part shares (hands, showdown layouts) as they are."""
  pick = lambda x: None if x is None else x[j]
  game = part.game.replace(**{k: pick(getattr(part.game, k)) for k in _PER_NODE})
  return Part(game, part.base[j], part.row[j], part.breaks)


def num_batches(part: Part) -> int:
  return part.base.shape[0]
