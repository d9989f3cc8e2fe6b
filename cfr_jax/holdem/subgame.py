"""Hold'em subgames (flop, turn or river) in the public-tree x hands layout.

The public tree holds the betting and the dealing of the turn and river
cards; a player's private information is one of H hands (those the board
does not block and either range holds). Reaches and values are range
vectors `[nodes, H]`, computed level by level (one batched gather per tree
depth, so the traced program grows with the depth, not the node count).

Terminal values use exact card removal in O(H) per terminal, as the best CPU
solvers do: a fold sums the opponent's reach minus the hands that share a
card with ours (inclusion-exclusion over our two cards); a showdown sweeps
the hands sorted by strength with one cumulative sum for the whole range and
one per card, so "weaker than h and disjoint from h" is a difference of
prefix sums. Dealing a card averages its children with probability
1 / (52 - board - 4), the same for every pair of disjoint hands.

Chance isomorphism (`SubgameSpec.isomorphism`, on by default where it
applies): a suit permutation s that maps the board onto itself and each
range onto itself (h and s(h) weighed alike) is a symmetry of the subgame.
The subtree below card s(c) is then the image of the one below c: for every
hand h, its values satisfy v_s(c)(h) = v_c(s^-1(h)), and its reaches, regrets
and strategies likewise, as long as the reaches arriving at the chance node
are symmetric. So a chance node keeps one child per orbit of the cards it
deals under its board's stabiliser (the group of the node's board, smaller
after a card that breaks the symmetry), and its value for hand h sums, over
every card k, the representative's child values gathered through the hand
permutation s^-1 (s(rep) = k), masked by the card removal of k itself.
Decisions above an isomorphic deal play the mean of their rows over the
group's images of each hand: what symmetric iterates play anyway (CFR from
the uniform strategy keeps them symmetric in exact arithmetic), and in
floating point it keeps regret matching's jump at zero from splitting a hand
from its image, so that the tree stays exactly the game it stands for: any
policy's value and best responses are the full tree's (tests/test_isomorphism.py).
The fused and whole-tree passes share the gather (`_chance_values`) and the
symmetrised policy (`_level_policy`), so they agree bit for bit with
isomorphism on too.

Infoset rows (the solver's state, `Subgame.legal`): decision node d holds
B_p rows, p the player acting there, from `row_start[d]` (the sum of B_p over
earlier decisions). Without an abstraction, B_p is the number of hands in
p's range (`range_hands[p]`): a hand outside it never reaches p's decisions
(its weight is zero), so it needs no row, and row `row_start[d] + k` is p's
k-th hand (hands are ordered so that each range is one contiguous span,
`range_span`). With one (`cfr_jax.abstraction`), B_p = B buckets for both
players, row `d * B + b` is bucket b, every hand of a node's board maps to a
bucket, the policy of a hand is its bucket's, and a bucket's counterfactual
values are the sums over its hands. A level's decisions are grouped by
player (`dec_runs`), so one player's rows of a level are one contiguous span.

The solver stores only the legal actions of each row (layout 4): within a
level and player, decisions are ordered by their legal slots, and each run
of decisions with the same k slots (`act_runs`) is one dense [rows, k] block
of a flat array (`num_cells` entries, `expand`/`compress` convert to and from
the [I, A] table). On the flop config this is 59% of the [I, A] table: most
decisions have 2 or 3 of the 4 slots. Within a run, decisions are ordered by
the first card dealt on their path (layout 6), so that the decisions below
one turn card, whatever flop line reached it, are one contiguous piece of
each run: a split's part (`cfr_jax.holdem.split`) reads and writes each of
its blocks as one slice of the state.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import math
import re
from typing import Any

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import heap
from cfr_jax import kernels
from cfr_jax.games.tree import GameInfo
from cfr_jax.holdem import cards as cards_lib
from cfr_jax.holdem import lines as lines_lib
from cfr_jax.placement import to_device
from cfr_jax.policy import policy_table

FOLD, CALL = 0, 1  # then one slot per bet/raise size, and all-in last
STREETS = {3: 'flop', 4: 'turn', 5: 'river'}

# XLA options for every program compiled over a subgame (`heap.jit(...,
# compiler_options=compiler_options)`). XLA:CPU's default (MLIR) fusion
# emitters hold far more host memory for these programs, which have thousands
# of small kernels, than the older elemental emitters, at the same speed
# (bench/RESULTS.md, "Leaner CPU code generation"): turn config peak RSS
# 1.09 GB -> 0.47 GB, flop 3.7 -> 2.3 GB, iterations within 5%. Tree games keep
# the default, where the new emitters are ~15% faster (Leduc). Programs pass
# `compiler_options` (a function: `heap.jit` calls it at first use), which
# leaves the option out where the backend is not a CPU.
COMPILER_OPTIONS = {'xla_cpu_use_fusion_emitters': False}


def compiler_options() -> dict:
  """`COMPILER_OPTIONS` where JAX's default backend is a CPU, else {}.

  XLA takes compiler options by the name of a field of its debug options and
  refuses a program that names one its build lacks, on every backend: this
  field is XLA:CPU's, so a GPU or TPU build whose jax is not the pinned one
  (a preinstalled image, say) must not be asked for it. Starts JAX's backends
  if they are not yet: call it when a program is made, not at import."""
  return dict(COMPILER_OPTIONS) if jax.default_backend() == 'cpu' else {}


_DECISION, _CHANCE, _FOLD, _SHOWDOWN = range(4)  # node kinds, in level order


@dataclasses.dataclass(frozen=True)
class SubgameSpec:
  """A hold'em subgame from the flop, turn or river. Player 0 acts first on every street.

  board: 3, 4 or 5 cards, e.g. "Td 9d 6h".
  pot: chips in the pot (each player put in half); stack: effective stack behind.
  ranges: range text per player, e.g. ("KK,54:0.2", "QQ").
  bet_sizes: bets as fractions of the pot; raise_sizes: raises as fractions
    of the pot after calling. Either one tuple for every street or one tuple
    per street from the board's street on. An all-in is always available; at
    most `max_raises` raises per street.
  buckets: None (every hand is its own infoset) or the keyword arguments of
    `cfr_jax.abstraction.BucketSettings`, e.g. {'method': 'ehs', 'num_buckets': 50}.
  isomorphism: deal one representative card per suit class where the board
    and both ranges are symmetric under a suit permutation (e.g. Td9d6h:
    clubs and spades), weighting it by its class (see the module docstring).
    It changes no value, only the tree's size; it turns itself off (saying why
    in `Subgame.info.isomorphism`) where the ranges or buckets break the
    symmetry, or where no card is dealt (a river).
  rake_rate, rake_cap: the house's cut of the pot at every terminal, fold or
    showdown, as postflop-solver and Desktop Postflop take it: min(rake_rate x
    the pot, rake_cap) chips (rake_cap None: no cap), where the pot is both
    players' equal contributions (the chips each put in before the subgame
    included, an uncalled bet returned). The winner pays it; a tie splits it.
    0 (default): no rake, a zero-sum game. With rake the game is not zero-sum:
    exploitability is then the mean over players of what a best response
    gains over the strategy's own value (`nash_conv` / 2), >= 0 and 0 exactly
    at an equilibrium.
  """
  board: str
  pot: float
  stack: float
  ranges: tuple
  bet_sizes: tuple = (0.5, 1.0)
  raise_sizes: tuple = (1.0,)
  max_raises: int = 1
  buckets: Any = None
  isomorphism: bool = True
  rake_rate: float = 0.0
  rake_cap: float | None = None

  def sizes(self, which: str, street: int) -> tuple:
    """Bet ('bet') or raise ('raise') sizes on street `street` (0: the board's)."""
    sizes = tuple(self.bet_sizes if which == 'bet' else self.raise_sizes)
    if sizes and all(isinstance(s, (tuple, list)) for s in sizes):
      return tuple(sizes[min(street, len(sizes) - 1)])
    return sizes


def betting_text(spec: dict) -> str:
  """A subgame's sizes street by street in words, from its `info.spec`, as
  the launcher says them after the build: 'turn: bets 50% 100%, raises 100%;
  river: all-in only' (all-in is open besides). A street left empty (the
  per-street '0.5;' gives the river none) was all-in only without a word."""
  sized = SubgameSpec(board=spec['board'], pot=0.0, stack=0.0, ranges=(),
                      bet_sizes=spec['bet_sizes'], raise_sizes=spec['raise_sizes'],
                      max_raises=spec['max_raises'])
  board = len(cards_lib.parse_cards(sized.board))
  pct = lambda xs: ' '.join(f'{100 * x:g}%' for x in xs)
  streets = []
  for street in range(6 - board):
    bets = sized.sizes('bet', street)
    raises = sized.sizes('raise', street) if sized.max_raises > 0 and bets else ()
    words = ([f'bets {pct(bets)}'] if bets else []) + (
        [f'raises {pct(raises)}'] if raises else [])
    streets.append(f'{STREETS[board + street]}: ' + (', '.join(words) or 'all-in only'))
  return '; '.join(streets)


@dataclasses.dataclass
class _Node:
  kind: int
  parent: int
  slot: int  # action slot in a decision parent, or the card a chance parent dealt
  depth: int
  player: int = -1
  history: str = ''
  contrib: tuple = (0.0, 0.0)
  runout: tuple = ()  # cards dealt after the subgame's board
  deals: tuple = ()  # chance nodes: (card, its representative, perm: rep -> card) per card


_IDENTITY = (0, 1, 2, 3)


def _deals(dealt: list, group: list) -> tuple:
  """((card, representative, perm), ...) for every card not in `dealt`, in
  card order: the representative is the lowest card of the card's orbit under
  the permutations of `group` that fix the dealt cards (the node's board),
  perm one of them mapping the representative to the card (identity first)."""
  stab = [p for p in group
          if set(cards_lib.permute_suits(dealt, p).tolist()) == set(dealt)]
  out = []
  for card in range(cards_lib.NUM_CARDS):
    if card in dealt:
      continue
    rep = min(int(cards_lib.permute_suits(card, p)) for p in stab)
    perm = next(p for p in stab if int(cards_lib.permute_suits(rep, p)) == card)
    out.append((card, rep, perm))
  return tuple(out)


def _public_tree(spec: SubgameSpec, board: list[int], group: tuple = (_IDENTITY,),
                 rows: tuple | None = None) -> list[_Node] | tuple:
  """Every public node, parents before children (creation order). group: the
  suit permutations of the subgame's symmetry (identity first); a chance node
  keeps one child per orbit of its board's stabiliser (see `_deals`).

  With rows (per player, the rows of a decision's state: hands or buckets),
  only counts, without building: (public nodes, state entries: legal actions
  x the acting player's rows, summed over decisions). Equal subtrees are
  counted once (`memo`): a street's betting depends on the contributions
  and, above the last street, on the runout (its deals): the flop config's
  count takes ~0.1 s, its build ~2 s."""
  half, cap = spec.pot / 2, spec.pot / 2 + spec.stack
  streets = 6 - len(board)  # streets still to play, this one included
  widest = max(len(spec.sizes(w, s)) for w in ('bet', 'raise') for s in range(streets))
  all_in_slot = 2 + widest
  nodes = []
  count = [0, 0]  # counting: nodes, state entries
  memo = {}
  # A board's deals, computed once (every betting line closing on it deals the same).
  deals_of = functools.cache(lambda cards: _deals(list(cards), group))

  def add(node):
    if rows is not None:
      count[0] += 1
      return -1
    nodes.append(node)
    return len(nodes) - 1

  def close(parent, slot, contrib, runout, history, depth, street):
    """The street closed with equal contributions: showdown, or deal on."""
    if street == streets - 1:
      add(_Node(_SHOWDOWN, parent, slot, depth, history=history, contrib=contrib,
                runout=runout))
      return
    deals = deals_of(tuple(sorted(board + list(runout))))
    me = add(_Node(_CHANCE, parent, slot, depth, history=history, contrib=contrib,
                   runout=runout, deals=deals))
    all_in = contrib[0] >= cap
    for card, rep, _ in deals:
      if card != rep:  # dealt through its representative's subtree
        continue
      h = f'{history}/{cards_lib.card_text(card)}/'
      if all_in:  # nobody can bet any more: deal on to the showdown
        close(me, card, contrib, runout + (card,), h, depth + 1, street + 1)
      else:
        decide(0, contrib, 0, h, me, card, depth + 1, street + 1, runout + (card,))

  def decide(player, contrib, raises, history, parent, slot, depth, street, runout):
    if rows is None:
      return _decide(player, contrib, raises, history, parent, slot, depth, street, runout)
    key = (player, contrib, raises, street, runout if street < streets - 1 else ())
    if key not in memo:
      before = tuple(count)
      _decide(player, contrib, raises, history, parent, slot, depth, street, runout)
      memo[key] = (count[0] - before[0], count[1] - before[1])
      return
    count[0] += memo[key][0]
    count[1] += memo[key][1]

  def _decide(player, contrib, raises, history, parent, slot, depth, street, runout):
    me = add(_Node(_DECISION, parent, slot, depth, player, history or '-', contrib, runout))
    actions = 0
    mine, theirs = contrib[player], contrib[1 - player]
    put = lambda amount: (amount, theirs) if player == 0 else (theirs, amount)
    if theirs > mine:  # facing a bet
      add(_Node(_FOLD, me, FOLD, depth + 1, player, history + 'f', contrib, runout))  # player folds
      close(me, CALL, put(theirs), runout, history + 'c', depth + 1, street)
      sizes = spec.sizes('raise', street) if raises < spec.max_raises else ()
      base = 2 * theirs  # the pot after calling
      actions += 2
    else:
      if player == 1:  # checking behind closes the street
        close(me, CALL, contrib, runout, history + 'k', depth + 1, street)
      else:
        decide(1, contrib, raises, history + 'k', me, CALL, depth + 1, street, runout)
      sizes, base = spec.sizes('bet', street), contrib[0] + contrib[1]
      actions += 1
    if theirs < cap and (theirs == mine or raises < spec.max_raises):
      targets = {}
      for k, f in enumerate(sizes):
        amount = theirs + f * base
        if not amount > theirs:  # a size so small it vanishes in the sum: no bet
          raise ValueError(f'a bet or raise of {f:g} x the pot adds no chips to '
                           f'{theirs:g} (after "{history or "-"}")')
        if amount < cap:
          targets.setdefault(amount, 2 + k)
      targets[cap] = all_in_slot
      actions += len(targets)
      for amount, s in sorted(targets.items()):
        label = 'a' if s == all_in_slot else f'b{amount - theirs:g}'
        decide(1 - player, put(amount), raises + (theirs > mine), history + label, me, s,
               depth + 1, street, runout)
    if rows is not None:
      count[1] += actions * rows[player]

  decide(0, (half, half), 0, '', -1, 0, 0, 0, ())
  return nodes if rows is None else tuple(count)


@struct.dataclass
class Subgame:
  """A compiled subgame: N public nodes (D decisions, C chance, T terminals),
  H hands, A action slots, B buckets per node (H without an abstraction), F
  showdown boards, L levels.

    dec_player: [D] who acts; node_legal: [D, A].
    dec_child, chance_child: [D, A], [C, K] children's indices within the next
      level (its size where absent); chance_card: [C, K] the card (52: none).
      With chance isomorphism, chance_child is the child of the card's
      representative, chance_perm [C, K] which row of hand_perm [P, H] gathers
      its values for the card (hand_perm[p, h]: the hand that p's suit
      permutation maps to h); both None without isomorphism.
    dec_sym: [D, M] rows of hand_perm whose mean symmetrises a decision's
      policy (all 0, the identity: played as it is), or None; static
      sym_ranges: ((first, end), ...) the spans of consecutive decisions that
      play symmetrised (each player's such rows of a level come first).
    chance_count: [C] how many cards a chance node deals to a pair of disjoint hands.
    edge_parent, edge_dec, edge_slot, edge_mover, edge_card: [N] for every node
      its parent's index within the previous level, the parent's decision index
      and the slot taken (0 under chance), the mover (-1: chance) and the card dealt (52: none).
    fold_sign: [T] +1 where player 1 folded, -1 where player 0 did, 0 at showdown.
    stake: [T] what the loser of that terminal put in.
    rake: [T] the rake there as a fraction of its stake (the winner wins
      stake x (1 - rake), a tie costs each stake x rake / 2), or None: no rake.
    term_runout: [T] the terminal's runout (the cards dealt in the subgame).
    runout_alive: [R, H] 1 for hands that runout does not block.
    term_board: [T] the showdown board (0 for folds).
    fold_terms, show_terms: [Tf], [Ts] which terminals are folds and showdowns.
    alive_card: [53, H] 1 for hands without the card (row 52: every hand).
    holds: [H, 52] one-hot of each hand's cards; hand_cards: [H, 2].
    sd_seq: per player p (as the opponent whose reach is swept), [F, S_p] per
      showdown board, p's range's hands by strength, then for each card
      those holding it by strength (the sweep's layout: 3H_p entries), then
      hand 0 up to S_p, a multiple of the prefix sum's block
      (`_showdown_tables`).
    sd_idx: per player p, [F, 6, H] each hand's positions in the prefix sum
      of p's layout (`_board_sweep`); sd_bound: per player p, [F, 53] where
      each card's list starts in it (the last entry: where the last ends).
    sd_group_term, sd_group_board, sd_slot: the showdowns of each band of
      levels (`sweep_bands`) grouped by board, m to a group (see `sd_groups`):
      per slot of each band's [G, m] table the terminal (its index among the
      band's terminals; past them: none), per group its board, and per
      terminal its slot in its band's table (0 for folds).
    prior: [2, H] range weights; norm: [] the weight of all disjoint deals.
    bucket: [D, H] each hand's bucket at each node (-1: blocked) or None.
    legal, infoset_player (properties, computed when asked): [I, A], [I], the infoset view:
      I = sum over decisions of the acting player's B_p (see the module docstring).
  Static: `levels[l] = (start, decisions, chance nodes, terminals)` (global
  node index of the level's first node and the counts), the running
  decision / chance / terminal offsets of each level in `offsets[l]`,
  `splits[l] = (player 0's decisions, folds)`: a level holds player 0's
  decisions, player 1's, chance nodes, folds, then showdowns; and
  `sd_groups[b] = (G, m, group offset, slot offset)` of band b's showdown groups.
  `range_span = ((first, end), (first, end))`: each player's range is the
  hands first:end (hands are ordered player 0's alone, both players', player
  1's alone), the order of their rows at that player's decisions (properties
  `range_hands`, `range_pos`: the same as index arrays).
  `row_sizes = (B_0, B_1)`: rows per decision of each player (the hands in
  their range; num_buckets for both with an abstraction); `dec_runs`: per
  level and player with decisions there, (first decision, end, player, first
  row), in row order: the static row spans (`_row`); `act_runs`: (first
  decision, end, player, legal slots) per run of a `dec_runs` span whose
  decisions have the same legal slots: the compact state's [rows, k] blocks
  (`_cell`, `block`).
  """
  dec_player: jax.Array
  node_legal: jax.Array
  dec_child: jax.Array
  chance_child: jax.Array
  chance_card: jax.Array
  chance_count: jax.Array
  chance_perm: jax.Array | None
  hand_perm: jax.Array | None
  dec_sym: jax.Array | None
  edge_parent: jax.Array
  edge_dec: jax.Array
  edge_slot: jax.Array
  edge_mover: jax.Array
  edge_card: jax.Array
  fold_sign: jax.Array
  stake: jax.Array
  rake: jax.Array | None
  term_runout: jax.Array
  runout_alive: jax.Array
  term_board: jax.Array
  fold_terms: jax.Array
  show_terms: jax.Array
  alive_card: jax.Array
  holds: jax.Array
  hand_cards: jax.Array
  sd_seq: tuple  # of two arrays
  sd_idx: tuple
  sd_bound: tuple
  sd_group_term: jax.Array
  sd_group_board: jax.Array
  sd_slot: jax.Array
  prior: jax.Array
  norm: jax.Array
  bucket: jax.Array | None
  levels: tuple = struct.field(pytree_node=False)
  offsets: tuple = struct.field(pytree_node=False)
  splits: tuple = struct.field(pytree_node=False)
  sd_groups: tuple = struct.field(pytree_node=False)
  sym_ranges: tuple = struct.field(pytree_node=False)
  row_sizes: tuple = struct.field(pytree_node=False)
  range_span: tuple = struct.field(pytree_node=False)
  dec_runs: tuple = struct.field(pytree_node=False)
  act_runs: tuple = struct.field(pytree_node=False)
  num_buckets: int = struct.field(pytree_node=False)
  info: GameInfo = struct.field(pytree_node=False)

  @property
  def num_decisions(self) -> int:
    return self.dec_player.shape[0]

  @property
  def num_hands(self) -> int:
    return self.prior.shape[1]

  @property
  def num_infosets(self) -> int:
    return _row(self, self.num_decisions)

  @property
  def range_hands(self) -> tuple:
    """([B_0], [B_1]) the hands in each player's range, in row order."""
    return tuple(np.arange(lo, hi) for lo, hi in self.range_span)

  @property
  def range_pos(self) -> np.ndarray:
    """[2, H] each hand's position among its player's rows (-1: not in the range)."""
    pos = np.full((2, self.num_hands), -1)
    for p, (lo, hi) in enumerate(self.range_span):
      pos[p, lo:hi] = np.arange(hi - lo)
    return pos

  @property
  def legal(self) -> jax.Array:
    """[I, A] each infoset row's legal actions: its decision's. Computed
    when asked (the solver's passes never need it): on the flop config it
    would hold 0.2 GB, and infoset_player as much again."""
    return self._per_row(self.node_legal)

  @property
  def infoset_player(self) -> jax.Array:
    """[I] the player acting at each infoset row."""
    return self._per_row(self.dec_player)

  def _per_row(self, x: jax.Array) -> jax.Array:
    if not isinstance(x, jax.core.Tracer):
      # Outside jit, in numpy: op by op, each run's slice and repeat below is a
      # program of its own shape to compile (legal and infoset_player of the
      # turn config: 12.7 s on first use; in numpy 0.04 s).
      return to_device(np.repeat(np.asarray(x), np.diff(self.row_start), axis=0))
    pieces = [jnp.repeat(x[lo:hi], self.row_sizes[p], axis=0, total_repeat_length=(hi - lo)
                         * self.row_sizes[p]) for lo, hi, p, _ in self.dec_runs]
    if not pieces:
      return x[:0]
    return jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]

  @property
  def row_start(self) -> np.ndarray:
    """[D + 1] each decision's first infoset row (static, numpy); the last
    entry is the number of real rows (the state may be padded past it)."""
    sizes = np.asarray(self.row_sizes)[np.asarray(self.dec_player)]
    return np.concatenate([[0], np.cumsum(sizes)])

  @property
  def cell_start(self) -> np.ndarray:
    """[D + 1] each decision's first entry of the compact state (`_cell`;
    static, numpy): its rows times its legal actions before it."""
    sizes = (np.asarray(self.row_sizes)[np.asarray(self.dec_player)]
             * np.asarray(self.node_legal).sum(1))
    return np.concatenate([[0], np.cumsum(sizes)])

  @property
  def num_actions(self) -> int:
    return self.node_legal.shape[1]

  @property
  def num_cells(self) -> int:
    """Entries of the solver's compact state: legal actions x rows, summed
    over decisions (`act_runs`; the state may be padded past it)."""
    return _cell(self, self.num_decisions)

  @property
  def name(self) -> str:
    return self.info.name

  def astype(self, dtype) -> 'Subgame':
    """The same game with its float arrays in `dtype` (outside jit cast on
    the host, as `to_device` says why)."""
    def cast(x):
      if x is None or x.dtype == dtype:
        return x
      return x.astype(dtype) if isinstance(x, jax.core.Tracer) else to_device(x, dtype)
    return self.replace(**{k: cast(getattr(self, k)) for k in (
        'chance_count', 'fold_sign', 'stake', 'rake', 'runout_alive', 'alive_card', 'holds',
        'prior', 'norm')})


def _showdown_tables(strength: np.ndarray, hand_cards: np.ndarray, hands: np.ndarray) -> tuple:
  """(seq [S], idx [6, H], bound [53]) for one board and the opponent's range
  `hands` (the `Subgame.sd_seq`, `sd_idx` and `sd_bound` layouts); strength:
  [H] (-1 blocked). Only the opponent's hands are laid out (the others' reach
  is zero): the sweep's gather and prefix sum cover 3 x her range, not 3 x
  both ranges.

  The layout is her hands by strength, then for each card c (from
  bound[c] to bound[c + 1]) those holding it by strength. A hand's positions:
  the start and the end of its tie group among all her hands, then for each
  of its two cards the same within that card's list (`_board_sweep` says
  how they combine)."""
  num_h = len(strength)
  order = hands[np.argsort(strength[hands], kind='stable')]
  ranked = strength[order]
  idx = [np.searchsorted(ranked, strength, 'left'), np.searchsorted(ranked, strength, 'right')]
  seq, bound = [order], [len(order)]
  per_card = []
  for c in range(cards_lib.NUM_CARDS):
    members = order[(hand_cards[order] == c).any(1)]  # by strength
    per_card.append(strength[members])
    seq.append(members)
    bound.append(bound[-1] + len(members))
  for k in (0, 1):
    lo, hi = np.zeros(num_h, np.int64), np.zeros(num_h, np.int64)
    for c, s in enumerate(per_card):
      hs = np.flatnonzero(hand_cards[:, k] == c)  # the hands whose k-th card is c
      lo[hs] = bound[c] + np.searchsorted(s, strength[hs], 'left')
      hi[hs] = bound[c] + np.searchsorted(s, strength[hs], 'right')
    idx += [lo, hi]
  # Extended with hand 0 to a multiple of the prefix sum's block: the sweep's
  # prefix sums past entry 3H_p are never read (idx <= 3H_p), and an unpadded
  # gather is ~20% cheaper than the pad XLA fused into it (bench/RESULTS.md).
  seq.append(np.zeros(-bound[-1] % kernels.PREFIX_BLOCK, np.int64))
  return np.concatenate(seq), np.stack(idx), np.asarray(bound)


def _symmetry(spec: SubgameSpec, board: list[int], weights: np.ndarray) -> tuple:
  """(the suit permutations of the subgame's symmetry, identity first; what
  `Subgame.info.isomorphism` says about it). weights: [2, 1326], zero where
  the board blocks."""
  off = (_IDENTITY,)
  if len(board) == 5:
    return off, 'none: a river subgame deals no card'
  on_board = cards_lib.suit_symmetries(board)
  if len(on_board) == 1:
    return off, 'none: no two suits are interchangeable on this board'
  if not spec.isomorphism:
    return off, 'off (isomorphism=False): every card is dealt'
  group = cards_lib.suit_symmetries(board, weights)
  if len(group) == 1:
    return off, (f'off: {cards_lib.suit_text(on_board)} are interchangeable on the board, '
                 'but the ranges weigh their hands differently; every card is dealt')
  return tuple(group), f'on: {cards_lib.suit_text(group)} are interchangeable'


def _hand_perms(perms: list, live: np.ndarray) -> np.ndarray:
  """[P, H] for each suit permutation p, the hand (index in `live`) that p
  maps to each hand h: the gather taking values below a representative card
  to values below its image. Every image must be live (symmetric ranges)."""
  position = np.full(cards_lib.NUM_HANDS, -1)
  position[live] = np.arange(len(live))
  out = np.stack([position[cards_lib.permute_hands(cards_lib.inverse_suits(p))[live]]
                  for p in perms])
  assert (out >= 0).all(), 'a suit permutation maps a hand in play out of the ranges'
  return out


# Showdown levels swept alone, from the deepest up; the levels above them
# share one sweep (`sweep_bands`).
_OWN_SWEEPS = 3


def sweep_bands(levels: tuple, splits: tuple) -> tuple:
  """((first level, end level), ...) the bands of levels whose showdowns one
  sweep serves: each of the `_OWN_SWEEPS` deepest levels with showdowns
  alone, every level above them together (static).

  A sweep is a loop of the program, per band and half step, and the
  program's size is what holds the flop's memory (bench/RESULTS.md). One
  sweep for every level was smaller still but slower: a level's sweep can
  run on the other core beside the passes' level-by-level work once the
  forward pass has its reaches, and the deepest levels, the backward pass's
  first, are where that overlap is."""
  shows = [l for l, ((_, _, _, nt), (_, nf)) in enumerate(zip(levels, splits)) if nt > nf]
  own = shows[-_OWN_SWEEPS:]
  rest = shows[:-_OWN_SWEEPS] if len(shows) > _OWN_SWEEPS else []
  bands = [(rest[0], rest[-1] + 1)] if rest else []
  return tuple(bands + [(l, l + 1) for l in own])


def showdown_groups(levels: list, offsets: list, splits: list, key, board) -> tuple:
  """Each band's showdowns (`sweep_bands`) grouped by `key` [T] (one sweep
  layout serves a group), m to a group: (group_term, group_board, sd_slot,
  sd_groups) as in `Subgame`; board [T]: each terminal's showdown board (a
  group's, its first's)."""
  group_term, group_board, sd_slot, sd_groups = [], [], np.zeros(len(key), np.int64), []
  for first, end in sweep_bands(tuple(levels), tuple(splits)):
    b0 = offsets[first][2]  # the band's first terminal
    span = sum(nt for _, _, _, nt in levels[first:end])
    by_key = {}
    for l in range(first, end):
      t0, nf, nt = offsets[l][2], splits[l][1], levels[l][3]
      for t in range(t0 + nf, t0 + nt):
        by_key.setdefault(int(key[t]), []).append(t - b0)
    m = max((len(v) for v in by_key.values()), default=0)
    sd_groups.append((len(by_key), m, len(group_board), len(group_term)))
    for g, (_, members) in enumerate(sorted(by_key.items())):
      group_board.append(int(board[b0 + members[0]]))
      group_term += members + [span] * (m - len(members))
      sd_slot[[b0 + k for k in members]] = g * m + np.arange(len(members))
  return group_term, group_board, sd_slot, tuple(sd_groups)


def row_runs(levels: list, offsets: list, splits: list, row_sizes: tuple) -> list:
  """`Subgame.dec_runs`: (first decision, end, player, first row) per level and player."""
  runs, row = [], 0
  for l, (_, nd, _, _) in enumerate(levels):
    d0, n0 = offsets[l][0], splits[l][0]
    for lo, hi, p in ((d0, d0 + n0, 0), (d0 + n0, d0 + nd, 1)):
      if hi > lo:
        runs.append((lo, hi, p, row))
        row += (hi - lo) * row_sizes[p]
  return runs


def action_runs(runs: list, node_legal: np.ndarray) -> tuple:
  """`Subgame.act_runs`: the runs of one player's decisions of a level with
  the same legal slots."""
  node_legal = np.asarray(node_legal, bool)
  if not len(node_legal):
    return ()
  # Each decision's pattern of legal slots, as an id (a flop part: ~6k
  # decisions, a handful of patterns).
  patterns, pattern = np.unique(node_legal, axis=0, return_inverse=True)
  pattern = pattern.reshape(-1)
  slots = [tuple(np.flatnonzero(x).tolist()) for x in patterns]
  act_runs = []
  for lo, hi, p, _ in runs:
    if hi <= lo:
      continue
    starts = [lo, *(np.flatnonzero(pattern[lo + 1:hi] != pattern[lo:hi - 1]) + lo + 1)]
    act_runs += [(int(a), int(b), p, slots[pattern[a]])
                 for a, b in zip(starts, starts[1:] + [hi])]
  return tuple(act_runs)


def spans(flags: np.ndarray) -> tuple:
  """((first, end), ...) the runs of consecutive True entries of flags."""
  padded = np.concatenate([[False], flags, [False]])
  edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
  return tuple((int(lo), int(hi)) for lo, hi in zip(edges[::2], edges[1::2]))


def compile_subgame(spec: SubgameSpec) -> Subgame:
  """Compiles a subgame; hand strengths come from phevaluator (compile time only)."""
  game = _compile(spec)
  # The public tree's Python objects are freed by now; glibc keeps their
  # pages unless told (flop config: 130 of the 665 MB the process then holds).
  heap.release_free_memory()
  return game


# Whether a level's nodes of one group are ordered by the first card dealt on
# their path (state layout 6; False: layout 5, kept to compare against).
_ORDER_BY_DEAL = True


# Host memory a public node takes while the tree is built (Python objects and
# the tables made from them; the flop config: ~0.6 GB for 0.63M nodes).
_BUILD_BYTES = 1024


def _check_size(spec: SubgameSpec, board: list[int], group: tuple, inside: np.ndarray) -> None:
  """Refuses, before building it, a subgame whose state the engine cannot
  index, or whose tree and least solver state (two float32 arrays) would not
  fit in the memory available now: a few more bet sizes or raises multiply a
  flop's tree, and building one too big for the machine would only end when
  the system kills the process. inside: [2, L] which hands in play are in
  each player's range."""
  rows = [int(n) for n in inside.sum(1)]
  if spec.buckets:  # at most one row per hand in play, at most num_buckets
    most = int(spec.buckets.get('num_buckets') or 0) or inside.shape[1]
    rows = [min(inside.shape[1], most)] * 2
  nodes, entries = _public_tree(spec, board, group, rows=tuple(rows))
  advice = 'Use fewer bet or raise sizes, a lower max_raises, or a card abstraction (buckets).'
  if entries > np.iinfo(np.int32).max:  # split parts address their rows in int32
    raise ValueError(f'this subgame has {entries:,} state entries per array, more than '
                     f'the 2**31 - 1 it can index. {advice}')
  need = nodes * _BUILD_BYTES + entries * 8
  available = heap.available_memory()
  if available is not None and need > available:
    size = lambda b: f'{b / 2**30:.1f} GiB' if b >= 2**30 else f'{b / 2**20:.0f} MiB'
    raise ValueError(
        f'this subgame is too big for this machine: {nodes:,} public nodes and '
        f'{entries:,} state entries per array need ~{size(need)} to build and solve, '
        f'{size(available)} is available. {advice}')


def _check_types(spec: SubgameSpec) -> None:
  """TypeError, naming the field, for a spec field of the wrong kind (which
  used to fail deep in the build, or run: max_raises=1.5 allowed 2 raises)."""
  if not isinstance(spec, SubgameSpec):  # (a dict: "'dict' object has no attribute 'board'")
    raise TypeError('compile_subgame takes a SubgameSpec (subgame.SubgameSpec(board=..., pot=..., '
                    f'stack=..., ranges=(...))), got {type(spec).__name__}')
  def number(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
  def seq(x):  # a list, tuple or numpy array, not text
    return (isinstance(x, (collections.abc.Sequence, np.ndarray))
            and not isinstance(x, (str, bytes)))
  def sizes(x):  # numbers, or per-street sequences of numbers
    return seq(x) and (all(number(f) for f in x) or
                       all(seq(t) and all(number(f) for f in t) for t in x))
  problems = [
      ('board', isinstance(spec.board, str), 'a string of cards such as "Td 9d 6h"'),
      ('pot', number(spec.pot), 'a number of chips'),
      ('stack', number(spec.stack), 'a number of chips'),
      ('ranges', isinstance(spec.ranges, (tuple, list)) and
       all(isinstance(r, str) for r in spec.ranges), 'two range strings such as ("QQ+", "AK")'),
      ('bet_sizes', sizes(spec.bet_sizes), 'a tuple of pot fractions such as (0.5, 1.0), '
       'or one per street such as ((0.33,), (0.75,))'),
      ('raise_sizes', sizes(spec.raise_sizes), 'a tuple of pot fractions such as (1.0,)'),
      ('max_raises', number(spec.max_raises) and float(spec.max_raises).is_integer(),
       'a whole number'),
      # (a string was "'str' object has no attribute 'get'")
      ('buckets', spec.buckets is None or isinstance(spec.buckets, collections.abc.Mapping),
       'None or a dict such as {"method": "ehs", "num_buckets": 50}'),
      ('isomorphism', isinstance(spec.isomorphism, (bool, np.bool_)), 'True or False'),
      ('rake_rate', number(spec.rake_rate), 'a fraction of the pot such as 0.05'),
      ('rake_cap', spec.rake_cap is None or number(spec.rake_cap),
       'a number of chips, or None for no cap')]
  for name, ok, expected in problems:
    if not ok:
      raise TypeError(f'SubgameSpec.{name} must be {expected}, got {getattr(spec, name)!r}')


def _check_scale(spec: SubgameSpec, streets: int) -> None:
  """Refuses chip amounts that float32 (the game's tables, the default
  solver dtype) cannot hold apart. The largest payoff is what a player can
  win, pot / 2 + stack; the smallest amount, the smallest first bet or half
  the pot. Beyond 1e20 chips, regrets and sums (payoffs times weights that
  grow with the iterations) overflow; below 1e-20, payoffs times reaches
  (down to ~1e-10) leave float32's normal range; and a bet under a millionth
  of the largest payoff is lost in float32's ~7 significant digits: a stack
  of 1e300 chips solved as NaN, a pot of 1e-300 as a game of all-ins.
  """
  big = spec.pot / 2 + spec.stack
  small = min([spec.pot / 2] + [f * spec.pot for s in range(streets)
                                for f in spec.sizes('bet', s)])
  if not (small >= 1e-20 and big <= 1e20 and small >= 1e-6 * big):
    raise ValueError(
        f'pot {spec.pot:g} and stack {spec.stack:g}: float32 cannot solve chip amounts from '
        f'{small:g} (the smallest bet or half the pot) to {big:g} (pot / 2 + stack); '
        'keep them within 1e-20 to 1e20 chips and the stack under a million times the '
        'smallest bet (rescale the units, e.g. big blinds)')


def _compile(spec: SubgameSpec, _off: str | None = None) -> Subgame:
  """`compile_subgame`; _off: why chance isomorphism was turned off after a
  first try."""
  _check_types(spec)
  try:  # a mistake names the board ("error: bad card 'Tx'" named no field)
    board = cards_lib.parse_cards(spec.board)
  except ValueError as e:
    raise ValueError(f'board {spec.board!r}: {e}') from None
  if len(board) not in STREETS:
    raise ValueError(f'a subgame board has 3, 4 or 5 cards, got {spec.board!r}')
  if not (0 < spec.pot < math.inf and 0 <= spec.stack < math.inf) or len(spec.ranges) != 2:
    raise ValueError('a subgame needs a finite pot > 0, a finite stack >= 0 and two ranges, '
                     f'got pot {spec.pot}, stack {spec.stack} and {len(spec.ranges)} ranges')
  if spec.max_raises < 0:
    raise ValueError(f'max_raises must be >= 0, got {spec.max_raises}')
  if not 0 <= spec.rake_rate < 1 or not (spec.rake_cap is None or 0 <= spec.rake_cap < math.inf):
    raise ValueError(f'rake_rate must be a fraction of the pot in [0, 1) and rake_cap a finite '
                     f'number of chips >= 0 (or None: no cap), got rake_rate {spec.rake_rate} '
                     f'and rake_cap {spec.rake_cap}')
  if spec.rake_rate > 0 and spec.rake_cap == 0:  # the launcher's 0 is no cap: an unraked game
    raise ValueError(f'rake_rate {spec.rake_rate} with rake_cap 0 takes no rake at all: for no '
                     'cap, give rake_cap=None (the launcher\'s --config.holdem.rake_cap=0 means '
                     'no cap)')
  if spec.buckets:  # before the size check reads num_buckets, and the tree is built
    _bucket_settings(spec.buckets)
  streets = 6 - len(board)
  for which in ('bet', 'raise'):
    sizes = tuple(getattr(spec, f'{which}_sizes'))
    if sizes and all(isinstance(x, (tuple, list)) for x in sizes) and len(sizes) > streets:
      # Per-street lists run from the board's street on: a river subgame
      # given "flop;turn;river" sizes would silently play the flop's.
      raise ValueError(f'{which} sizes: {len(sizes)} per-street lists for a '
                       f'{STREETS[len(board)]} subgame, which plays {streets} '
                       f'street{"s" * (streets > 1)} (lists run from its street on)')
    if any(not 0 < f < math.inf for s in range(streets) for f in spec.sizes(which, s)):
      raise ValueError(f'{which} sizes must be positive, finite fractions of the pot, got '
                       f'{getattr(spec, f"{which}_sizes")}')
  _check_scale(spec, streets)
  weights = []
  for player, text in enumerate(spec.ranges):  # a mistake names its range: which was it?
    try:
      weights.append(cards_lib.parse_range(text))
    except ValueError as e:
      raise ValueError(f"player {player}'s range {text!r}: {e}") from None
  weights = np.stack(weights)
  blocked = cards_lib.blocked_by(board)
  for player, text in enumerate(spec.ranges):
    if weights[player, ~blocked].sum() == 0:
      why = (f"is empty once the board's cards ({spec.board}) are removed"
             if weights[player].any() else 'gives every hand weight 0')
      raise ValueError(f"player {player}'s range {text!r} {why}")
  live = np.flatnonzero(~blocked & (weights > 0).any(0))
  # The hands in play ordered player 0's alone, both players', player 1's
  # alone: each range is then one contiguous span of them (`range_span`), so
  # that moving between a player's rows and the hands is a slice and a pad.
  # As gathers, those moves took a fifth of a turn iteration's kernel time.
  inside = weights[:, live] > 0
  live = live[np.argsort(1 - inside[0] + inside[1], kind='stable')]
  prior = weights[:, live]
  hand_cards = cards_lib.HANDS[live]
  num_h = len(live)
  holds = np.zeros((num_h, cards_lib.NUM_CARDS))
  holds[np.arange(num_h)[:, None], hand_cards] = 1
  compat = ~cards_lib.hands_conflict()[np.ix_(live, live)]
  norm = prior[0] @ compat @ prior[1]
  if norm <= 0:
    raise ValueError('the two ranges block each other completely')

  group, iso_note = _symmetry(spec, board, weights * ~blocked)
  if _off is not None:
    group, iso_note = (_IDENTITY,), _off
  _check_size(spec, board, group, inside)
  nodes = _public_tree(spec, board, group)
  # With isomorphism, the decisions above an isomorphic deal (their street
  # deals a card below, and their board keeps some of the group) play
  # symmetrised policies (`_level_policy`): each player's such rows of a
  # level come first, one contiguous span.
  stabiliser = functools.cache(lambda runout: tuple(
      p for p in group if set(cards_lib.permute_suits(board + list(runout), p).tolist())
      == set(board + list(runout))))
  symmetrised_at = [n.kind == _DECISION and len(group) > 1 and not spec.buckets
                    and len(n.runout) < streets - 1 and len(stabiliser(n.runout)) > 1
                    for n in nodes]
  # Each decision's legal action slots: its children's.
  pattern = [[] for _ in nodes]
  for n in nodes:
    if n.parent >= 0 and nodes[n.parent].kind == _DECISION:
      pattern[n.parent].append(n.slot)
  pattern = [tuple(sorted(x)) for x in pattern]
  # Level order: by depth, then player 0's decisions, player 1's, chance
  # nodes, folds, showdowns (each player's rows of a level are contiguous, so
  # an alternating half step updates them as one static slice); within a
  # player's decisions, by legal actions, so that the state stores each run
  # of same-action decisions as one dense [rows, k] block (`act_runs`); and
  # within those, by the first card dealt on their path (before the first
  # deal: last), so that the nodes below one card are one run of each group:
  # a split's part (`cfr_jax.holdem.split`, one card's subtree) then reads
  # and writes each of its blocks as one slice of the state, not one piece
  # per line of the upper part reaching that card.
  first = lambda n: (nodes[n].runout[0] if nodes[n].runout and _ORDER_BY_DEAL
                     else cards_lib.NUM_CARDS)
  order = sorted(range(len(nodes)), key=lambda n: (
      nodes[n].depth, nodes[n].kind, nodes[n].player if nodes[n].kind == _DECISION else 0,
      not symmetrised_at[n], pattern[n], first(n), n))
  symmetrised_at = [symmetrised_at[n] for n in order]
  index = {n: i for i, n in enumerate(order)}
  parents = [index.get(nodes[n].parent, -1) for n in order]
  nodes = [nodes[n] for n in order]
  for n, parent in zip(nodes, parents):  # the tree's own nodes, renumbered in place
    n.parent = parent
  depth = np.array([n.depth for n in nodes])
  kind = np.array([n.kind for n in nodes])
  starts = np.searchsorted(depth, np.arange(depth.max() + 2))
  local = np.arange(len(nodes)) - starts[depth]
  kind_id = np.zeros(len(nodes), np.int64)  # index among the nodes of its kind
  for k in (_DECISION, _CHANCE):
    kind_id[kind == k] = np.arange((kind == k).sum())
  terminal = kind >= _FOLD
  kind_id[terminal] = np.arange(terminal.sum())
  player = np.array([n.player for n in nodes])
  levels, offsets, splits = [], [], []
  for l in range(len(starts) - 1):
    lv = kind[starts[l]:starts[l + 1]]
    levels.append((int(starts[l]), int((lv == _DECISION).sum()), int((lv == _CHANCE).sum()),
                   int((lv >= _FOLD).sum())))
    splits.append((int(((lv == _DECISION) & (player[starts[l]:starts[l + 1]] == 0)).sum()),
                   int((lv == _FOLD).sum())))
    offsets.append(tuple(int(((kind[:starts[l]] == k) if k < 2 else
                              (kind[:starts[l]] >= _FOLD)).sum()) for k in range(3)))

  decisions = [i for i, n in enumerate(nodes) if n.kind == _DECISION]
  chances = [i for i, n in enumerate(nodes) if n.kind == _CHANCE]
  terminals = [i for i, n in enumerate(nodes) if n.kind >= _FOLD]
  num_a = 3 + max(len(spec.sizes(w, s)) for w in ('bet', 'raise') for s in range(streets))
  num_k = cards_lib.NUM_CARDS - len(board)
  dec_child = np.full((len(decisions), num_a), -1, np.int64)
  chance_child = np.full((max(len(chances), 1), num_k), -1, np.int64)
  chance_card = np.full((max(len(chances), 1), num_k), cards_lib.NUM_CARDS, np.int32)
  chance_perm = np.zeros((max(len(chances), 1), num_k), np.int32)
  perm_id = {_IDENTITY: 0}  # suit permutation -> its row of hand_perm
  edge = np.zeros((5, len(nodes)), np.int64)  # parent local, dec, slot, mover, card
  edge[4] = cards_lib.NUM_CARDS
  # Every node but the root, by its parent's kind (arrays: 0.6M nodes on the flop).
  parent = np.array([n.parent for n in nodes[1:]])
  slot = np.array([n.slot for n in nodes[1:]])
  child = np.arange(1, len(nodes))
  edge[0, 1:] = local[parent]
  below = kind[parent] == _DECISION  # else below a chance node: slot is the card
  d, c = child[below], child[~below]
  dec_child[kind_id[parent[below]], slot[below]] = local[d]
  edge[1:4, d] = kind_id[parent[below]], slot[below], player[parent[below]]
  child_of = np.full((max(len(chances), 1), cards_lib.NUM_CARDS), -1, np.int64)
  child_of[kind_id[parent[~below]], slot[~below]] = local[c]  # (chance node, card) -> child
  edge[3, c], edge[4, c] = -1, slot[~below]
  # Every card a chance node deals has a column: its representative's child,
  # gathered through the permutation taking the representative to the card.
  for c, i in enumerate(chances):
    for k, (card, rep, perm) in enumerate(nodes[i].deals):
      chance_child[c, k], chance_card[c, k] = child_of[c, rep], card
      chance_perm[c, k] = perm_id.setdefault(perm, len(perm_id))
  isomorphic = len(perm_id) > 1
  # The gather at a chance node assumes the reaches arriving there are
  # symmetric under its board's group: the policies of every decision above it
  # (on its street and before) are played symmetrised (`_level_policy`). CFR's
  # iterates are symmetric in exact arithmetic; in floating point, regret
  # matching's jump at a regret of zero can split a hand from its image, and
  # the tree would then no longer be the game it stands for. Each node lists
  # its group's hand permutations, repeated to |group| entries (a subgroup's
  # order divides it), so that their plain mean is the group's.
  dec_sym, sym_levels = None, ()
  if isomorphic and not spec.buckets:  # buckets are checked symmetric instead
    for p in group:
      perm_id.setdefault(p, len(perm_id))
    dec_sym = np.zeros((len(decisions), len(group)), np.int32)  # identity: not symmetrised
    for row, i in enumerate(decisions):
      if symmetrised_at[i]:
        stab = stabiliser(nodes[i].runout)
        dec_sym[row] = [perm_id[p] for p in stab * (len(group) // len(stab))]
    # The spans of consecutive symmetrised decisions (one per player and level).
    sym_levels = spans((dec_sym != 0).any(1))
  if isomorphic:
    dealt = sum(len(nodes[i].deals) for i in chances)
    kept = sum(card == rep for i in chances for card, rep, _ in nodes[i].deals)
    iso_note += f': {kept} of {dealt} cards dealt at chance nodes are representatives'
  # Absent children point one past the next level's last node (a zero row).
  sizes = np.diff(starts)
  for table, ids in ((dec_child, decisions), (chance_child, chances)):
    if ids:
      rows = table[:len(ids)]
      rows[rows < 0] = np.broadcast_to(sizes[depth[ids] + 1][:, None], rows.shape)[rows < 0]

  def alive(cards):
    return 1.0 - holds[:, list(cards)].sum(1).clip(0, 1) if cards else np.ones(num_h)

  alive_card = np.concatenate([1.0 - holds.T, np.ones((1, num_h))])
  runouts = {}  # each terminal's dealt cards -> index
  for i in terminals:
    runouts.setdefault(nodes[i].runout, len(runouts))
  boards = {}  # showdown board (sorted cards) -> index
  term_board, tables = [], []
  ranges = [np.flatnonzero(prior[p] > 0) for p in (0, 1)]  # each sweep's opponent
  for i in terminals:
    n = nodes[i]
    if n.kind == _SHOWDOWN:
      key = tuple(sorted(board + list(n.runout)))
      if key not in boards:
        boards[key] = len(boards)
        strength = cards_lib.hand_strength(list(key), live)
        strength[alive(n.runout) == 0] = -1
        tables.append([_showdown_tables(strength, hand_cards, h) for h in ranges])
      term_board.append(boards[key])
    else:
      term_board.append(0)
  # Each band's showdowns grouped by board: one sweep layout serves a group.
  group_term, group_board, sd_slot, sd_groups = showdown_groups(
      levels, offsets, splits, term_board, term_board)
  if not tables:  # only folds (a subgame where nobody can call): one inert table
    tables.append([_showdown_tables(np.zeros(num_h, np.int64), hand_cards, h) for h in ranges])
  stake = [n.contrib[0] if n.kind == _FOLD and n.player == 0 else n.contrib[1]
           for n in (nodes[i] for i in terminals)]
  rake = None
  if spec.rake_rate:  # of the pot both matched: twice the loser's stake
    cap = math.inf if spec.rake_cap is None else spec.rake_cap
    rake = [min(spec.rake_rate * 2 * x, cap) / x for x in stake]
  # A fold node records the folder as `player` (see _public_tree).
  fold_sign = [0 if nodes[i].kind == _SHOWDOWN else (1 if nodes[i].player == 1 else -1)
               for i in terminals]

  dec_player = np.array([nodes[i].player for i in decisions], np.int32)
  node_legal = dec_child < sizes[[nodes[i].depth + 1 for i in decisions]][:, None]
  hands = [cards_lib.hand_text(h) for h in live]
  bucket, num_b, bucket_spec = None, num_h, None
  names = hands
  if spec.buckets:
    bucket, num_b, bucket_spec = _bucket_nodes(spec.buckets, board, live,
                                               [nodes[i].runout for i in decisions])
    names = [f'b{b}' for b in range(num_b)]
    if isomorphic and not _symmetric_buckets(bucket, board, live, group,
                                             [nodes[i].runout for i in decisions]):
      return _compile(spec, _off=(
          'off: the card abstraction puts suit-isomorphic hands in different buckets; '
          'every card is dealt'))
  # Rows: at a decision of player p, one per hand of p's range (a hand outside
  # it has zero reach there: its row would never be read), or one per bucket.
  range_hands = [np.flatnonzero(prior[p] > 0) for p in (0, 1)]
  range_span = tuple((int(h[0]), int(h[-1]) + 1) for h in range_hands)
  assert all(len(h) == hi - lo for h, (lo, hi) in zip(range_hands, range_span))
  row_sizes = ((num_b, num_b) if spec.buckets
               else tuple(len(range_hands[p]) for p in (0, 1)))
  runs = row_runs(levels, offsets, splits, row_sizes)
  per_decision = np.asarray(row_sizes)[dec_player]
  row_start = np.concatenate([[0], np.cumsum(per_decision)])
  assert all(row_start[lo] == r for lo, _, _, r in runs)
  act_runs = action_runs(runs, node_legal)
  members = ([np.arange(num_b)] * 2 if spec.buckets else range_hands)
  labels = ['fold', 'check/call'] + [f'size{k}' for k in range(num_a - 3)] + ['all-in']
  spec_dict = {'game': 'holdem', **dataclasses.asdict(spec)}
  # The fingerprint records the suits dealt as one (the state's rows are other
  # nodes) only when isomorphism is on, so runs without it keep the
  # fingerprints they always had, whatever the option says.
  del spec_dict['isomorphism']
  for k in ('rake_rate', 'rake_cap'):  # likewise: rake-free runs keep their fingerprints
    value = getattr(spec, k)
    if spec.rake_rate:
      spec_dict[k] = None if value is None else float(value)
    else:
      del spec_dict[k]
  if isomorphic:
    spec_dict['isomorphism'] = cards_lib.suit_text(group)
  if bucket_spec is not None:
    spec_dict['buckets'] = bucket_spec  # the table's content hash and settings
  info = GameInfo(name=f'{STREETS[len(board)]}({spec.board})', spec=spec_dict,
                  infoset_keys=[], action_labels=range(num_a), openspiel_name=None)
  lines = lines_lib.Strings(nodes[i].history for i in decisions)
  info.infoset_keys = _Keys(lines, names, row_start, dec_player, members)
  info.infoset_index = _Index(info.infoset_keys)
  info.action_names = labels
  info.isomorphism = iso_note
  info.suit_group = group  # the subgame's symmetry (node_report maps lines with it)
  info.hands = hands
  info.terminal_histories = lines_lib.Strings(nodes[i].history for i in terminals)
  info.decision_histories = lines
  raw = lambda n: '' if n.history == '-' else n.history
  moves = [(kind_id[n.parent], n.slot, n.history[len(raw(nodes[n.parent])):])
           for n in nodes[1:] if nodes[n.parent].kind == _DECISION]
  # per decision: slot -> 'k', 'b5', 'a', ...
  info.action_tokens = lines_lib.Tokens(len(decisions), *(zip(*moves) if moves else ((), (), ())))
  f32 = lambda x: to_device(x, np.float32)
  i32 = lambda x: to_device(x, np.int32)
  game = Subgame(
      dec_player=i32(dec_player), node_legal=to_device(node_legal),
      dec_child=i32(dec_child), chance_child=i32(chance_child), chance_card=i32(chance_card),
      chance_count=f32([num_k - len(nodes[i].runout) - 4 for i in chances] or [1]),
      chance_perm=i32(chance_perm) if isomorphic else None,
      hand_perm=i32(_hand_perms(list(perm_id), live)) if isomorphic else None,
      dec_sym=None if dec_sym is None else i32(dec_sym), sym_ranges=sym_levels,
      edge_parent=i32(edge[0]), edge_dec=i32(edge[1]), edge_slot=i32(edge[2]),
      edge_mover=i32(edge[3]), edge_card=i32(edge[4]),
      fold_sign=f32(fold_sign), stake=f32(stake), rake=None if rake is None else f32(rake),
      term_runout=i32([runouts[nodes[i].runout] for i in terminals]),
      runout_alive=f32([alive(r) for r in runouts]), term_board=i32(term_board),
      fold_terms=i32([t for t, i in enumerate(terminals) if nodes[i].kind == _FOLD]),
      show_terms=i32([t for t, i in enumerate(terminals) if nodes[i].kind == _SHOWDOWN]),
      alive_card=f32(alive_card), holds=f32(holds), hand_cards=i32(hand_cards),
      sd_seq=tuple(i32([t[p][0] for t in tables]) for p in (0, 1)),
      sd_idx=tuple(i32([t[p][1] for t in tables]) for p in (0, 1)),
      sd_bound=tuple(i32([t[p][2] for t in tables]) for p in (0, 1)),
      sd_group_term=i32(group_term or [0]), sd_group_board=i32(group_board or [0]),
      sd_slot=i32(sd_slot),
      prior=f32(prior), norm=f32(norm),
      bucket=None if bucket is None else i32(bucket),
      range_span=range_span, levels=tuple(levels), offsets=tuple(offsets), splits=tuple(splits),
      sd_groups=sd_groups, row_sizes=row_sizes, dec_runs=tuple(runs), act_runs=act_runs,
      num_buckets=num_b, info=info)
  return game


def _symmetric_buckets(bucket: np.ndarray, board: list[int], live: np.ndarray,
                       group: tuple, runouts: list) -> bool:
  """Whether every decision node's buckets [D, H] are invariant under the
  permutations of `group` that fix its board (what isomorphism assumes)."""
  perms = dict(zip(group, _hand_perms(list(group), live)))
  for runout in set(runouts):
    rows = bucket[[k for k, r in enumerate(runouts) if r == runout]]
    dealt = board + list(runout)
    for p in group:
      if set(cards_lib.permute_suits(dealt, p).tolist()) == set(dealt):
        if not np.array_equal(rows[:, perms[p]], rows):
          return False
  return True


class _Keys(collections.abc.Sequence):
  """Infoset keys 'line|hand' (or 'line|b<bucket>') made on demand: a flop
  subgame has ~1e8 of them, too many to hold as Python strings.

  Row i is decision d = the last with row_start[d] <= i, and its
  (i - row_start[d])-th member of the acting player (members[p]: indices
  into names: the hands of p's range, or every bucket)."""

  def __init__(self, lines: list, names: list, row_start: np.ndarray, player: np.ndarray,
               members: list):
    self.lines, self.names = lines, names
    self.row_start, self.player = np.asarray(row_start), np.asarray(player)
    self.members = [np.asarray(m) for m in members]

  def __len__(self):
    return int(self.row_start[-1])

  def widest(self) -> int:
    """The longest key's length in UTF-8 bytes (0: no keys), without making
    the keys: a decision's rows hold its player's first members."""
    size = np.array([len(n.encode()) for n in self.names] or [0])
    # Per player, the widest name among its first j + 1 members.
    prefix = [np.maximum.accumulate(size[m]) if len(m) else size[:0] for m in self.members]
    rows = np.diff(self.row_start)
    return max((len(self.lines[d].encode()) + 1 + int(prefix[self.player[d]][rows[d] - 1])
                for d in np.flatnonzero(rows)), default=0)

  def same_as(self, other) -> bool:
    """Whether `other` holds the same keys in the same rows, compared by their
    parts (a flop's 5e7 keys are never made)."""
    return (isinstance(other, _Keys) and self.names == other.names
            and np.array_equal(self.row_start, other.row_start)
            and np.array_equal(self.player, other.player)
            and len(self.members) == len(other.members)
            and all(np.array_equal(a, b) for a, b in zip(self.members, other.members))
            and (self.lines.same_as(other.lines) if hasattr(self.lines, 'same_as')
                 else list(self.lines) == list(other.lines)))

  def decision(self, i: int) -> int:
    """The decision node of row i (0 <= i < len(self))."""
    return int(np.searchsorted(self.row_start, i, 'right')) - 1

  def __getitem__(self, i):
    if isinstance(i, slice):
      return [self[j] for j in range(*i.indices(len(self)))]
    if not -len(self) <= i < len(self):
      raise IndexError(i)
    i = i % len(self)
    d = self.decision(i)
    b = self.members[self.player[d]][i - self.row_start[d]]
    return f'{self.lines[d]}|{self.names[b]}'


class _Index(collections.abc.Mapping):
  """Key -> infoset row, the inverse of _Keys, without a dict of every key."""

  def __init__(self, keys: _Keys):
    self.keys_ = keys
    self.name = {n: i for i, n in enumerate(keys.names)}
    self.pos = []  # per player: name index -> position among its members (-1: none)
    for m in keys.members:
      pos = np.full(len(keys.names), -1, np.int64)
      pos[m] = np.arange(len(m))
      self.pos.append(pos)

  @functools.cached_property
  def line(self) -> dict:
    """Line -> decision node; built on the first lookup (flop config: a
    dict of ~1.5e5 strings, which training never reads)."""
    return {l: i for i, l in enumerate(self.keys_.lines)}

  def __getitem__(self, key):
    line, _, name = str(key).rpartition('|')
    try:
      d = self.line[line]
      k = self.pos[self.keys_.player[d]][self.name[name]]
    except KeyError:
      raise KeyError(key) from None
    if k < 0:  # a hand outside the acting player's range has no row
      raise KeyError(key)
    return int(self.keys_.row_start[d] + k)

  def __iter__(self):
    return iter(self.keys_)

  def __len__(self):
    return len(self.keys_)


def _bucket_settings(settings: dict):
  """`abstraction.BucketSettings` from SubgameSpec.buckets, or a ValueError
  naming them."""
  from cfr_jax import abstraction  # pylint: disable=g-import-not-at-top
  known = [f.name for f in dataclasses.fields(abstraction.BucketSettings)]
  unknown = [k for k in dict(settings) if k not in known]
  if unknown:  # was: "BucketSettings.__init__() got an unexpected keyword argument"
    raise ValueError(f'bad bucket settings {dict(settings)!r}: unknown setting '
                     f'{unknown[0]!r}; known: {", ".join(known)}')
  try:
    return abstraction.BucketSettings(**dict(settings))
  except (TypeError, ValueError) as e:
    raise ValueError(f'bad bucket settings {dict(settings)!r}: {e}') from None


def _bucket_nodes(settings: dict, board: list[int], live: np.ndarray, runouts: list):
  """([D, H] bucket of each hand at each decision node, B, the table's fingerprint)."""
  from cfr_jax import abstraction  # pylint: disable=g-import-not-at-top
  settings = _bucket_settings(settings)
  distinct = sorted(set(runouts), key=lambda r: (len(r), r))
  table = abstraction.build_table([tuple(board) + r for r in distinct], settings)
  # Renumber each board's buckets densely over the hands in play (order kept),
  # so that B counts the buckets the ranges use, not those of all 1,326 hands.
  dense = np.full((len(distinct), len(live)), -1, np.int32)
  for i, ids in enumerate(table.buckets[:, live]):
    used = ids >= 0
    dense[i, used] = np.unique(ids[used], return_inverse=True)[1]
  row = {r: i for i, r in enumerate(distinct)}
  return dense[[row[r] for r in runouts]], int(dense.max()) + 1, table.fingerprint()


# ----------------------------------------------------------------------------
# Passes, vectorised over hands and batched per tree level.


def _row(game: Subgame, d: int) -> int:
  """The first infoset row of decision d (static; d = D: the real rows' end)."""
  for lo, hi, p, row in game.dec_runs:
    if lo <= d <= hi:
      return row + (d - lo) * game.row_sizes[p]
  raise ValueError(f'no decision {d}')


def _cell(game: Subgame, d: int) -> int:
  """The first entry of decision d in the compact state (static; d = D: the
  real entries' end): the rows of earlier decisions times their legal actions."""
  cell = 0
  for lo, hi, p, slots in game.act_runs:
    if d <= hi:
      return cell + (max(d, lo) - lo) * game.row_sizes[p] * len(slots)
    cell += (hi - lo) * game.row_sizes[p] * len(slots)
  if d == game.num_decisions or not game.act_runs:
    return cell
  raise ValueError(f'no decision {d}')


def widen(x: jax.Array, slots: tuple, num_actions: int) -> jax.Array:
  """[..., A] from x [..., k], its columns put at `slots` (static), zeros elsewhere."""
  if len(slots) == num_actions:
    return x
  zero = jnp.zeros(x.shape[:-1] + (1,), x.dtype)
  columns = dict(zip(slots, range(len(slots))))
  return jnp.concatenate([x[..., columns[a], None] if a in columns else zero
                          for a in range(num_actions)], axis=-1)


def expand(game: Subgame, flat: jax.Array, per_block=None) -> jax.Array:
  """[I, A] the infoset table (zeros at illegal actions) of a compact state
  array flat [cells] (entries past `num_cells`, padding over a mesh, are ignored).

  per_block: applied to each [rows, k] block (its legal actions) before it is
  widened, e.g. a row normalisation. Each block is written into the table's
  rows in place, so no pieces exist beside the output (the flop's table is 0.8 GB).
  """
  table = jnp.zeros((game.num_infosets, game.num_actions), flat.dtype)
  for lo, hi, _, slots in game.act_runs:
    r0, r1, c0, c1, _ = block(game, lo, hi)
    rows = flat[c0:c1].reshape(-1, len(slots))
    if per_block is not None:
      rows = per_block(rows)
    table = table.at[r0:r1].set(widen(rows, slots, game.num_actions))
  return table


def compress(game: Subgame, table: jax.Array) -> jax.Array:
  """[cells] the compact state array of an infoset table [I, A] (the inverse of
  `expand` on its legal entries)."""
  pieces = [table[_row(game, lo):_row(game, hi)][:, list(slots)].reshape(-1)
            for lo, hi, _, slots in game.act_runs]
  if not pieces:
    return jnp.zeros((0,), table.dtype)
  return jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def hand_policy(game: Subgame, sigma: jax.Array) -> jax.Array:
  """[D, H, A] each hand's policy from sigma [I, A] (its row's, or its
  bucket's); rows past the real ones (padding for an even split over a
  mesh) are ignored."""
  num_d = game.num_decisions
  return _level_policy(game, sigma[:_row(game, num_d)], 0, num_d)


def _to_rows(game: Subgame, x: jax.Array, d0: int) -> jax.Array:
  """[rows, ...] the infoset rows of decisions d0:d0 + n from x [n, H, ...]
  (unbucketed): at each decision, the acting player's hands' entries."""
  pieces = []
  for lo, hi, p, _ in game.dec_runs:
    lo, hi = max(lo, d0), min(hi, d0 + x.shape[0])
    if lo < hi:
      first, end = game.range_span[p]
      part = x[lo - d0:hi - d0, first:end]
      pieces.append(part.reshape(-1, *x.shape[2:]))
  return jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def symmetrised(game: Subgame, sigma: jax.Array) -> jax.Array:
  """sigma [I, A] with each row as the passes play it: under chance
  isomorphism, decisions above an isomorphic deal play the mean of their
  hands' images (`_level_policy`); unchanged otherwise. For reading a policy
  (`Solver.average_policy`), so that exported rows are the ones played."""
  if game.dec_sym is None:
    return sigma
  # Only the spans of such decisions change (on the flop config, the flop
  # betting's): their hands' policies [n, H, A] are built and written back in
  # place, not the whole tree's (a [D, H, A] temporary, 1 GB there).
  for lo, hi in game.sym_ranges:
    r0, r1 = _row(game, lo), _row(game, hi)
    played = _to_rows(game, _level_policy(game, sigma[r0:r1], lo, hi - lo), lo)
    sigma = sigma.at[r0:r1].set(played)
  return sigma


def to_buckets(game: Subgame, x: jax.Array, bucket: jax.Array | None = None) -> jax.Array:
  """[D, B, ...] sums over each bucket's hands of x [D, H, ...]; `bucket`
  [D, H] (default: the game's) for a slice of the decision nodes."""
  bucket = game.bucket if bucket is None else bucket
  if bucket is None:
    return x
  (num_d, num_h), num_b = bucket.shape, game.num_buckets
  segment = jnp.where(bucket >= 0, bucket + num_b * jnp.arange(num_d)[:, None],
                      num_d * num_b)  # blocked hands go to a dropped segment
  out = jax.ops.segment_sum(x.reshape(num_d * num_h, *x.shape[2:]),
                            segment.reshape(-1), num_segments=num_d * num_b + 1)
  return out[:-1].reshape(num_d, num_b, *x.shape[2:])


def level_policies(game: Subgame, sigma: jax.Array) -> list:
  """Per level, [nd, H, A]: `hand_policy` level by level, the form the
  whole-tree passes take (the same values; a flop's [D, H, A] whole is 1 GB,
  and slicing levels back out of it copied it again)."""
  return [_level_policy(game, sigma[_row(game, d0):_row(game, d0 + nd)], d0, nd) if nd else
          jnp.zeros((0, game.num_hands, sigma.shape[-1]), sigma.dtype)
          for (_, nd, _, _), (d0, _, _) in zip(game.levels, game.offsets)]


def reaches(game: Subgame, policy: list, players: tuple = (0, 1),
            depth: int | None = None) -> list:
  """Per level, [len(players), nodes, H]: each player's prior times their own
  action probabilities, with the hands that dealt cards block removed.
  policy: `level_policies`; depth: the last level computed (default: all)."""
  dtype = policy[0].dtype
  rows = [game.prior[list(players), None, :].astype(dtype)]
  for l, (start, nd, nc, nt) in enumerate(game.levels[1:None if depth is None else depth + 1], 1):
    edges = slice(start, start + nd + nc + nt)
    pd0, pnd = game.offsets[l - 1][0], game.levels[l - 1][1]
    # Parents are the previous level's decisions (the rest are chance nodes,
    # whose edges `_grow` does not weight: any index in range serves them).
    taken = (_taken(game, policy[l - 1], edges, pd0, pnd) if pnd else
             jnp.ones((nd + nc + nt, game.num_hands), dtype))  # [n, H]
    rows.append(jnp.stack([_grow(game, rows[-1][i], taken, edges, p)
                           for i, p in enumerate(players)]))
  return rows


def _taken(game: Subgame, policy: jax.Array, edges: slice, pd0: int, pnd: int) -> jax.Array:
  """[n, H] the probability of each edge's action at its parent, one of the
  pnd decisions from pd0 whose policy [pnd, H, A] is given. Edges below
  chance nodes read any entry (`_grow` does not weight them)."""
  local = jnp.clip(game.edge_dec[edges] - pd0, 0, max(pnd - 1, 0)).astype(jnp.uint32)
  return policy.at[local, :, game.edge_slot[edges].astype(jnp.uint32)].get(
      mode='promise_in_bounds')  # unsigned, in range: as `_rows`


def _grow(game: Subgame, parent: jax.Array, taken: jax.Array, edges: slice, p: int):
  """[n, H] player p's reach at the nodes of `edges`: their parents' reach
  (parent: [nodes of the previous level, H]) times p's probability of the
  action taken there (taken: [n, H]), with the hands a dealt card blocks removed."""
  factor = jnp.where(game.edge_mover[edges][:, None] == p, taken, 1)
  return _rows(parent, game.edge_parent[edges]) * factor * _alive(game, game.edge_card[edges])


def _alive(game: Subgame, cards: jax.Array, span: tuple | None = None) -> jax.Array:
  """cards.shape + [H]: 1 for the hands that do not hold the card (card 52,
  no card: every hand), 0 for the others: `game.alive_card[cards]`, computed
  elementwise. A gather of the table is an array XLA materialises (and, on
  the flop config, kept alive for a whole iteration: ~1 GB of temporaries);
  two comparisons fuse into whatever multiplies by it. span: the hands
  first:end alone (see `fused_backward`)."""
  card = cards[..., None]
  hand = game.hand_cards[_cols(span)]
  return ((hand[:, 0] != card) & (hand[:, 1] != card)).astype(game.alive_card.dtype)


def _cols(span: tuple | None) -> slice:
  """The hands of `span` (first, end), or every hand (None)."""
  return slice(None) if span is None else slice(*span)


# Showdowns per batch of the sweep: bounds its temporaries (about 12 x this
# many elements) on flop subgames with ~1e6 showdowns.
_SWEEP_ELEMENTS = 1 << 22


def _board_sweep(game: Subgame, rows: jax.Array, b: jax.Array, opp: int,
                 span: tuple | None = None) -> jax.Array:
  """[m, H'] the sweep of player opp's reaches rows [m, H] at showdowns on
  board b, for the hands of `span` (default: every hand)."""
  # value(h) = what h beats - what beats h, over the opponent's hands that
  # share no card with h; with P the prefix sum of her layout
  # (`_showdown_tables`), [ts, te) h's tie group, [lo_k, hi_k) the same in
  # the list of h's k-th card c_k, and b = bound (P[b_0]: all her reach):
  #   (P[ts] - P[b_0] + P[te]) + sum_k ((P[b_ck] + P[b_ck+1]) - (P[lo_k] + P[hi_k]))
  # (the hands holding c_k are not dealt against h; h itself is in its own
  # tie group, neither weaker nor stronger). P[b_c] + P[b_c+1] is the same
  # for every hand holding c: a [52] table per row (P[b_0] after it), which
  # XLA computes once (it does not fuse into a gather's operand). Per hand
  # that is six gathers over the layout and two from the table, where the
  # eleven terms were eleven gathers over the layout: the kernel 26% faster,
  # turn iterations 3.6%, flop 2.8% (bench/RESULTS.md). Each card's bracket
  # is a difference of nearby sums: float32 errors ~1.4x those of the eleven
  # terms summed in turn (random reaches, against float64).
  # Unsigned positions (all >= 0): JAX wraps signed indices (where i < 0:
  # i + n), which XLA computed per gathered element in these, the sweep's
  # two hottest kernels; without it turn iterations ~10% faster, bit for bit.
  seq = game.sd_seq[opp][b].astype(jnp.uint32)
  idx = game.sd_idx[opp][b][:, _cols(span)].astype(jnp.uint32)
  bound = game.sd_bound[opp][b].astype(jnp.uint32)
  held = game.hand_cards[_cols(span)].astype(jnp.uint32)
  zero = jnp.zeros((rows.shape[0], 1), rows.dtype)
  prefix = jnp.concatenate([zero, kernels.prefix_sum(rows[:, seq])], axis=1)
  at = lambda j: prefix[:, idx[j]]
  edge = prefix[:, bound]  # [m, 53]
  ends = jnp.concatenate([edge[:, :-1] + edge[:, 1:], edge[:, :1]], axis=1)  # [m, 53]
  value = (at(0) - ends[:, 52:]) + at(1)
  for k in (0, 1):
    value = value + (ends[:, held[:, k]] - (at(2 + 2 * k) + at(3 + 2 * k)))
  return value


def _sweep(game: Subgame, opp: jax.Array, band: int, player: int,
           span: tuple | None = None) -> jax.Array:
  """[G * m, H'] per slot of band `band`'s showdown groups (`sd_groups`), the
  opponent weight that each hand of `player` (of `span`; default: every hand)
  beats minus the weight it loses to, over disjoint hands only, in O(H) per
  showdown: opp [n, H] the opponent's reaches at the band's terminals
  (`sd_slot` finds a showdown's row).

  The showdowns sharing a board share its layout (`sd_groups`): one group's
  gathers read the same positions for each of its rows, so no per-showdown
  index table is ever materialised.

  Batches of groups run in a loop that gathers each batch's rows itself and
  writes into a buffer made for this call (zeros that depend on opp,
  `after`): with `lax.map`, the [G, m, H] rows were gathered whole up front,
  and its zero-filled output buffers, equal in every half step, were shared
  by XLA and kept alive for a whole iteration (0.24 GB on the flop config).
  """
  num_g, m, g0, s0 = game.sd_groups[band]
  most = min(max(1, _SWEEP_ELEMENTS // (m * game.sd_seq[1 - player].shape[1])), num_g)
  steps = -(-num_g // most)
  batch = -(-num_g // steps)  # as even as the steps allow: padding is work
  pad = steps * batch - num_g  # groups padded with absent rows (read as zeros)
  table = game.sd_group_term[s0:s0 + num_g * m].reshape(num_g, m)
  table = jnp.pad(table, ((0, pad), (0, 0)), constant_values=opp.shape[0])
  boards = jnp.pad(game.sd_group_board[g0:g0 + num_g], (0, pad))
  table, boards = table.reshape(steps, batch, m), boards.reshape(steps, batch)
  sweep = jax.vmap(lambda rows, b: _board_sweep(game, rows, b, 1 - player, span))

  def one_batch(i, out):
    # The rows, materialised (`unfused`; board ids are >= 0, and XLA cannot
    # tell, even where the loop has one step and is unrolled): otherwise XLA
    # computes each row's entries (the level's reach, masks, this gather)
    # inside the sweep's gather into strength order, three times per hand.
    live = boards[i, 0] >= 0
    rows = kernels.unfused(lambda: jnp.take(opp, table[i], axis=0, mode='fill', fill_value=0),
                           live)  # [batch, m, H]
    # The sweep is a computation of its own (`unfused`, on a board id as
    # above): otherwise XLA fuses its 11-term combination into the loop's
    # in-place write, which then costs ~4x more per element (flop config:
    # 1.27-1.30x faster whole iterations), or, where the loop has one step
    # and a loop counter's predicate folds away, into the reordering of the
    # level's values (turn config: 24.8 -> 18.5 ms per iteration); both
    # bit-identical (bench/RESULTS.md).
    values = kernels.unfused(lambda: sweep(rows, boards[i]), live)
    return jax.lax.dynamic_update_index_in_dim(out, values, i, 0)
  width = opp.shape[1] if span is None else span[1] - span[0]
  out = after(jnp.zeros((steps, batch, m, width), opp.dtype), opp)
  values = jax.lax.fori_loop(0, steps, one_batch, out)
  return values.reshape(steps * batch * m, -1)


def _disjoint(game: Subgame, opp: jax.Array, span: tuple | None = None) -> jax.Array:
  """[n, H'] the opponent weight of opp [n, H] dealt against each hand (of
  `span`; default: every hand): all of it less the hands sharing a card
  with ours (inclusion-exclusion)."""
  per_card = opp @ game.holds  # [n, 52]
  cols = _cols(span)
  cards = game.hand_cards[cols]
  return (opp.sum(1, keepdims=True) - per_card[:, cards[:, 0]]
          - per_card[:, cards[:, 1]] + opp[:, cols])


def terminal_values(game: Subgame, opp: jax.Array, player: int) -> jax.Array:
  """[T, H] `player`'s value at each terminal holding each hand, against the
  opponent's reach opp [T, H] there; divided by the total deal weight.
  Computed as the fused half step does (a sweep per band of levels, then
  level by level: the same shapes, so the same rounding)."""
  t_of = lambda l: slice(game.offsets[l][2], game.offsets[l][2] + game.levels[l][3])
  shows = _band_sweeps(game, lambda l: opp[t_of(l)], player)
  parts = [_level_terminal_values(game, opp[t_of(l)], shows.get(l), player, l)
           for l, (_, _, _, nt) in enumerate(game.levels) if nt]
  return jnp.concatenate(parts) if parts else opp


def _band_sweeps(game: Subgame, opp_of, player: int, span: tuple | None = None) -> dict:
  """{level: its band's sweep (`_sweep`, for `player`'s hands of `span`)} for
  every level with showdowns; opp_of(l): [nt, H] the opponent's reaches at
  level l's terminals."""
  out = {}
  for b, (first, end) in enumerate(sweep_bands(game.levels, game.splits)):
    rows = [opp_of(l) for l in range(first, end)]
    swept = _sweep(game, jnp.concatenate(rows) if len(rows) > 1 else rows[0], b, player, span)
    out.update({l: swept for l in range(first, end)})
  return out


def _backward(game: Subgame, leaf: jax.Array, policy: list, player: int,
              respond: str | None = None, stop: int | None = None) -> tuple:
  """(root values [H], the children's values [D, A, H] at every decision node).

  leaf: [T, H] `player`'s terminal values. At `player`'s nodes the values are
  weighted by `policy` (`level_policies`), or, with `respond`, the best action
  is taken for each hand ('hand') or for each bucket ('bucket'); elsewhere
  children are summed (the other player's probabilities are in the leaf
  values already).
  stop: a level with decisions; then (None, the children's values [nd, A, H]
  of its decisions alone), and the levels above it are not computed.

  Computed over `player`'s range (its span of hands) as `fused_backward`
  computes it, so that the two agree bit for bit (a sum's order depends on
  its shape); zeros outside it.
  """
  span = game.range_span[player]
  cols, out = slice(*span), lambda x: jnp.pad(
      x, [(0, 0)] * (x.ndim - 1) + [(span[0], game.num_hands - span[1])])
  leaf = leaf[:, cols]
  below, cfv = None, []  # below: the next level's values and a zero row (`_rows`)
  for l in range(len(game.levels) - 1, -1, -1):
    _, nd, nc, nt = game.levels[l]
    d0, c0, t0 = game.offsets[l]
    parts = []
    if nd:
      child = _rows(below, game.dec_child[d0:d0 + nd])  # [nd, A, H']
      mine = (game.dec_player[d0:d0 + nd] == player)[:, None]
      if respond is None:
        value = _expect(child, policy[l][:, cols])
      else:
        value = _best(game, child, d0, respond, span)
      if l == stop:
        return None, out(child)
      parts.append(jnp.where(mine, value, _total(child)))
      cfv.append(child)
    if nc:
      parts.append(_chance_values(game, below, c0, nc, span))
    if nt:
      parts.append(leaf[t0:t0 + nt])
    below = jnp.concatenate(parts + [jnp.zeros_like(leaf[:1])])
  return out(below[0]), out(jnp.concatenate(cfv[::-1]))


def _rows(x: jax.Array, idx: jax.Array) -> jax.Array:
  """idx.shape + x.shape[1:]: x[idx] for indices known to be in range.

  Unsigned and promised in bounds: JAX wraps negative signed indices, and a
  masked gather (`mode='fill'`) checks each gathered element; both are code
  in every kernel the gather fuses into. The backward passes' gathers of
  children read a level's values followed by a zero row, the "one past the
  end" that absent children index, so no child index is out of range. With
  these gathers masked or wrapping, the flop's run chunk was 101,756 HLO
  instructions instead of 82,032 and 9% slower per iteration; a program's
  host memory grows with its instructions (bench/RESULTS.md)."""
  return x.at[idx.astype(jnp.uint32)].get(mode='promise_in_bounds')


def _chance_values(game: Subgame, below: jax.Array, c0: int, nc: int,
                   span: tuple | None = None) -> jax.Array:
  """[nc, H] the values of chance nodes c0:c0 + nc: the average over the
  cards each deals of its child's values (below: the next level's nodes'
  values [n, H] and a zero row, see `_rows`), without the hands the card
  blocks. With isomorphism a card's values are its representative's child's,
  gathered through the card's hand permutation (one flat gather, so no
  [nc, K, H] index table is built beyond the result's own shape). Shared by
  the fused and whole-tree passes.
  span: values of the hands first:end alone (H = end - first). A range is
  symmetric wherever isomorphism deals, so its permutations stay in it."""
  child_idx = game.chance_child[c0:c0 + nc]  # [nc, K]; absent: one past the end
  if game.hand_perm is None:
    child = _rows(below, child_idx)  # [nc, K, H]
  else:
    num_h, first = below.shape[1], 0 if span is None else span[0]
    perm = game.hand_perm[:, _cols(span)] - first
    flat = child_idx[:, :, None] * num_h + perm[game.chance_perm[c0:c0 + nc]]
    child = _rows(below.reshape(-1), flat)
  child = child * _alive(game, game.chance_card[c0:c0 + nc], span)
  return child.sum(1) / game.chance_count[c0:c0 + nc, None]


def _total(child: jax.Array) -> jax.Array:
  """[n, H] sum_a child[:, a], added in a fixed order (as `_expect`): XLA
  reduces an axis in an order that depends on the reduction's fusion, which
  differs between the fused and whole-tree passes."""
  return sum(child[:, a] for a in range(child.shape[1]))


def _expect(child: jax.Array, policy: jax.Array) -> jax.Array:
  """[n, H] sum_a child[:, a] * policy[..., a], added in a fixed order (a
  dot's order depends on its shape: the fused and whole-tree passes must
  agree bit for bit in float64); child: [n, A, H], policy: [n, H, A]."""
  return sum(child[:, a] * policy[:, :, a] for a in range(child.shape[1]))


def _best(game: Subgame, child: jax.Array, d0: int, respond: str,
          span: tuple | None = None) -> jax.Array:
  """[nd, H] the best legal child value per hand, or per bucket's summed
  values; child [nd, A, H] of the hands of `span` (default: every hand)."""
  nd = child.shape[0]
  legal = game.node_legal[d0:d0 + nd]
  if respond == 'hand' or game.bucket is None:
    return jnp.where(legal[:, :, None], child, -jnp.inf).max(1)
  bucket = game.bucket[d0:d0 + nd][:, _cols(span)]
  weight = game.prior[game.dec_player[d0:d0 + nd]][:, _cols(span), None]  # as in cfr_pass
  summed = to_buckets(game, child.transpose(0, 2, 1) * weight, bucket)  # [nd, B, A]
  choice = jnp.argmax(jnp.where(legal[:, None, :], summed, -jnp.inf), axis=-1)
  pick = jnp.take_along_axis(choice, jnp.maximum(bucket, 0), axis=1)  # [nd, H]
  return jnp.take_along_axis(child, pick[:, None, :], axis=1)[:, 0]


def _split_levels(game: Subgame, rows: list) -> tuple:
  """([2, D, H] reaches at decisions, [2, T, H] at terminals) from per-level rows."""
  dec = [r[:, :nd] for r, (_, nd, _, _) in zip(rows, game.levels)]
  term = [r[:, nd + nc:] for r, (_, nd, nc, _) in zip(rows, game.levels)]
  return jnp.concatenate(dec, axis=1), jnp.concatenate(term, axis=1)


def cfr_pass(game: Subgame, sigma: jax.Array, player: int | None = None) -> tuple:
  """Counterfactual values [I, A] and own reaches [I] of every infoset's owner.

  sigma: [I, A] (rows as in the module docstring). `player` restricts the
  work to one player's values (alternating updates); the other's rows are
  then meaningless.
  """
  policy = level_policies(game, sigma)
  dec_reach, term_reach = _split_levels(game, reaches(game, policy))
  cfv = None
  for p in ((0, 1) if player is None else (player,)):
    _, values = _backward(game, terminal_values(game, term_reach[1 - p], p), policy, p)
    cfv = values if cfv is None else jnp.where(
        (game.dec_player == p)[:, None, None], values, cfv)
  own = jnp.where(game.dec_player[:, None] == 0, dec_reach[0], dec_reach[1])  # [D, H]
  cfv = cfv.transpose(0, 2, 1)
  if game.bucket is not None:  # a bucket's histories are dealt in proportion to the range
    cfv = cfv * game.prior[game.dec_player][:, :, None]
    cfv = to_buckets(game, cfv).reshape(-1, game.num_actions)
    own = to_buckets(game, own).reshape(-1)
  else:  # each decision's rows: its player's hands
    cfv, own = _to_rows(game, cfv, 0), _to_rows(game, own, 0)
  pad = game.num_infosets - cfv.shape[0]  # rows that pad the state over a mesh
  return jnp.pad(cfv, ((0, pad), (0, 0))), jnp.pad(own, (0, pad))


def _level_terminal_values(game: Subgame, opp: jax.Array, shows: jax.Array | None,
                           player: int, l: int, span: tuple | None = None) -> jax.Array:
  """[nt, H'] `terminal_values` of level l's terminals alone, for the hands
  of `span` (default: every hand); opp: [nt, H]; shows: the sweep of the
  level's band (`_band_sweeps`, for those hands), None without showdowns."""
  _, _, _, nt = game.levels[l]
  t0, nf = game.offsets[l][2], game.splits[l][1]
  sign = 1.0 if player == 0 else -1.0
  raked = game.rake is not None
  parts = []
  # The opponent weight dealt against each hand: the folds' values, and with
  # rake the showdowns' too (one product for all the level's terminals).
  dealt = _disjoint(game, opp if raked else opp[:nf], span) if nf or raked else None
  if nf:
    won = sign * game.fold_sign[t0:t0 + nf]  # +1: `player` wins, -1: she folded
    if raked:  # the winner pays the rake: wins stake x (1 - rake)
      won = won - jnp.maximum(won, 0) * game.rake[t0:t0 + nf]
    parts.append((dealt[:nf] if raked else dealt) * won[:, None])
  if nt > nf:
    show = shows[game.sd_slot[t0 + nf:t0 + nt]]
    if raked:
      # Per unit of stake a win pays 1 - r, a loss -1 and a tie -r / 2: with
      # W, L the weight the hand beats and loses to (the sweep: W - L) and D
      # all the weight dealt against it, (W - L)(1 - r / 2) - (r / 2) D.
      half = 0.5 * game.rake[t0 + nf:t0 + nt, None]
      show = show * (1 - half) - half * dealt[nf:]
    parts.append(show)
  value = jnp.concatenate(parts) if len(parts) > 1 else parts[0]
  return (value * game.runout_alive[:, _cols(span)][game.term_runout[t0:t0 + nt]]
          * (game.stake[t0:t0 + nt] / game.norm)[:, None])


def _level_policy(game: Subgame, sigma: jax.Array, d0: int, nd: int,
                  span: tuple | None = None) -> jax.Array:
  """[nd, H, A] each hand's policy at decisions d0:d0 + nd from their rows
  sigma [_row(d0 + nd) - _row(d0), A] (`hand_policy` for a slice). A hand
  outside the acting player's range has no row there: it plays zeros (its
  reach is zero from the root, so no value depends on it). span: the hands
  first:end alone (H = end - first), which must hold the acting players' ranges."""
  cols, (lo_s, hi_s) = _cols(span), span or (0, game.num_hands)
  if game.bucket is not None:
    probs = sigma.reshape(nd, game.num_buckets, sigma.shape[-1])
    return jnp.take_along_axis(
        probs, jnp.maximum(game.bucket[d0:d0 + nd][:, cols], 0)[:, :, None], axis=1)
  parts, base = [], _row(game, d0)
  for lo, hi, p, _ in game.dec_runs:
    lo, hi = max(lo, d0), min(hi, d0 + nd)
    if lo >= hi:
      continue
    rows = sigma[_row(game, lo) - base:_row(game, hi) - base]
    rows = rows.reshape(hi - lo, game.row_sizes[p], sigma.shape[-1])
    first, end = game.range_span[p]
    assert lo_s <= first and end <= hi_s, 'a range outside the span'
    parts.append(jnp.pad(rows, ((0, 0), (first - lo_s, hi_s - end), (0, 0))))
  probs = jnp.concatenate(parts) if len(parts) > 1 else parts[0]
  # Chance isomorphism: decisions above an isomorphic deal play the mean of
  # their hands' images (see compile_subgame); others keep their own rows.
  # Only the spans holding such decisions are touched (static slices, the
  # same elementwise arithmetic however the caller slices the levels).
  pieces, done = [], d0
  for lo, hi in game.sym_ranges:
    lo, hi = max(lo, done), min(hi, d0 + nd)
    if lo >= hi:
      continue
    sym = game.dec_sym[lo:hi]  # [n, M]
    part = probs[lo - d0:hi - d0]
    # Unsigned and promised in bounds, as in `_rows`: permutations of the span.
    perms = (game.hand_perm[:, cols] - lo_s).astype(jnp.uint32).at[
        sym.astype(jnp.uint32)].get(mode='promise_in_bounds')  # [n, M, H]
    mean = sum(jnp.take_along_axis(part, perms[:, m, :, None], axis=1, mode='promise_in_bounds')
               for m in range(sym.shape[1])) / sym.shape[1]
    pieces += [probs[done - d0:lo - d0], jnp.where((sym != 0).any(1)[:, None, None], mean, part)]
    done = hi
  if not pieces:
    return probs
  pieces.append(probs[done - d0:])
  return jnp.concatenate(pieces)


# Rows x actions per update chunk of the fused half step: bounds its
# temporaries (about ten arrays of this many elements) on flop subgames, whose
# largest level holds a third of the decision nodes.
_UPDATE_ELEMENTS = 1 << 22


def _update_decisions(game: Subgame) -> int:
  """Decision nodes per update chunk."""
  return max(1, _UPDATE_ELEMENTS // (game.num_buckets * game.num_actions))


def _chunks(a: int, b: int, n: int, size: int) -> list:
  """[(start, end)] covering 0:n in pieces of at most `size`, none straddling a or b."""
  out = []
  for lo, hi in ((0, a), (a, b), (b, n)):
    out += [(k, min(k + size, hi)) for k in range(lo, hi, size)]
  return out


def _pieces(game: Subgame, lo: int, hi: int) -> list:
  """[(first, end, slots)]: decisions lo:hi cut where their legal slots change
  (`act_runs`; static)."""
  return [(max(lo, a), min(hi, b), slots) for a, b, _, slots in game.act_runs
          if a < hi and b > lo]


def block(game: Subgame, lo: int, hi: int) -> tuple:
  """(first row, end row, first cell, end cell, slots) of decisions lo:hi,
  which share their legal slots (one of `_pieces`): their infoset rows and
  their [rows, k] block of the compact state (static)."""
  [(_, _, slots)] = _pieces(game, lo, hi)
  return _row(game, lo), _row(game, hi), _cell(game, lo), _cell(game, hi), slots


def after(x: jax.Array, *deps: jax.Array) -> jax.Array:
  """x, made to depend on `deps` (finite arrays): x + 0 * each one's first entry.

  XLA updates an array in place only where every other read of it is ordered
  before the update, and before scheduling it knows only data dependencies.
  The strategy of a chunk's rows is recomputed (fused) inside each of its
  consumers (the children's values, the strategy sum's update), each reading
  the regrets array itself; without a path from those reads to the regrets'
  update, copy insertion copied the whole array for every chunk (151 copies
  of 0.48 GB per flop iteration). The sum is exact: adding a zero changes
  nothing (at most a zero's sign).
  """
  for dep in deps:
    if dep.size:  # (a 16-bit state's bits are integers: cast, not promoted)
      x = x + 0 * dep.reshape(-1)[0].astype(x.dtype)
  return x


def fused_half_step(game: Subgame, state: Any, player: int, strategy, update,
                    keep_own: bool = True) -> Any:
  """One alternating half step of a CFR-family algorithm for `player`, with
  each level's regret and strategy-sum update applied where its values are
  computed, so that no whole-tree array exists but the state itself.

  strategy(state, lo, hi) -> [rows, k]: the current strategy of decisions
    lo:hi, which share their k legal slots (see `block`), over those slots.
  update(state, lo, hi, sigma, cfv, own) -> state: the algorithm's update of
    decisions lo:hi (as above) given their strategy sigma [rows, k],
    counterfactual values cfv [rows, k] and own reaches own [rows].

  The forward pass keeps, per level, only the opponent's reach at the
  terminals and `player`'s at their decisions; the backward pass computes one
  level's terminal values, children's values and updates at a time. Rows of
  a level are read before that level is updated and after every deeper
  level is, so the state can be updated in place (`after` tells XLA so; the
  update must write the regrets after the strategy sum, see `Solver`).
  Values are those of `cfr_pass(game, sigma, player)`, computed in the same order.
  keep_own: see `fused_forward`.
  """
  stored, _ = fused_forward(game, state, player, strategy, keep_own=keep_own)
  return fused_backward(game, state, player, stored, strategy, update)[0]


def _stub_rows(x: jax.Array, first: int, count: int, rows: jax.Array) -> jax.Array:
  """x [n, H] (a level's chance nodes' values) with its first `count` rows,
  the level's stubs, replaced by rows[first:first + count]."""
  return jnp.concatenate([rows[first:first + count], x[count:]])


def fused_forward(game: Subgame, state: Any, player: int, strategy,
                  stub_reach: jax.Array | None = None, stubs: tuple = (),
                  keep_own: bool = False, probe: tuple | None = None,
                  rake: bool = False) -> tuple:
  """The forward pass of `fused_half_step`: (per level, what the backward
  pass reads: `player`'s reach at her decisions and the opponent's at the
  terminals, and with keep_own `player`'s strategy there; [2, S, H] both
  players' reaches at the stubs, or None; with `probe` = (a level, static;
  a decision's index among the level's, traced), a third item: [2, H] both
  players' reaches there).

  keep_own (an update's passes): the strategy of `player`'s rows, computed
  here for the next level's reaches, is kept per block ((lo, hi, [rows, k]))
  for the backward pass, which would otherwise compute it again from the
  same unchanged rows (the same bits; flop config 3-9% faster per
  iteration, bench/RESULTS.md). One barrier over everything returned orders
  the reads that compute the kept strategy before whatever uses the forward
  pass's results: the backward pass's in-place writes and, in a split game,
  the parts' loop, which writes rows of the same arrays before the upper
  part's backward pass reads what it kept. The strategy must be a
  computation of its own (`kernels.unfused` on an unbatched predicate; under
  vmap a batched one makes its cond a select): otherwise XLA fused it into
  its readers in the backward pass, reading rows already written, and
  copied the state for it.

  stubs: per level (first stub, count): the level's first chance nodes are
  stubs, chance nodes of a part of a split game (`cfr_jax.holdem.split`)
  whose other side lives in another part. With stub_reach [2, S, H] given
  (a part below the cut) their reaches are those; otherwise they are
  computed and returned (the part above it).

  rake: a first item more, [] the rake paid at the game's terminals
  (`expected_rake`'s units, 0 without rake), from both players' reaches
  there: a best response's forward pass gives the exploitability's rake term
  at the cost of `player`'s own reaches at the terminals.
  """
  me, num_a = player, game.num_actions
  # Per level: (own reach at my decisions, opp reach at terminals).
  stored, prev, at_stubs, own_sigma, probed = [], None, [], [], None
  paid, weights = jnp.zeros((), game.prior.dtype), []  # with `rake`
  for l, (start, nd, nc, nt) in enumerate(game.levels):
    d0 = game.offsets[l][0]
    a, b = (0, game.splits[l][0]) if me == 0 else (game.splits[l][0], nd)
    if l == 0:
      # The root: [1, H] per player (none in a part below a split's cut).
      inner = [game.prior[p][None][:1 if nd + nc + nt else 0] for p in (0, 1)]
      term = inner[1 - me][:0]
    else:
      pd0, pnd, policy = prev

      taken = functools.partial(_taken, game, policy, pd0=pd0, pnd=pnd)

      # Only decisions and chance nodes have children: terminals' reaches are
      # computed for the opponent alone, and never kept for the next level.
      ends, kids = slice(start + nd + nc, start + nd + nc + nt), slice(start, start + nd + nc)
      term = _grow(game, inner[1 - me], taken(ends), ends, 1 - me)
      if rake and nt and game.rake is not None:
        mine = _grow(game, inner[me], taken(ends), ends, me)
        weights = chance_weights(game, term.dtype, l, weights)
        pair = (mine, term) if me == 0 else (term, mine)
        paid = paid + level_rake(game, *pair, weights[-1][nd + nc:], l)
      if stub_reach is not None and stubs[l][1]:  # the stubs' reaches are given
        first, count = stubs[l]
        pieces = (slice(start, start + nd), slice(start + nd + count, start + nd + nc))
        inner = [jnp.concatenate([_grow(game, inner[p], taken(pieces[0]), pieces[0], p),
                                  stub_reach[p, first:first + count],
                                  _grow(game, inner[p], taken(pieces[1]), pieces[1], p)])
                 for p in (0, 1)]
      else:
        inner = [_grow(game, inner[p], taken(kids), kids, p) for p in (0, 1)]
    if stub_reach is None and stubs and stubs[l][1]:
      at_stubs.append([x[nd:nd + stubs[l][1]] for x in inner])
    if probe is not None and l == probe[0]:
      probed = jnp.stack([jax.lax.dynamic_index_in_dim(x, probe[1], keepdims=False)
                          for x in inner])
    # The barrier materialises the two slices, so that the level's reaches
    # need not stay alive until the backward pass reads them.
    stored.append(jax.lax.optimization_barrier((inner[me][a:b], term)))
    if nd:  # the level's strategy, for the next level's reaches
      # (Ordering these reads after the level's reaches with `after` kept
      # XLA from holding several levels' [nd, H, A] policies at once, 5% of
      # the flop's temporaries, but made turn iterations 15% slower.)
      blocks = [(lo, hi, slots, strategy(state, lo, hi))
                for lo, hi, slots in _pieces(game, d0, d0 + nd)]
      own_sigma.append(tuple((lo, hi, x) for lo, hi, _, x in blocks
                             if d0 + a <= lo and hi <= d0 + b))
      parts = [widen(x, slots, num_a) for _, _, slots, x in blocks]
      sigma = jnp.concatenate(parts) if len(parts) > 1 else parts[0]
      prev = (d0, nd, _level_policy(game, sigma, d0, nd))
    else:
      own_sigma.append(())
      prev = (d0, 0, jnp.zeros((1, game.num_hands, num_a), inner[0].dtype))
  reach = None
  if stub_reach is None and at_stubs:
    reach = jnp.stack([jnp.concatenate([x[p] for x in at_stubs]) for p in (0, 1)])
  if keep_own:
    sigmas = [[x for _, _, x in blocks] for blocks in own_sigma]
    stored, sigmas, reach = jax.lax.optimization_barrier((stored, sigmas, reach))
    stored = [(own, term, [(lo, hi, x) for (lo, hi, _), x in zip(blocks, xs)])
              for (own, term), blocks, xs in zip(stored, own_sigma, sigmas)]
  if probe is not None:
    assert probed is not None, f'no level {probe[0]} in this game'
    return stored, reach, probed
  return (paid, stored, reach) if rake else (stored, reach)


def _own_rows(kept: list, lo: int, hi: int) -> jax.Array:
  """[rows, k] decisions lo:hi's strategy, sliced from the forward pass's
  block (first, end, [rows, k]) that holds them (a block has as many rows
  per decision)."""
  [(first, end, x)] = [b for b in kept if b[0] <= lo and hi <= b[1]]
  if (first, end) == (lo, hi):
    return x
  return x.reshape(end - first, -1, x.shape[-1])[lo - first:hi - first].reshape(-1, x.shape[-1])


def fused_backward(game: Subgame, state: Any, player: int, stored: list, strategy, update,
                   stub_values: jax.Array | None = None, stubs: tuple = (),
                   respond: str | None = None, probe: tuple | None = None) -> tuple:
  """The backward pass of `fused_half_step` from the forward pass's `stored`:
  (the updated state, `player`'s values: [S, H'] at the stubs where this is a
  part below a split's cut (over the cards it deals), else [H'] at the root).

  Values are computed for `player`'s range alone, the H' = end - first hands
  of `range_span[player]`: nothing reads the others' (their reach is zero),
  and every entry is computed as over all hands, so the values are the same
  bits (flop config: 180 and 265 of 285 hands).

  With stub_values [S, H'] (the part above a split's cut) the stubs' values
  are those. With `respond` ('hand' or 'bucket', as in `_backward`) `player`
  best responds at her decisions and nothing is updated (`update` unused).
  With `probe` = (a level, static; the index of one of `player`'s decisions
  among the level's, traced; respond None), a third item: (its children's
  values [A, H], each hand's policy there [H, A]; zeros outside the range).
  """
  me, num_a = player, game.num_actions
  span = game.range_span[me]
  first, end = span
  at_stubs, probed = [], None
  below = None  # the next level's values and a zero row (`_rows`)
  shows = _band_sweeps(game, lambda l: stored[l][1], me, span)
  for l in range(len(game.levels) - 1, -1, -1):
    _, nd, nc, nt = game.levels[l]
    d0, c0, _ = game.offsets[l]
    own, opp = stored[l][:2]
    kept = stored[l][2] if len(stored[l]) > 2 else None
    a, b = (0, game.splits[l][0]) if me == 0 else (game.splits[l][0], nd)
    parts = []
    children = functools.partial(_rows, below)
    if nd:
      values = []
      for c, c2 in _chunks(a, b, nd, _update_decisions(game)):
        if c >= b or c2 <= a:  # the other player's decisions: children summed
          values.append(_total(children(game.dec_child[d0 + c:d0 + c2])))
          continue
        for lo, hi, slots in _pieces(game, d0 + c, d0 + c2):
          child = children(game.dec_child[lo:hi])  # [n, A, H']
          if respond is not None:
            values.append(_best(game, child, lo, respond, span))
            continue
          # From the forward pass, or recomputed from the state as updated
          # so far (these rows are not yet): the same bits.
          sigma = strategy(state, lo, hi) if kept is None else _own_rows(kept, lo, hi)
          # Over every slot, as in `_backward`: XLA contracts products into
          # fused multiply-adds as the expression's shape allows, so a sum
          # over the legal slots alone would differ in the last bit.
          policy = _level_policy(game, widen(sigma, slots, num_a), lo, hi - lo, span)
          if kept is None:
            # Read from the state: a computation of its own (`unfused`, on
            # a predicate of the game's, unbatched under run_many's vmap),
            # so that the policy is read once, before the rows' writes.
            # Fused into the level's values, XLA computed it again there, in a
            # kernel that `after`'s one entry did not order before the writes
            # (run_many with per-instance counts: 2 more copies of the state
            # per chunk, once the values covered the range's hands alone).
            value = kernels.unfused(lambda: _expect(child, policy), game.dec_player[lo] >= 0)
          else:
            value = _expect(child, policy)
          values.append(value)
          if probe is not None and l == probe[0]:  # one program serves a level
            d = d0 + probe[1]
            at = lambda x, d=d, lo=lo, hi=hi: jax.lax.dynamic_index_in_dim(
                x, jnp.clip(d - lo, 0, hi - lo - 1), keepdims=False)
            here = (lo <= d) & (d < hi)
            probed = tuple(jnp.where(here, at(x), 0 if old is None else old) for x, old in
                           zip((child, policy), probed or (None, None)))
          cfv = jnp.take(child, np.asarray(slots), axis=1).transpose(0, 2, 1)  # [n, H', k]
          cfv = after(cfv, value)  # the rows are written after `value` read them
          mine = own[lo - d0 - a:hi - d0 - a]
          if game.bucket is not None:  # as in cfr_pass
            bucket = game.bucket[lo:hi, first:end]
            cfv = cfv * game.prior[me][None, first:end, None]
            cfv = to_buckets(game, cfv, bucket).reshape(-1, len(slots))
            reach = to_buckets(game, mine[:, first:end], bucket).reshape(-1)
          else:  # my hands' rows
            cfv = cfv.reshape(-1, len(slots))
            # A gather, not a slice: sliced, the reaches stayed alive longer
            # (flop config: +0.37 GiB of temporaries).
            reach = jnp.take(mine, np.arange(first, end), axis=1).reshape(-1)
          state = update(state, lo, hi, sigma, cfv, reach)
      value = jnp.concatenate(values) if len(values) > 1 else values[0]
      parts.append(value)
    if nc:
      chance = _chance_values(game, below, c0, nc, span)
      if stubs and stubs[l][1]:
        if stub_values is None:
          at_stubs.insert(0, chance[:stubs[l][1]])  # levels in order
        else:
          chance = _stub_rows(chance, *stubs[l], stub_values)
      parts.append(chance)
    if nt:
      parts.append(_level_terminal_values(game, opp, shows.get(l), me, l, span))
    below = jnp.concatenate(parts + [jnp.zeros((1, end - first), own.dtype)])
  out = below[0] if stub_values is not None or not at_stubs else jnp.concatenate(at_stubs)
  if probe is not None:
    assert probed is not None, f'no decisions of player {me} at level {probe[0]}'
    widths = ((first, game.num_hands - end),)  # zeros outside the range
    return state, out, (jnp.pad(probed[0], ((0, 0),) + widths),
                        jnp.pad(probed[1], widths + ((0, 0),)))
  return state, out


def best_response_value(game: Subgame, sigma: jax.Array, player: int,
                        abstract: bool = False) -> jax.Array:
  """[] `player`'s expected value best responding to the other's part of sigma.

  abstract=False: the responder plays each hand freely (the unabstracted
  game). abstract=True: one action per bucket, chosen bottom up; exact when
  the abstraction has perfect recall (a river subgame, or lossless buckets).
  """
  return _root_value(game, sigma, player, 'bucket' if abstract else 'hand')


def game_value(game: Subgame, sigma: jax.Array, player: int = 0) -> jax.Array:
  """[] `player`'s expected value when both follow sigma [I, A] (player 1's
  is minus player 0's, less the expected rake)."""
  return _root_value(game, sigma, player, None)


def _root_value(game: Subgame, sigma: jax.Array, player: int, respond: str | None):
  """[] `player`'s value at the root against sigma's other part: best
  responding (`respond` as in `_backward`) or, with respond None, playing sigma."""
  policy = level_policies(game, sigma)
  _, term_reach = _split_levels(game, reaches(game, policy))
  leaf = terminal_values(game, term_reach[1 - player], player)
  root, _ = _backward(game, leaf, policy, player, respond)
  return root @ game.prior[player]


def nash_conv(game: Subgame, sigma: jax.Array, abstract: bool = False) -> jax.Array:
  """[] the sum over players of what a best response to sigma [I, A] gains
  over sigma's own value (`best_response_value`'s abstract as there): without
  rake the best responses' values alone (the game is zero-sum); with rake
  plus the rake sigma pays, since the two own values sum to minus it."""
  total = sum(best_response_value(game, sigma, p, abstract) for p in (0, 1))
  if game.rake is not None:
    total = total + expected_rake(game, sigma)
  return total


def expected_rake(game: Subgame, sigma: jax.Array) -> jax.Array:
  """[] the rake paid when both follow sigma [I, A], in the units of
  `game_value` (0 without rake): minus the sum of the two players' values.

  Every terminal's rake is the same whoever wins (min(rate x pot, cap), a
  tie's two halves included), so it needs only the weight of the deals that
  reach each terminal: one forward pass of both players' reaches, not two
  policy-value passes with their showdown sweeps (a raked flop's
  exploitability program held ~0.2 GB more for those)."""
  if game.rake is None:
    return jnp.zeros((), game.prior.dtype)
  rows = reaches(game, level_policies(game, sigma))
  weights = chance_weights(game, rows[0].dtype, len(game.levels) - 1)
  return sum((level_rake(game, r[0, nd + nc:], r[1, nd + nc:], w[nd + nc:], l)
              for l, (r, w, (_, nd, nc, nt)) in enumerate(zip(rows, weights, game.levels))
              if nt), jnp.zeros((), rows[0].dtype))


def chance_weights(game: Subgame, dtype, depth: int, above: list = ()) -> list:
  """Per level down to `depth`, [n] each node's share of the deals: the
  product, over the chance nodes on its path, of the share of their cards its
  card stands for (1 / chance_count, times the cards its representative
  stands for under isomorphism). Times both players' reaches it weighs the
  deals reaching the node, as the backward passes' chance averages
  (`_chance_values`) do. Nodes with no parent in the game (its root, or a
  split part's stubs) count 1. above: the levels' weights computed so far
  (a prefix of the result), extended from there."""
  out = list(above)
  for l in range(len(out), depth + 1):
    start, nd, nc, nt = game.levels[l]
    n = nd + nc + nt
    if not out:
      out.append(jnp.ones(n, dtype))
      continue
    edges = slice(start, start + n)
    _, _, pnc, _ = game.levels[l - 1]
    c0 = game.offsets[l - 1][1]
    share = jnp.zeros(n + 1, dtype)  # the last: absent children (one past the end)
    if pnc:
      kids = game.chance_child[c0:c0 + pnc]  # [pnc, K]: a representative once per card
      share = share.at[kids.astype(jnp.uint32)].add(jnp.broadcast_to(
          1 / game.chance_count[c0:c0 + pnc, None].astype(dtype), kids.shape))
    parent = _rows(jnp.concatenate([out[-1], jnp.ones(1, dtype)]), game.edge_parent[edges])
    dealt = game.edge_card[edges] != cards_lib.NUM_CARDS
    orphan = ~dealt & (game.edge_mover[edges] < 0)
    out.append(jnp.where(dealt, parent * share[:n], jnp.where(orphan, 1, parent)))
  return out


def level_rake(game: Subgame, reach0: jax.Array, reach1: jax.Array, weight: jax.Array,
               l: int) -> jax.Array:
  """[] the rake paid at level l's terminals, which the players reach with
  reach0, reach1 [nt, H] and the deals with `weight` [nt] (`chance_weights`),
  in `expected_rake`'s units: each terminal's rake times the weight of the
  pairs of hands that share no card, counted as `_level_terminal_values`
  counts player 0's (her hands that the terminal's runout blocks are out)."""
  t0, nt = game.offsets[l][2], game.levels[l][3]
  mine = reach0 * game.runout_alive[game.term_runout[t0:t0 + nt]]
  # Disjoint pairs by inclusion-exclusion, as `_disjoint` (summed over the
  # hands): all pairs, less those sharing a card, plus those sharing both
  # (one hand, subtracted twice).
  pairs = (mine.sum(1) * reach1.sum(1) - ((mine @ game.holds) * (reach1 @ game.holds)).sum(1)
           + (mine * reach1).sum(1))
  return (pairs * weight) @ (game.rake[t0:t0 + nt] * game.stake[t0:t0 + nt]) / game.norm


# ----------------------------------------------------------------------------
# Reading the answer.


@dataclasses.dataclass
class NodeReport:
  """The average strategy and values at one decision node.

  history: the betting line ('-' at the root); player: who acts.
  actions: [A'] the legal actions' tokens ('f', 'k', 'c', 'b5', 'a').
  hands: [K] the hands that reach the node (the player's range, with card removal).
  reach: [K] each hand's probability of being here (its range weight times
    the player's own probabilities of the line).
  probs: [K, A'] each hand's strategy; ev: [K] each hand's expected value in
    chips (net, from the subgame's start), given the node is reached.
  frequencies: [A'] the range's action frequencies; node_ev: the player's
    expected value given the node is reached.
  """
  history: str
  player: int
  actions: list
  hands: list
  reach: np.ndarray
  probs: np.ndarray
  ev: np.ndarray
  frequencies: np.ndarray
  node_ev: float


def node_report(game: Subgame, sigma, history: str) -> NodeReport:
  """What `sigma` [I, A] (e.g. `solver.average_policy(state).probs`) does at
  the decision node of betting line `history`, e.g. 'kb5c/7h/'.

  On a big subgame (`split.is_big`: the flop config) the passes run split,
  one dealt card's subtree at a time (`split.node_report`), as training
  does; `Solver.node_report` reads a state's sums without making sigma."""
  from cfr_jax.holdem import split  # pylint: disable=g-import-not-at-top  (split imports this module)
  sigma = _report_policy(game, sigma)
  if split.is_big(game):
    return split.node_report(split.parts_of(game).astype(sigma.dtype),
                             game.astype(sigma.dtype), sigma, history)
  game = game.astype(sigma.dtype)
  line, perm, d = locate(game, history)
  level, k = level_of(game, d)
  policy, reach, cfv = _report_passes(game, sigma, int(game.dec_player[d]), level, np.int32(k))
  return assemble_report(game, line, perm, d, policy, reach, cfv)


def _report_policy(game: Subgame, sigma) -> jax.Array:
  """sigma as the [I, A] array `node_report` reads, or a TypeError / ValueError
  saying what it takes (`policy.policy_table`): a table of another shape
  failed inside the passes ("cannot reshape array of shape (5, 5) ..."), a
  TabularPolicy of another subgame of the same shape was reported as this one's."""
  if not isinstance(game, Subgame):
    raise TypeError(f'node_report reads a hold\'em Subgame (subgame.compile_subgame), got '
                    f'{type(game).__name__}')
  return policy_table(game, sigma, 'node_report takes a policy table [infosets, actions] (e.g. '
                      'solver.average_policy(state).probs)')


def level_of(game: Subgame, d: int) -> tuple:
  """(the tree level of decision d, its index among that level's decisions)."""
  for l, ((_, nd, _, _), (d0, _, _)) in enumerate(zip(game.levels, game.offsets)):
    if d0 <= d < d0 + nd:
      return l, d - d0
  raise ValueError(f'no decision {d} in {game.name}')


def locate(game: Subgame, history: str) -> tuple:
  """(the line asked, the suit permutation from its representative, the id of
  the decision node that plays it) for `node_report`; a ValueError saying
  where the line goes wrong when it names no decision node. The line is read
  in any case and spacing (`lines.canonical_line`: 'KK/7H/B10' is 'kk/7h/b10')."""
  line = lines_lib.canonical_line(history)
  histories = game.info.decision_histories
  board, dealt = cards_lib.parse_cards(game.info.spec['board']), []
  for m in re.finditer(r'/([^/]*)/', line):  # the line's cards, checked as cards
    if not m.group(1):  # was "bad card ''"
      raise ValueError(f'betting line {line!r}: no card between two slashes (a dealt card '
                       'is written between them, e.g. "kk/7h/b10")')
    try:
      card = cards_lib.parse_card(m.group(1))
    except ValueError as e:
      raise ValueError(f'betting line {line!r}: {e}') from None
    if card in board or card in dealt:
      where = 'on the board' if card in board else 'dealt earlier in the line'
      raise ValueError(f'betting line {line!r}: {m.group(1)} is {where} '
                       f'(board {game.info.spec["board"]})')
    dealt.append(card)
  # A line through a card that isomorphism deals through another's subtree:
  # report the representative's node, its hands mapped back by the permutation.
  rep_line, perm = representative_line(game, line)
  if rep_line not in histories:
    raise ValueError(_unknown_line(game, rep_line) + (
        '' if rep_line == line else f' ({line!r} is dealt as its suit-isomorphic {rep_line!r})'))
  return line, perm, histories.index(rep_line)


def assemble_report(game: Subgame, line: str, perm: tuple, d: int, policy: jax.Array,
                    reach: jax.Array, cfv: jax.Array) -> NodeReport:
  """The `NodeReport` of decision d (`locate`) from its passes' results:
  each hand's policy [H, A], both players' reaches [2, H] and the acting
  player's children's values [A, H] there."""
  p = int(game.dec_player[d])
  value = np.asarray(jnp.einsum('ah,ha->h', cfv, policy))
  own = np.asarray(reach[p])
  mass = np.asarray(_disjoint(game, jnp.asarray(reach)[1 - p][None]))[0]  # dealt against each hand
  norm = float(game.norm)
  here = np.flatnonzero(own > 0)
  slots = sorted(game.info.action_tokens[d])
  probs = np.asarray(policy)[here][:, slots]
  ev = np.divide(value[here] * norm, mass[here], out=np.zeros(len(here)),
                 where=mass[here] > 0)
  weight = own[here] / max(own[here].sum(), 1e-300)
  frequencies = weight @ probs
  total = float(own @ mass)
  names = [game.info.hands[h] for h in here]
  if perm != _IDENTITY:  # hand h at the representative is perm(h) at the line asked
    position = {n: k for k, n in enumerate(game.info.hands)}
    names = [cards_lib.hand_text(cards_lib.hand_index(
        *cards_lib.permute_suits(cards_lib.parse_cards(n), perm).tolist())) for n in names]
    order = np.argsort([position[n] for n in names], kind='stable')
    names, here, probs, ev = [names[k] for k in order], here[order], probs[order], ev[order]
  return NodeReport(
      history=line, player=p, actions=[game.info.action_tokens[d][s] for s in slots],
      hands=names, reach=own[here], probs=probs, ev=ev,
      frequencies=frequencies,
      node_ev=float(own @ value) * norm / total if total > 0 else float('nan'))


@functools.partial(heap.jit, static_argnums=(2, 3), forget=False,
                   compiler_options=compiler_options)
def _report_passes(game: Subgame, sigma: jax.Array, p: int, level: int, k: jax.Array) -> tuple:
  """(policy [H, A], reaches [2, H], player p's children's values [A, H]) at
  decision k of tree level `level`, for `node_report`; jitted (op by op, a
  turn subgame's passes take tens of seconds). Only that node's slices leave
  the program and the backward pass stops at its level: the whole tree's
  [D, H, A], [2, D, H] and [D, A, H] arrays held 8.5 GB on the flop config. p's own
  reaches are computed down to the node's level only."""
  policy = level_policies(game, sigma)
  opp_rows = reaches(game, policy, (1 - p,))
  own_rows = reaches(game, policy, (p,), depth=level)
  opp = _split_levels(game, opp_rows)[1][0]  # [T, H] at the terminals
  _, child = _backward(game, terminal_values(game, opp, p), policy, p, stop=level)
  nd = game.levels[level][1]
  at = lambda x: jax.lax.dynamic_index_in_dim(x, k, keepdims=False)
  both = (own_rows[level][0, :nd], opp_rows[level][0, :nd])[::1 if p == 0 else -1]
  return at(policy[level]), jnp.stack([at(r) for r in both]), at(child)


_DEALT = re.compile(r'/([2-9TJQKA][cdhs])/')


def representative_line(game: Subgame, history: str) -> tuple:
  """(the line of the node that stands for betting line `history` in the
  tree, the suit permutation p mapping it to `history`'s node: hand h there
  plays as hand p(h) in `history`). Without chance isomorphism, or on a line
  through representatives only, (history, identity). A card the line cannot
  deal leaves the line as it is (the caller reports it)."""
  group = getattr(game.info, 'suit_group', (_IDENTITY,))
  if len(group) == 1:
    return history, _IDENTITY
  dealt = cards_lib.parse_cards(game.info.spec['board'])  # cards of the representative
  perm, out, pos = _IDENTITY, [], 0
  for m in _DEALT.finditer(history):
    card = int(cards_lib.permute_suits(cards_lib.parse_card(m.group(1)),
                                       cards_lib.inverse_suits(perm)))
    deals = {k: (r, q) for k, r, q in _deals(dealt, group)}
    if card not in deals:
      return history, _IDENTITY
    rep, q = deals[card]
    perm = tuple(perm[q[s]] for s in range(4))  # the line's card is perm(q(rep))
    out.append(history[pos:m.start()] + '/' + cards_lib.card_text(rep) + '/')
    pos = m.end()
    dealt = dealt + [rep]
  return ''.join(out) + history[pos:], perm


def _unknown_line(game: Subgame, line: str) -> str:
  """The error for a line that names no decision node: where it goes wrong."""
  histories = game.info.decision_histories
  below = next((h for h in histories if line.endswith('/') and h.startswith(line)), None)
  if below is not None:  # 'kk/': the card is missing, not an action
    return (f'no decision node at betting line {line!r}: the card dealt goes between the '
            f"'/'s, as {below[:below.index('/', len(line)) + 1]}")
  known = max((h for h in histories if h != '-' and line.startswith(h)), key=len, default='-')
  d = histories.index(known)
  actions = [game.info.action_tokens[d][s] for s in sorted(game.info.action_tokens[d])]
  tokens = ', '.join(actions)
  last = line if known == '-' else line[len(known):]
  if last in actions:  # a legal action after which no one decides: "after 'b10' the
    # actions are f, c, ..." for 'b10c' named the action the line takes as missing
    if last == 'f':
      end = 'the fold ends the hand'
    elif any(h.startswith(line + '/') for h in histories):
      end = (f'{last!r} closes the street; the next decision follows the card dealt, as '
             f'{line}/Xx/')
    else:
      end = f'{last!r} ends the betting: the hand goes to showdown'
    return f'no decision node at betting line {line!r}: {end}'
  # The hint's example is the tree's first line through a dealt card (so a
  # card not on the board); a river subgame deals none.
  board = game.info.spec['board']
  dealt = next((h for h in histories if '/' in h), None)
  hint = ''
  if dealt is not None:
    hint = (f' (a dealt card follows a street-closing call as /Xx/, e.g. '
            f'"{dealt[:dealt.index("/", dealt.index("/") + 1) + 1]}")')
  elif '/' in line and len(cards_lib.parse_cards(board)) == 5:
    hint = f' (no card is dealt after the river {board}: a line has no /Xx/)'
  return (f'no decision node at betting line {line!r}; after {known!r} the actions are '
          f'{tokens}{hint}')
