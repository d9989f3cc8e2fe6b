"""River subgames in the public-tree x hands layout.

The betting tree is public and small; a player's private information is one
of H live hands (hold'em hands the board does not block). Reaches and values
are `[node, H]` range vectors; a terminal's value sums over the opponent's
hands with exact card removal as one dense matmul against a compatibility
(fold) or signed strength-comparison (showdown) matrix. Infoset `d * H + h`
is hand h at decision node d, so the CFR kernels, checkpoints and policies
work on it as on any other game.
"""
from __future__ import annotations

import dataclasses

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax.games.tree import GameInfo
from cfr_jax.holdem import cards as cards_lib

FOLD, CALL = 0, 1  # then one slot per bet/raise size, and all-in last


@dataclasses.dataclass(frozen=True)
class RiverSpec:
  """A river subgame. Player 0 acts first.

  board: five cards, e.g. "Ks 9s 8h 3d 2c".
  pot: chips in the pot (each player put in half); stack: effective stack behind.
  ranges: range text per player, e.g. ("KK,54:0.2", "QQ").
  bet_sizes: bets as fractions of the pot; raise_sizes: raises as fractions of
    the pot after calling; an all-in is always available; at most `max_raises`.
  """
  board: str
  pot: float
  stack: float
  ranges: tuple
  bet_sizes: tuple = (0.5, 1.0)
  raise_sizes: tuple = (1.0,)
  max_raises: int = 1


def _betting_tree(spec: RiverSpec):
  """Public tree, breadth first: decision nodes, then terminals.

  Returns (nodes, terminals) with node = (player, history, parent, slot) and
  terminal = (kind, contributions, parent, slot, history), kind in
  {'fold0', 'fold1', 'showdown'}.
  """
  half, widest = spec.pot / 2, max(len(spec.bet_sizes), len(spec.raise_sizes))
  all_in_slot = 2 + widest
  nodes, terminals = [], []
  frontier = [(0, (half, half), 0, '', -1, 0)]
  while frontier:
    nxt = []
    for player, (c0, c1), raises, hist, parent, slot in frontier:
      me = len(nodes)
      nodes.append((player, hist, parent, slot))
      mine, theirs = (c0, c1)[player], (c0, c1)[1 - player]
      cap = half + spec.stack

      def contrib(new_mine, player=player, theirs=theirs):
        return (new_mine, theirs) if player == 0 else (theirs, new_mine)

      if theirs > mine:  # facing a bet
        terminals.append((f'fold{player}', (c0, c1), me, FOLD, hist + 'f'))
        terminals.append(('showdown', contrib(theirs), me, CALL, hist + 'c'))
        sizes = spec.raise_sizes if raises < spec.max_raises else ()
        base = 2 * theirs  # the pot after calling
      else:
        if player == 1:  # checking behind closes the street
          terminals.append(('showdown', (c0, c1), me, CALL, hist + 'k'))
        else:
          nxt.append((1, (c0, c1), raises, hist + 'k', me, CALL))
        sizes, base = spec.bet_sizes, c0 + c1
      if theirs < cap and (theirs == mine or raises < spec.max_raises):
        targets = {}
        for k, f in enumerate(sizes):
          amount = theirs + f * base
          if amount < cap:
            targets.setdefault(amount, 2 + k)
        targets[cap] = all_in_slot
        for amount, s in sorted(targets.items()):
          label = 'a' if s == all_in_slot else f'b{amount - theirs:g}'
          nxt.append((1 - player, contrib(amount), raises + (theirs > mine), hist + label,
                      me, s))
    frontier = nxt
  return nodes, terminals


@struct.dataclass
class RiverGame:
  """A compiled river subgame: D decision nodes, T terminals, H hands, A slots.

    node_legal: [D, A] bool; node_player: [D] int32.
    child: [D, A] int32, a decision node d' or D + terminal; -1 where illegal.
    fold_sign: [T] +1 where player 1 folded, -1 where player 0 did, 0 at showdown.
    stake: [T] what the loser of that terminal put in (player 0's win or loss).
    prior: [2, H] range weights of the live hands.
    compat: [H, H] 1.0 where two hands share no card.
    versus: [H, H] sign(strength(h) - strength(h')) on compatible pairs, else 0.
    norm: [] weight of all compatible deals, prior0 . compat . prior1.
    legal, infoset_player: [D * H, A], [D * H], the infoset view the solver uses.
  Static (the public tree, unrolled at trace time): `parents[n - 1] =
  (parent, slot, mover)` for every non-root node n of the D + T, breadth
  first; `children[d]` the row of `child`; `movers[d]` who acts at d.
  """
  node_legal: jax.Array
  node_player: jax.Array
  child: jax.Array
  fold_sign: jax.Array
  stake: jax.Array
  prior: jax.Array
  compat: jax.Array
  versus: jax.Array
  norm: jax.Array
  legal: jax.Array
  infoset_player: jax.Array
  parents: tuple = struct.field(pytree_node=False)
  children: tuple = struct.field(pytree_node=False)
  movers: tuple = struct.field(pytree_node=False)
  info: GameInfo = struct.field(pytree_node=False)

  @property
  def num_nodes(self) -> int:
    return self.node_legal.shape[0]

  @property
  def num_hands(self) -> int:
    return self.prior.shape[1]

  @property
  def num_infosets(self) -> int:
    return self.legal.shape[0]

  @property
  def num_actions(self) -> int:
    return self.legal.shape[1]

  @property
  def name(self) -> str:
    return self.info.name

  def astype(self, dtype) -> 'RiverGame':
    cast = lambda x: x.astype(dtype)
    return self.replace(fold_sign=cast(self.fold_sign), stake=cast(self.stake),
                        prior=cast(self.prior), compat=cast(self.compat),
                        versus=cast(self.versus), norm=cast(self.norm))


def compile_river(spec: RiverSpec) -> RiverGame:
  """Compiles a river subgame; hand strengths come from phevaluator."""
  board = cards_lib.parse_cards(spec.board)
  if len(board) != 5:
    raise ValueError(f'a river subgame needs a 5-card board, got {spec.board!r}')
  if not spec.pot > 0 or spec.stack < 0 or len(spec.ranges) != 2:
    raise ValueError('a river subgame needs pot > 0, stack >= 0 and two ranges')
  live = np.flatnonzero(~cards_lib.blocked_by(board))
  prior = np.stack([cards_lib.parse_range(r)[live] for r in spec.ranges])
  if (prior.sum(1) == 0).any():
    raise ValueError('a range is empty once the board cards are removed')
  strength = cards_lib.hand_strength(board)[live]
  compat = ~cards_lib.hands_conflict()[np.ix_(live, live)]
  versus = np.sign(strength[:, None] - strength[None, :]) * compat
  norm = prior[0] @ compat @ prior[1]
  if norm <= 0:
    raise ValueError('the two ranges block each other completely')

  nodes, terminals = _betting_tree(spec)
  num_d, num_h = len(nodes), len(live)
  num_a = 3 + max(len(spec.bet_sizes), len(spec.raise_sizes))
  child = np.full((num_d, num_a), -1, np.int32)
  parents = []
  for n, (_, _, parent, slot) in enumerate(nodes[1:], 1):
    child[parent, slot] = n
    parents.append((parent, slot, nodes[parent][0]))
  for t, (_, _, parent, slot, _) in enumerate(terminals):
    child[parent, slot] = num_d + t
    parents.append((parent, slot, nodes[parent][0]))
  node_legal = child >= 0
  node_player = np.array([n[0] for n in nodes], np.int32)
  hands = [cards_lib.hand_text(h) for h in live]
  keys = [f'{hist or "-"}|{hand}' for _, hist, _, _ in nodes for hand in hands]
  labels = ['fold', 'check/call'] + [f'size{k}' for k in range(num_a - 3)] + ['all-in']
  info = GameInfo(name=f'river({spec.board})', spec={'game': 'river', **dataclasses.asdict(spec)},
                  infoset_keys=keys, action_labels=range(num_a), openspiel_name=None)
  info.action_names = labels
  info.terminal_histories = [t[4] for t in terminals]
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  return RiverGame(
      node_legal=jnp.asarray(node_legal), node_player=jnp.asarray(node_player),
      child=jnp.asarray(child),
      fold_sign=f32([{'fold1': 1, 'fold0': -1}.get(t[0], 0) for t in terminals]),
      stake=f32([t[1][0] if t[0] == 'fold0' else t[1][1] for t in terminals]),
      prior=f32(prior), compat=f32(compat), versus=f32(versus), norm=f32(norm),
      legal=jnp.asarray(np.repeat(node_legal, num_h, axis=0)),
      infoset_player=jnp.asarray(np.repeat(node_player, num_h)),
      parents=tuple(parents), children=tuple(map(tuple, child.tolist())),
      movers=tuple(node_player.tolist()), info=info)


# ----------------------------------------------------------------------------
# Passes, vectorised over hands; the public tree is small and unrolled.


def reaches(game: RiverGame, policy: jax.Array) -> jax.Array:
  """[2, D + T, H] each player's prior times their own action probabilities.

  policy: [D, H, A]."""
  rows = [game.prior.astype(policy.dtype)]
  for parent, slot, mover in game.parents:
    r = rows[parent]
    rows.append(r.at[mover].multiply(policy[parent, :, slot]))
  return jnp.stack(rows, axis=1)


def terminal_values(game: RiverGame, opp_reach: jax.Array, player: int) -> jax.Array:
  """[T, H] `player`'s value at each terminal holding each hand, against the
  opponent's reach [T, H] there; divided by the total deal weight."""
  sign = 1.0 if player == 0 else -1.0
  folds = (opp_reach @ game.compat) * (sign * game.fold_sign)[:, None]
  # versus is antisymmetric, so the same product serves both seats.
  showdowns = opp_reach @ game.versus.T
  value = jnp.where((game.fold_sign == 0)[:, None], showdowns, folds)
  return value * game.stake[:, None] / game.norm


def _backward(game: RiverGame, leaf: jax.Array, combine) -> jax.Array:
  """[D, H] node values bottom up; combine(d, child_values [A, H]) -> [H]."""
  num_d = game.num_nodes
  values = [None] * num_d + list(leaf)
  zero = jnp.zeros_like(leaf[0])
  for d in range(num_d - 1, -1, -1):
    values[d] = combine(d, jnp.stack([values[c] if c >= 0 else zero
                                      for c in game.children[d]]))
  return values


def cfr_pass(game: RiverGame, sigma: jax.Array, player: int | None = None):
  """Counterfactual values [I, A] and own reaches [I] of every infoset's owner.

  sigma: [I, A] with I = D * H. Each player's values are computed in their
  own pass; `player` restricts the work to one of them (alternating updates).
  """
  num_d, num_h, num_a = game.num_nodes, game.num_hands, game.num_actions
  policy = sigma.reshape(num_d, num_h, num_a)
  reach = reaches(game, policy)
  zero = jnp.zeros((num_h,), sigma.dtype)
  rows = [jnp.zeros((num_a, num_h), sigma.dtype)] * num_d
  for p in ((0, 1) if player is None else (player,)):
    leaf = terminal_values(game, reach[1 - p, num_d:], p)

    def combine(d, child_values, p=p):
      if game.movers[d] == p:
        return jnp.einsum('ah,ha->h', child_values, policy[d])
      return child_values.sum(0)  # the opponent's probabilities are in its reach

    values = _backward(game, leaf, combine)
    for d in range(num_d):
      if game.movers[d] == p:
        rows[d] = jnp.stack([values[c] if c >= 0 else zero for c in game.children[d]])
  cfv = jnp.stack(rows).transpose(0, 2, 1).reshape(num_d * num_h, num_a)
  own = reach[np.asarray(game.movers), np.arange(num_d)]  # [D, H]
  return cfv, own.reshape(-1)


def best_response_value(game: RiverGame, sigma: jax.Array, player: int) -> jax.Array:
  """[] `player`'s expected value best responding to the other's part of sigma."""
  num_d, num_h, num_a = game.num_nodes, game.num_hands, game.num_actions
  policy = sigma.reshape(num_d, num_h, num_a)
  reach = reaches(game, policy)
  leaf = terminal_values(game, reach[1 - player, num_d:], player)

  def combine(d, child_values):
    if game.movers[d] == player:
      legal = np.asarray(game.children[d]) >= 0
      return child_values[legal].max(0)
    return child_values.sum(0)

  return _backward(game, leaf, combine)[0] @ game.prior[player]


def game_value(game: RiverGame, sigma: jax.Array) -> jax.Array:
  """[] player 0's expected value when both follow sigma [I, A]."""
  cfv, _ = cfr_pass(game, sigma, player=0)
  num_d, num_h, num_a = game.num_nodes, game.num_hands, game.num_actions
  root = (cfv.reshape(num_d, num_h, num_a)[0] * sigma.reshape(num_d, num_h, num_a)[0]).sum(-1)
  return root @ game.prior[0]
