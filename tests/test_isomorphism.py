"""Chance (suit) isomorphism in hold'em subgames: the tree deals one card per
suit class, and what it computes is what the full tree computes.

Exactness is checked where it is exact: for any policy, the isomorphic tree's
game value, best responses and node reports equal the full tree's for the
same policy (lifted: each dealt card's subtree plays its representative's
strategy through the suit permutation), to rounding. Two solves, one per
tree, agree to rounding only for their first iterations: regret matching
jumps where a regret that is zero in exact arithmetic comes out +-1e-17 in
one and 0 in the other (as in test_subgame's sharded test); then both
converge, and their values agree within their exploitabilities.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip('phevaluator')

import cfr_jax  # pylint: disable=g-import-not-at-top
from cfr_jax import checkpoint  # pylint: disable=g-import-not-at-top
from cfr_jax import holdem  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import cards  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
from cfr_jax.training import resume  # pylint: disable=g-import-not-at-top

# Two spades and two hearts: clubs and diamonds are interchangeable, and these
# ranges (whole classes) weigh a hand and its image alike.
TURN = subgame.SubgameSpec(board='Ks 9s 8h 3h', pot=10, stack=15,
                           ranges=('KQ,98s,A8s:0.5,33', 'AK,QQ,T9s,44'),
                           bet_sizes=((1.0,), (0.75,)), raise_sizes=(), max_raises=0)


def _perms(board):
  return cards.suit_symmetries(cards.parse_cards(board))


def test_suit_groups_of_example_boards():
  assert len(_perms('Kh 9h 8h')) == 6  # monotone: the three other suits permute
  assert _perms('Td 9d 6h') == [(0, 1, 2, 3), (3, 1, 2, 0)]  # two-tone: clubs<->spades
  assert len(_perms('As Kh 7d')) == 1  # rainbow: one suit absent, nothing to swap
  assert _perms('9c 9d 5h') == [(0, 1, 2, 3), (1, 0, 2, 3)]  # a pair's suits swap
  assert len(_perms('Ks 9s 8h 3d')) == 1 and len(_perms('Ks 9s 8h 3h')) == 2
  assert cards.suit_text(_perms('Kh 9h 8h')) == 'clubs, diamonds and spades'
  # The flop config's ranges keep its board's symmetry; one exact hand breaks it.
  from cfr_jax.configs import holdem_flop  # pylint: disable=g-import-not-at-top
  config = holdem_flop.get_config().holdem
  board = cards.parse_cards(config.board)
  ranges = [cards.parse_range(r) for r in (config.range0, config.range1)]
  assert len(cards.suit_symmetries(board, ranges)) == 2
  assert len(cards.suit_symmetries(board, ranges + [cards.parse_range('AcKc')])) == 1
  # The monotone flop's group shrinks below a turn card of another suit.
  monotone = cards.parse_cards('Kh 9h 8h')
  deals = subgame._deals(monotone, _perms('Kh 9h 8h'))  # pylint: disable=protected-access
  assert len({rep for _, rep, _ in deals}) == 10 + 13  # hearts alone, other suits by rank
  below = subgame._deals(monotone + [cards.parse_card('2c')], _perms('Kh 9h 8h'))  # pylint: disable=protected-access
  assert len({rep for _, rep, _ in below}) == 10 + 12 + 13  # diamonds<->spades remain


@functools.cache  # the same Subgame objects: jitted evaluations compile once per module
def _pair(spec=TURN):
  iso = subgame.compile_subgame(spec)
  plain = subgame.compile_subgame(dataclasses.replace(spec, isomorphism=False))
  return iso, plain


def _lift(iso, plain, probs):
  """[plain rows, A] the policy the full tree plays when the isomorphic tree
  plays probs: each line's node plays its representative's hands mapped back."""
  played = np.asarray(subgame.hand_policy(iso.astype(jnp.float64), jnp.asarray(probs)))
  name = {n: k for k, n in enumerate(iso.info.hands)}
  out = np.zeros((plain.num_infosets, plain.num_actions))
  rows = {line: d for d, line in enumerate(iso.info.decision_histories)}

  @functools.cache
  def hands_of(perm):  # each full-tree hand's hand at the representative
    inverse = cards.inverse_suits(perm)
    return [name[cards.hand_text(cards.hand_index(*cards.permute_suits(
        cards.parse_cards(h), inverse).tolist()))] for h in plain.info.hands]

  start, player = plain.row_start, np.asarray(plain.dec_player)
  for d, line in enumerate(plain.info.decision_histories):
    rep, perm = subgame.representative_line(iso, line)
    mine = np.asarray(plain.range_hands[player[d]])  # the rows: the acting player's hands
    out[start[d]:start[d + 1]] = played[rows[rep], np.asarray(hands_of(perm))[mine]]
  return out


def _random(game, seed):
  rng = np.random.default_rng(seed)
  p = rng.random(game.legal.shape) * np.asarray(game.legal)
  return p / p.sum(1, keepdims=True)


def test_isomorphic_tree_is_smaller_and_computes_the_full_trees_values():
  iso, plain = _pair()
  assert iso.info.isomorphism.startswith('on: clubs and diamonds are interchangeable')
  assert plain.info.isomorphism.startswith('off (isomorphism=False)')
  assert iso.num_decisions < 0.8 * plain.num_decisions and iso.num_hands == plain.num_hands
  # The root's chance nodes still deal all 48 cards, through 13 + 11 + 11 children.
  c = np.asarray(iso.chance_card)[0]
  assert sorted(c) == sorted(np.asarray(plain.chance_card)[0])
  assert len(set(np.asarray(iso.chance_child)[0])) == 35 < len(c) == 48
  # Any policy (random, hence asymmetric rows: the tree plays them symmetrised):
  # the same value and best responses as the full tree playing it.
  for seed in (0, 1):
    probs = _random(iso, seed)
    lifted = _lift(iso, plain, probs)
    value, full = cfr_jax.game_value(iso, probs), cfr_jax.game_value(plain, lifted)
    assert value == pytest.approx(full, rel=1e-12) and abs(value) > 0.1
    assert cfr_jax.nash_conv(iso, probs) == pytest.approx(cfr_jax.nash_conv(plain, lifted),
                                                          rel=1e-12)
  # A line through a non-representative card: the representative's node, its
  # hands mapped back (clubs -> diamonds).
  assert subgame.representative_line(iso, 'b10c/2d/k') == ('b10c/2c/k', (1, 0, 2, 3))
  assert subgame.representative_line(iso, 'b10c/2c/k') == ('b10c/2c/k', (0, 1, 2, 3))
  assert 'b10c/2d/' not in iso.info.decision_histories
  mine, full = (subgame.node_report(g, p, 'b10c/2d/') for g, p in ((iso, probs), (plain, lifted)))
  assert mine.history == 'b10c/2d/' and mine.hands == full.hands
  assert any('d' in h and 'c' not in h for h in mine.hands)  # diamonds, not clubs
  for field in ('reach', 'probs', 'ev', 'frequencies'):
    np.testing.assert_allclose(getattr(mine, field), getattr(full, field), rtol=1e-9, atol=1e-12)
  assert mine.node_ev == pytest.approx(full.node_ev, rel=1e-9)
  with pytest.raises(ValueError, match="dealt as its suit-isomorphic 'b10c/2c/b7.5'"):
    subgame.node_report(iso, probs, 'b10c/2d/b7.5')


@pytest.mark.slow  # suite time: see README "Two commands"
def test_isomorphic_and_full_solves_agree():
  iso, plain = _pair()
  a, b = (cfr_jax.make_solver(g, 'dcfr', dtype='float64') for g in (iso, plain))
  whole = dataclasses.replace(a, fused=False)  # the whole-tree passes, with isomorphism
  start = plain.row_start
  rows = np.concatenate([np.arange(start[d], start[d + 1])
                         for d in map(plain.info.decision_histories.index,
                                      iso.info.decision_histories)])
  # The first iterations agree to rounding (no regret has crossed zero apart).
  sa, sb = a.run(a.init(), 2), b.run(b.init(), 2)
  np.testing.assert_allclose(np.asarray(a.table(sa.regrets)),
                             np.asarray(b.table(sb.regrets))[rows], rtol=0, atol=1e-12)
  assert np.abs(np.asarray(sa.regrets)).max() > 0.01
  # The fused half step computes what the whole-tree passes do, bit for bit
  # (chance gathers and symmetrised policies included), chunked or not.
  sa, sw = a.run(sa, 28), whole.run(whole.init(), 30)
  for name in ('regrets', 'strategy_sum'):
    np.testing.assert_array_equal(np.asarray(getattr(sa, name)), np.asarray(getattr(sw, name)))
  sa, sb = a.run(sa, 70), b.run(sb, 98)
  pa, pb = a.average_policy(sa), b.average_policy(sb)
  ea, eb = cfr_jax.exploitability(iso, pa), cfr_jax.exploitability(plain, pb)
  assert max(ea, eb) < 0.005 * TURN.pot
  # What the isomorphic solve reports is true of the full game, to rounding...
  lifted = _lift(iso, plain, pa.probs)
  assert ea == pytest.approx(cfr_jax.exploitability(plain, lifted), rel=1e-9)
  va = cfr_jax.game_value(iso, pa)
  assert va == pytest.approx(cfr_jax.game_value(plain, lifted), rel=1e-9)
  # ...and both solves' values lie within their exploitabilities of the game's.
  assert abs(va - cfr_jax.game_value(plain, pb)) <= 2 * (ea + eb)
  # The exported rows are the ones played: a hand and its image alike.
  perm = cards.permute_hands((1, 0, 2, 3))
  name = {n: k for k, n in enumerate(iso.info.hands)}
  image = np.array([name[cards.hand_text(perm[cards.hand_index(*cards.parse_cards(h))])]
                    for h in iso.info.hands])
  mine = np.asarray(iso.range_hands[0])  # the root's rows: player 0's hands
  image = np.asarray(iso.range_pos[0])[image[mine]]  # images stay in the range
  assert (image >= 0).all()
  root = pa.probs[:iso.row_start[1]]
  np.testing.assert_allclose(root, root[image], rtol=0, atol=1e-15)


@pytest.mark.slow  # suite time: see README "Two commands"
def test_symmetry_breaking_ranges_or_buckets_turn_it_off():
  broken = subgame.compile_subgame(dataclasses.replace(
      TURN, ranges=('KQ,98s,A8s:0.5,33', 'AK,QQ,T9s,44,AcQc')))
  assert broken.info.isomorphism.startswith(
      'off: clubs and diamonds are interchangeable on the board, but the ranges')
  assert broken.chance_perm is None and 'isomorphism' not in broken.info.spec
  # Lossless buckets are symmetric: it stays on, and agrees with the full tree.
  iso, plain = _pair.__wrapped__(dataclasses.replace(TURN, buckets={'method': 'iso'}))
  assert iso.info.isomorphism.startswith('on') and iso.num_decisions < plain.num_decisions
  uniform = lambda g: np.asarray(g.legal) / np.asarray(g.legal).sum(1, keepdims=True)
  assert cfr_jax.exploitability(iso, uniform(iso)) == pytest.approx(
      cfr_jax.exploitability(plain, uniform(plain)), rel=1e-12)
  # A river deals no card; a board without interchangeable suits has nothing to merge.
  assert subgame.compile_subgame(dataclasses.replace(  # (one street: one list of sizes)
      TURN, board='Ks 9s 8h 3h 2c', bet_sizes=(1.0,))).info.isomorphism.startswith('none')
  assert subgame.compile_subgame(dataclasses.replace(
      TURN, board='Ks 9s 8h 3d')).info.isomorphism.startswith('none')


def test_isomorphic_and_full_checkpoints_never_mix(tmp_path):
  iso, plain = _pair()
  solvers = [cfr_jax.make_solver(g, 'dcfr') for g in (iso, plain)]
  describe = [s.describe() for s in solvers]
  assert describe[0]['game']['isomorphism'] == 'clubs and diamonds'
  # Without isomorphism the fingerprint is what it was before the option existed.
  assert 'isomorphism' not in describe[1]['game']
  fp = [checkpoint.make_fingerprint(**d) for d in describe]
  assert fp[0] != fp[1]
  with checkpoint.CheckpointStore(str(tmp_path), fingerprint=fp[0]) as store:
    store.save(solvers[0].init(), 0, {'describe': describe[0]})
  with checkpoint.CheckpointStore(str(tmp_path), fingerprint=fp[1]) as store:
    state, report = store.restore(solvers[1].abstract_state())
  assert state is None and [c.status for c in report.candidates] == ['foreign']
  reasons = resume._foreign_reasons(report.candidates[0], solvers[1])  # pylint: disable=protected-access
  assert any('one card per suit class (clubs and diamonds interchangeable)' in r
             and '--config.holdem.isomorphism=true' in r for r in reasons), reasons
