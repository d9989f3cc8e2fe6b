"""Hold'em subgames (public tree x hands): values against brute-force enumeration."""
import dataclasses
import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip('phevaluator')

import cfr_jax  # pylint: disable=g-import-not-at-top
from cfr_jax import holdem  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import lines as lines_lib  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import split as subgame_split  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top

BOARD = 'Ks 9s 8h 3d 2c'
# Player 0: nuts (a set of kings) or air (5-high); player 1: bluff-catchers (queens).
POLARISED = subgame.SubgameSpec(board=BOARD, pot=10, stack=10, ranges=('KK,54:0.1875', 'QQ'),
                                bet_sizes=(1.0,), raise_sizes=(), max_raises=0)
MIXED = subgame.SubgameSpec(board=BOARD, pot=10, stack=25,
                            ranges=('KQ,98s,A8s,33:0.5', 'AK,QQ,T9s'),
                            bet_sizes=(0.5, 1.0), raise_sizes=(1.0,), max_raises=1)
# A turn: one bet size, so the brute force below stays quick; an all-in is
# called on the turn in some lines (a river dealt with no betting).
TURN = subgame.SubgameSpec(board='Ks 9s 8h 3d', pot=10, stack=15,
                           ranges=('KQ,98s,A8s:0.5,33', 'AK,QQ,T9s,44'),
                           bet_sizes=((1.0,), (0.75,)), raise_sizes=(), max_raises=0)


def random_policy(game, seed):
  rng = np.random.default_rng(seed)
  legal = np.asarray(game.legal)
  p = rng.random(legal.shape) * legal
  return p / p.sum(1, keepdims=True)


def brute_force_values(game, spec, sigma):
  """[2] each player's expected value: every deal of two disjoint hands and
  every runout, walking the public tree as built (before level ordering).
  Rake as postflop-solver takes it: min(rate x pot, cap) of the pot both
  matched, paid by the winner, split by a tie."""
  board = holdem.parse_cards(spec.board)
  priors = [holdem.parse_range(r) for r in spec.ranges]
  nodes = subgame._public_tree(spec, board)  # pylint: disable=protected-access
  children = [[] for _ in nodes]
  for i, n in enumerate(nodes[1:], 1):
    children[n.parent].append(i)
  index = game.info.infoset_index
  strength = {}
  total, weight = np.zeros(2), 0.0
  live = np.flatnonzero(~holdem.blocked_by(board))
  cap = np.inf if spec.rake_cap is None else spec.rake_cap
  rake = lambda stake: min(spec.rake_rate * 2 * stake, cap)

  def won_by(winner, stake):  # [2] net payoffs; winner None: a tie
    if winner is None:
      return np.full(2, -rake(stake) / 2)
    out = np.full(2, -stake)
    out[winner] = stake - rake(stake)
    return out

  for h0, h1 in itertools.product(live, live):
    w = priors[0][h0] * priors[1][h1]
    if w == 0 or set(holdem.HANDS[h0]) & set(holdem.HANDS[h1]):
      continue
    hands = (h0, h1)
    dead = set(holdem.HANDS[h0]) | set(holdem.HANDS[h1])

    def walk(i):
      n = nodes[i]
      if n.kind == 2:  # fold: the folder loses what it put in
        return won_by(1 - n.player, n.contrib[n.player])
      if n.kind == 3:
        key = tuple(sorted(board + list(n.runout)))
        if key not in strength:
          strength[key] = holdem.hand_strength(list(key))
        order = np.sign(strength[key][h0] - strength[key][h1])
        return won_by(None if order == 0 else int(order < 0), n.contrib[1])
      if n.kind == 1:
        live_children = [c for c in children[i] if nodes[c].slot not in dead]
        return sum(walk(c) for c in live_children) / len(live_children)
      probs = sigma[index[f'{n.history}|{holdem.hand_text(hands[n.player])}']]
      return sum(probs[nodes[c].slot] * walk(c) for c in children[i])

    total += w * walk(0)
    weight += w
  return total / weight


@pytest.mark.parametrize('spec', [POLARISED, MIXED, TURN], ids=['polarised', 'mixed', 'turn'])
def test_game_value_matches_enumeration(spec):
  game = subgame.compile_subgame(spec)
  for seed in (0, 1):
    sigma = random_policy(game, seed)
    assert cfr_jax.game_value(game, sigma) == pytest.approx(
        brute_force_values(game, spec, sigma)[0], abs=1e-9)


RAKED = dict(rake_rate=0.05, rake_cap=1.0)  # capped in the bigger pots of these specs


@pytest.mark.parametrize('spec', [POLARISED, MIXED, TURN], ids=['polarised', 'mixed', 'turn'])
def test_raked_values_match_enumeration(spec):
  """With rake, each player's value (they no longer sum to zero) is the
  enumeration's, and the rake was charged: capped in some pots, not others."""
  spec = dataclasses.replace(spec, **RAKED)
  game = subgame.compile_subgame(spec).astype(jnp.float64)
  stake = np.asarray(game.stake)
  assert (0.1 * stake > 1).any() and (0.1 * stake < 1).any()  # the cap binds somewhere
  np.testing.assert_allclose(np.asarray(game.rake) * stake, np.minimum(0.1 * stake, 1.0))
  sigma = random_policy(game, 0)
  values = [cfr_jax.game_value(game, sigma, p) for p in (0, 1)]
  # The rake's fractions of the stakes are built in float32 (0.05 is not a
  # float32): ~1e-8 of the values, where the rake-free values agree to 1e-9.
  np.testing.assert_allclose(values, brute_force_values(game, spec, sigma), rtol=1e-6)
  assert sum(values) < -1e-3  # the house's share


@pytest.mark.parametrize('board', [
    # ~18 s each; the isomorphic board goes through the same passes and its
    # representative cards too, so the plain turn is slow for the suite's time.
    pytest.param('Ks 9s 8h 3d', marks=pytest.mark.slow), 'Ks 9s 8h 3h'],
    ids=['turn', 'isomorphic'])
def test_expected_rake_is_minus_the_sum_of_the_values(board, monkeypatch):
  """The exploitability's rake term, from forward passes of both players'
  reaches alone (whole levels, and in split passes a best response's), is
  minus the sum of the two values that the backward passes compute, with
  chance isomorphism too (where a representative card stands for its suit
  class)."""
  spec = dataclasses.replace(TURN, board=board, **RAKED)
  game = subgame.compile_subgame(spec).astype(jnp.float64)
  assert game.info.isomorphism.startswith('on') == board.endswith('h'), game.info.isomorphism
  sigma = jnp.asarray(random_policy(game, 2))
  whole = [float(cfr_jax.game_value(game, sigma, p)) for p in (0, 1)]
  values = sum(whole)
  assert values < -1e-3  # the house's share
  paid = float(jax.jit(subgame.expected_rake)(game, sigma))
  assert paid == pytest.approx(-values, rel=1e-12)
  # The split passes take it from player 0's best response's forward passes.
  parts = subgame_split.split_subgame(game, 1)
  responses = float(jax.jit(lambda sigma: sum(  # one program, not ~600 op by op
      subgame.best_response_value(game, sigma, p) for p in (0, 1)))(sigma))
  assert float(jax.jit(subgame_split.nash_conv)(parts, sigma)) == pytest.approx(
      responses - values, rel=1e-12)
  if not board.endswith('h'):  # (once: each case compiles its own split programs)
    # Game values of a game big enough for split passes are computed split too.
    monkeypatch.setattr(subgame_split, 'BIG_BYTES', 0)
    assert subgame_split.is_big(game)
    np.testing.assert_allclose([cfr_jax.game_value(game, sigma, p) for p in (0, 1)], whole,
                               rtol=1e-12)
  plain = subgame.compile_subgame(dataclasses.replace(spec, rake_rate=0.0))
  assert float(jax.jit(subgame.expected_rake)(plain, random_policy(plain, 2))) == 0.0


def test_rake_is_off_by_default_and_leaves_fingerprints_alone():
  """rake_rate 0 builds the game it always built (no rake array, the same
  spec in its fingerprint, so runs from before rake keep loading); a raked
  spec is another game."""
  plain = subgame.compile_subgame(MIXED)
  assert plain.rake is None and 'rake_rate' not in plain.info.spec
  capped_off = subgame.compile_subgame(dataclasses.replace(MIXED, rake_cap=3.0))
  assert capped_off.info.spec == plain.info.spec  # a cap without a rate takes nothing
  raked = subgame.compile_subgame(dataclasses.replace(MIXED, **RAKED))
  assert raked.info.spec == {**plain.info.spec, 'rake_rate': 0.05, 'rake_cap': 1.0}
  fingerprint = lambda g: cfr_jax.make_solver(g, 'dcfr').describe()
  assert fingerprint(raked) != fingerprint(plain)


def test_raked_turn_solves_and_its_split_passes_agree():
  """CFR on a raked turn drives the (general-sum) exploitability down, and
  the split passes (a dealt card's levels at a time) give the whole-level
  passes' exploitability; a random policy's NashConv is positive."""
  game = subgame.compile_subgame(dataclasses.replace(TURN, **RAKED))
  sigma = jnp.asarray(random_policy(game, 1), jnp.float32)
  parts = subgame_split.split_subgame(game, 1)
  whole = float(jax.jit(subgame.nash_conv)(game, sigma))  # one program, not ~900 op by op
  assert whole > 0.1
  assert float(jax.jit(subgame_split.nash_conv)(parts, sigma)) == pytest.approx(whole, rel=1e-5)
  for subtrees in (0, 1):
    solver = cfr_jax.make_solver(game, 'dcfr', subtrees=subtrees)
    state = solver.run(solver.init(), 300)
    assert solver.exploitability(state) < 0.001 * TURN.pot  # 0.016% of the pot measured
    # Float32 values of a few chips: equal to ~1e-7 chips (the split
    # passes average isomorphic deals' rows themselves; see its docstring).
    assert solver.exploitability(state) == pytest.approx(
        cfr_jax.exploitability(game, solver.average_policy(state)), abs=1e-5)


@pytest.mark.parametrize('spec', [MIXED, TURN], ids=['river', 'turn'])
def test_terminal_values_are_zero_sum(spec):
  """Player 1's pass sees exactly the negative of player 0's game value."""
  game = subgame.compile_subgame(spec).astype(jnp.float64)

  @jax.jit  # one program: op by op, the turn took ~50 s of dispatch and small compiles
  def values(sigma):
    policy = subgame.level_policies(game, sigma)
    _, term = subgame._split_levels(game, subgame.reaches(game, policy))  # pylint: disable=protected-access
    return [subgame._backward(game, subgame.terminal_values(game, term[1 - p], p), policy, p)[0]  # pylint: disable=protected-access
            @ game.prior[p] for p in (0, 1)]
  values = values(jnp.asarray(random_policy(game, 3)))
  assert float(values[0]) == pytest.approx(-float(values[1]), abs=1e-12)
  assert abs(float(values[0])) > 1e-3  # not trivially zero


def test_sweep_and_fold_sums_match_dense_card_removal():
  """The O(H) showdown sweep and fold sums equal the dense O(H^2) sums over
  disjoint hands, for random opponent reaches, ties included."""
  spec = subgame.SubgameSpec(board=BOARD, pot=10, stack=10,
                             ranges=('22+,A2+,K2+,Q2+,J2+,T2+,92+', 'QQ'))
  game = subgame.compile_subgame(spec).astype(jnp.float64)
  idx = np.array([holdem.hand_index(*holdem.parse_cards(h)) for h in game.info.hands])
  strength = holdem.hand_strength(holdem.parse_cards(BOARD))[idx]
  compat = ~holdem.hands_conflict()[np.ix_(idx, idx)]
  versus = np.sign(strength[:, None] - strength[None, :]) * compat
  assert (strength[:, None] == strength[None, :])[compat].sum() > len(idx)  # ties exist
  rng = np.random.default_rng(0)
  for p, (first, end) in enumerate(game.range_span):
    # The opponent p's reaches: zero outside her range, as in the game (the
    # sweep lays out her range's hands alone).
    opp = rng.random((3, game.num_hands)) * (rng.random((3, game.num_hands)) > 0.2)
    opp[:, :first], opp[:, end:] = 0, 0
    sweep = jax.jit(subgame._board_sweep, static_argnums=3)(  # pylint: disable=protected-access
        game, jnp.asarray(opp), jnp.asarray(0), p)
    np.testing.assert_allclose(sweep, opp @ versus.T, atol=1e-9)
  # Folds: the opponent weight dealt against each hand is the disjoint weight.
  fold = np.asarray(jax.jit(subgame._disjoint)(game, jnp.asarray(opp)))  # pylint: disable=protected-access
  np.testing.assert_allclose(fold, opp @ compat.T, atol=1e-9)
  # The level-grouped sweep at the tree's showdowns equals the dense sums too:
  # every showdown of this river is on board 0, in groups by level.
  values = jax.jit(subgame.terminal_values, static_argnums=2)(  # one program, not op by op
      game, jnp.asarray(np.resize(opp, (game.stake.shape[0], game.num_hands))), 0)
  shows = np.asarray(game.show_terms)
  scale = (np.asarray(game.stake) / float(game.norm))[shows, None]
  dense = np.resize(opp, (game.stake.shape[0], game.num_hands))[shows] @ versus.T
  np.testing.assert_allclose(np.asarray(values)[shows], dense * scale, atol=1e-9)


def test_a_band_of_levels_shares_one_sweep_table():
  """Showdowns are swept per band of levels (`sweep_bands`): on the turn spec
  the two shallower showdown levels share one band (so the enumeration and
  bit-equality tests run through a shared sweep), and every showdown's slot
  finds it, on its board, in its band's group table."""
  game = subgame.compile_subgame(TURN)
  bands = subgame.sweep_bands(game.levels, game.splits)
  shows = [l for l, ((_, _, _, nt), (_, nf)) in enumerate(zip(game.levels, game.splits))
           if nt > nf]
  assert [l for first, end in bands for l in range(first, end) if l in shows] == shows
  assert max(end - first for first, end in bands) > 1 and len(bands) < len(shows)
  group_term, group_board = np.asarray(game.sd_group_term), np.asarray(game.sd_group_board)
  slot, board = np.asarray(game.sd_slot), np.asarray(game.term_board)
  for (first, end), (num_g, m, g0, s0) in zip(bands, game.sd_groups):
    b0 = game.offsets[first][2]
    for l in range(first, end):
      t0, nf, nt = game.offsets[l][2], game.splits[l][1], game.levels[l][3]
      t = np.arange(t0 + nf, t0 + nt)
      assert (slot[t] < num_g * m).all()
      np.testing.assert_array_equal(group_term[s0 + slot[t]], t - b0)
      np.testing.assert_array_equal(group_board[g0 + slot[t] // m], board[t])


def test_best_responses_bound_the_value():
  game = subgame.compile_subgame(MIXED)
  sigma = random_policy(game, 2)
  value, br0, br1 = map(float, jax.jit(lambda sigma: (  # one program, not op by op
      subgame.game_value(game, sigma), subgame.best_response_value(game, sigma, 0),
      subgame.best_response_value(game, sigma, 1)))(sigma))
  # Each best response does at least as well as the policy itself, and a random
  # policy is exploitable.
  assert br0 >= value - 1e-9 and br1 >= -value - 1e-9 and br0 + br1 > 0.1


def test_betting_tree_follows_the_spec():
  game = subgame.compile_subgame(MIXED)
  # Bets of 5 and 10 chips; a pot-size raise would pass the 25-chip stack, so
  # facing a bet only the all-in raises.
  assert set(game.info.terminal_histories) == {
      'kk', 'b5f', 'b5c', 'b10f', 'b10c', 'af', 'ac', 'b5af', 'b5ac', 'b10af', 'b10ac',
      'kb5f', 'kb5c', 'kb10f', 'kb10c', 'kaf', 'kac', 'kb5af', 'kb5ac', 'kb10af', 'kb10ac'}
  # Hands either range holds that the board does not block: KQ 12, 98s 2, A8s 3,
  # 33 3; AK 12, QQ 6, T9s 3 (the ranges share none).
  assert game.num_hands == 41
  assert not any(h.count('b') + h.count('a') > 2 for h in game.info.terminal_histories)
  # Each decision's tokens are the suffixes its children's lines add to its own.
  lines = list(game.info.decision_histories) + list(game.info.terminal_histories)
  for d, line in enumerate(game.info.decision_histories):
    tokens = game.info.action_tokens[d]
    stem = '' if line == '-' else line
    assert tokens and all(stem + t in lines for t in tokens.values()), (line, tokens)
    assert sorted(tokens) == list(np.flatnonzero(np.asarray(game.node_legal[d])))
  assert game.info.action_tokens[0] == {1: 'k', 2: 'b5', 3: 'b10', 4: 'a'}


def test_lines_read_back_as_given():
  words = ['-', '', 'kb10c/Td/', 'b5', 'a' * 300, 'kk']
  strings = lines_lib.Strings(words)
  assert list(strings) == words and len(strings) == 6 and strings[-1] == 'kk'
  assert strings[1:4] == words[1:4] and strings.index('b5') == 3 and 'x' not in strings
  with pytest.raises(IndexError):
    strings[6]  # pylint: disable=pointless-statement
  assert list(lines_lib.Strings([])) == []
  tokens = lines_lib.Tokens(3, owner=[2, 0, 2, 0], slot=[4, 1, 0, 2], token=['a', 'k', 'f', 'b5'])
  assert list(tokens) == [{1: 'k', 2: 'b5'}, {}, {4: 'a', 0: 'f'}]
  assert list(lines_lib.Tokens(2, (), (), ())) == [{}, {}]


@pytest.mark.parametrize('kwargs,message', [
    (dict(board='Ks 9s'), '3, 4 or 5 cards'), (dict(pot=0), 'pot > 0'),
    # Each named no board, the first not the card, the second not what a card is.
    (dict(board='Ks 9s 8h Ks'), "board 'Ks 9s 8h Ks': card list 'Ks 9s 8h Ks' repeats Ks"),
    (dict(board='10s 9s 8h'), r'board .*two characters a card.*\(a ten is T, as in Ts\)'),
    (dict(board='Ks 9s 8x'), "board 'Ks 9s 8x': bad card '8x'"),
    (dict(pot=float('inf')), 'finite pot'), (dict(stack=float('nan')), 'finite stack'),
    # Each names the range at fault (neither was: "a range is empty ...").
    (dict(ranges=('KK', '22:0')), "player 1's range '22:0' gives every hand weight 0"),
    (dict(ranges=('KsKh', 'QQ')), "player 0's range 'KsKh' is empty once the board's cards"),
    (dict(ranges=('KK', 'QX')), "player 1's range 'QX': bad range token 'QX'"),
    (dict(bet_sizes=(float('inf'),)), 'bet sizes must be positive, finite'),
    (dict(raise_sizes=(0.5, 0.0)), 'raise sizes must be positive, finite'),
    (dict(raise_sizes=(1e-300,)), 'adds no chips'),
    # Chip amounts float32 cannot hold apart (the first solved as NaN).
    (dict(stack=1e300), 'float32 cannot solve chip amounts from 5 '),
    (dict(pot=1e-300), 'float32 cannot solve'), (dict(bet_sizes=(1e-300,)), 'from 1e-299'),
    (dict(stack=1e7), 'a million times the smallest bet'),
    # "flop;turn;river" lists given to a river: it would play the flop's.
    (dict(bet_sizes=((0.33,), (0.5,), (1.0,))), '3 per-street lists for a river'),
    (dict(board='Ks 9s 8h', raise_sizes=((1,),) * 4), '4 per-street lists for a flop'),
    (dict(rake_rate=1.0), 'rake_rate must be a fraction of the pot in'),
    (dict(rake_rate=-0.01), 'rake_rate must be'), (dict(rake_rate=float('nan')), 'rake_rate'),
    (dict(rake_rate=0.05, rake_cap=-1.0), 'rake_cap a finite'),
    (dict(rake_rate=0.05, rake_cap=float('inf')), 'rake_cap a finite'),
    # The launcher's 0 (no cap) copied into Python: an unraked game in silence.
    (dict(rake_rate=0.05, rake_cap=0), 'takes no rake at all: for no cap, give rake_cap=None'),
    # Failed deep in the build: "'float' object cannot be interpreted as an
    # integer", numpy's "expected non-negative integer" (the launcher's line).
    (dict(buckets=dict(method='ehs', num_buckets=2.5)),
     'bad bucket settings .*num_buckets must be a whole number, got 2.5'),
    (dict(buckets=dict(method='ehs', num_buckets=5, seed=-1)), 'seed must be >= 0, got -1'),
    (dict(buckets=dict(method='hist', num_buckets=5, histogram_bins=None)),
     'histogram_bins must be a whole number'),
    # "BucketSettings.__init__() got an unexpected keyword argument 'bins'"
    (dict(buckets=dict(method='hist', num_buckets=5, bins=4)),
     "unknown setting 'bins'; known: method, num_buckets, histogram_bins, seed")])
def test_bad_specs_are_clear_errors(kwargs, message):
  spec = dict(board=BOARD, pot=10, stack=10, ranges=('KK', 'QQ'))
  spec.update(kwargs)
  with pytest.raises(ValueError, match=message):
    subgame.compile_subgame(subgame.SubgameSpec(**spec))


@pytest.mark.parametrize('kwargs,field', [
    (dict(max_raises=1.5), 'max_raises'),  # allowed 2 raises (raises < 1.5)
    (dict(bet_sizes=0.5), 'bet_sizes'), (dict(raise_sizes='1'), 'raise_sizes'),
    (dict(bet_sizes=((0.5,), 'x')), 'bet_sizes'), (dict(pot='10'), 'pot'),
    (dict(stack=None), 'stack'), (dict(board=None), 'board'), (dict(ranges='KK'), 'ranges'),
    (dict(isomorphism='no'), 'isomorphism'), (dict(rake_rate='5%'), 'rake_rate'),
    (dict(rake_cap='3'), 'rake_cap'),
    (dict(buckets='ehs'), 'buckets')])  # "'str' object has no attribute 'get'"
def test_spec_fields_of_the_wrong_kind_are_named(kwargs, field):
  spec = dict(board=BOARD, pot=10, stack=10, ranges=('KK', 'QQ'))
  spec.update(kwargs)
  with pytest.raises(TypeError, match=f'SubgameSpec.{field} must be '):
    subgame.compile_subgame(subgame.SubgameSpec(**spec))


@pytest.mark.parametrize('spec', [None, 'Ks 9s 8h', dict(board=BOARD, pot=10, stack=10,
                                                         ranges=('KK', 'QQ'))])
def test_a_spec_that_is_no_subgame_spec_is_named(spec):
  """"'dict' object has no attribute 'board'" (from inside the checks)."""
  with pytest.raises(TypeError, match=f'compile_subgame takes a SubgameSpec .*, got '
                                      f'{type(spec).__name__}$'):
    subgame.compile_subgame(spec)


def test_spec_fields_take_lists_and_numpy_values():
  spec = dict(board=BOARD, pot=np.float32(10), stack=np.int64(10), ranges=['KK', 'QQ'],
              bet_sizes=np.array([0.5, 1.0]), raise_sizes=[1.0], max_raises=np.int32(1))
  game = subgame.compile_subgame(subgame.SubgameSpec(**spec))
  plain = subgame.compile_subgame(subgame.SubgameSpec(
      board=BOARD, pot=10, stack=10, ranges=('KK', 'QQ'), bet_sizes=(0.5, 1.0)))
  assert list(game.info.decision_histories) == list(plain.info.decision_histories)


FLOP = subgame.SubgameSpec(board='Td 9d 6h', pot=10, stack=20, ranges=('KQ,98s,66', 'AK,JJ,T9'),
                           bet_sizes=((0.5,), (1.0,)), raise_sizes=(1.0,), max_raises=1)


@pytest.mark.parametrize('spec', [POLARISED, MIXED, TURN, FLOP,
                                  dataclasses.replace(FLOP, isomorphism=False)],
                         ids=['polarised', 'mixed', 'turn', 'flop', 'flop-every-card'])
def test_counting_a_tree_gives_the_built_trees_size(spec):
  """The count that refuses a tree too big for the machine is the tree's
  size: its public nodes and the solver state's entries."""
  game = subgame.compile_subgame(spec)
  board = holdem.parse_cards(spec.board)
  group = subgame._symmetry(spec, board, np.stack(  # pylint: disable=protected-access
      [holdem.parse_range(r) for r in spec.ranges]) * ~holdem.blocked_by(board))[0]
  nodes, entries = subgame._public_tree(  # pylint: disable=protected-access
      spec, board, group, rows=game.row_sizes)
  assert nodes == sum(nd + nc + nt for _, nd, nc, nt in game.levels)
  assert entries == game.num_cells
  assert (len(group) > 1) == (spec is FLOP)  # the isomorphic count was tested too


def test_a_tree_too_big_is_refused_before_it_is_built(monkeypatch):
  built = []
  tree = subgame._public_tree  # pylint: disable=protected-access
  monkeypatch.setattr(subgame, '_public_tree', lambda *a, **k: built.append(k) or tree(*a, **k))
  # Eight bet sizes, three raises of three sizes on a turn: 10.5 million public
  # nodes; counted in a fraction of a second, refused before any is built.
  wide = dataclasses.replace(TURN, ranges=('22+,A2+,K2+,Q2+,J2+,T2+', '22+,A2+,K2+,Q2+'),
                             stack=1000, bet_sizes=(0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2),
                             raise_sizes=(0.5, 1, 2), max_raises=3)
  with pytest.raises(ValueError, match='state entries per array, more than the 2'):
    subgame.compile_subgame(wide)
  # A machine with 1 MiB free cannot hold the small turn spot either.
  monkeypatch.setattr(subgame.heap, 'available_memory', lambda: 1 << 20)
  with pytest.raises(ValueError, match='too big for this machine: 1,695 public nodes and '
                     '34,169 state entries per array need ~2 MiB to build and solve, 1 MiB'):
    subgame.compile_subgame(TURN)
  assert built and all(k.get('rows') for k in built)  # counted, never built
  monkeypatch.setattr(subgame.heap, 'available_memory', lambda: None)  # unknown: built
  assert subgame.compile_subgame(TURN).num_decisions > 0


def _frequency(policy, game, history, range_text, slot, prior):
  """Range-weighted probability of `slot` at `history` over the hands of range_text."""
  weights = holdem.parse_range(range_text)
  num = den = 0.0
  for h in np.flatnonzero(weights):
    key = f'{history}|{holdem.hand_text(h)}'
    if key in game.info.infoset_index:
      num += prior * weights[h] * policy.probs[game.info.infoset_index[key], slot]
      den += prior * weights[h]
  return num / den


def test_polarised_river_matches_the_closed_form_equilibrium():
  """Nuts-or-air against a bluff-catcher, pot-size all-in: the bettor bets every
  nut hand and bluffs half as often (bluffs are 1/3 of bets), the bluff-catcher
  calls half the time, and the bettor's value is 2.5 of the 10-chip pot."""
  import cfr_jax  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(POLARISED)
  solver = cfr_jax.make_solver(game, 'dcfr', dtype='float64')
  policy = solver.average_policy(solver.run(solver.init(), 2000))
  assert cfr_jax.exploitability(game, policy) < 0.005 * POLARISED.pot
  assert cfr_jax.game_value(game, policy) == pytest.approx(2.5, abs=0.02)
  all_in = game.num_actions - 1
  assert _frequency(policy, game, '-', 'KK', all_in, 1.0) > 0.98
  assert _frequency(policy, game, '-', '54', all_in, 1.0) == pytest.approx(0.5, abs=0.02)
  assert _frequency(policy, game, 'a', 'QQ', subgame.CALL, 1.0) == pytest.approx(0.5, abs=0.02)
  # The same read through node_report, with values: the nuts win 5 or 15 chips
  # (fold or call, half each), air and the bluff-catcher are indifferent at -5.
  root = subgame.node_report(game, policy.probs, '-')
  assert root.player == 0 and len(root.hands) == 3 + 16 and root.actions == ['k', 'a']
  nuts = np.array([h.startswith('K') for h in root.hands])
  np.testing.assert_allclose(root.ev[nuts], 10, atol=0.1)
  np.testing.assert_allclose(root.ev[~nuts], -5, atol=0.1)
  assert root.node_ev == pytest.approx(cfr_jax.game_value(game, policy), abs=1e-9)
  assert root.frequencies[1] == pytest.approx(0.75, abs=0.02)  # all nuts, half the air
  facing = subgame.node_report(game, policy.probs, 'a')
  assert facing.player == 1 and facing.actions == ['f', 'c'] and len(facing.hands) == 6
  np.testing.assert_allclose(facing.ev, -5, atol=0.1)
  with pytest.raises(ValueError, match="after 'a' the actions are f, c"):
    subgame.node_report(game, policy.probs, 'ab5')
  # The policy itself reads as its table (jnp.asarray failed on it).
  assert subgame.node_report(game, policy, 'a').actions == facing.actions


def test_betting_text_says_each_streets_sizes():
  """A street left without sizes (the per-street '0.5;' leaves the river
  none) is all-in only: the launcher says so after the build."""
  spec = lambda **kw: {'board': 'Ks 9s 8h 3d', 'bet_sizes': (0.5, 1.0), 'raise_sizes': (1.0,),
                       'max_raises': 1, **kw}
  assert subgame.betting_text(spec()) == (
      'turn: bets 50% 100%, raises 100%; river: bets 50% 100%, raises 100%')
  assert subgame.betting_text(spec(bet_sizes=((0.5,), ()))) == (
      'turn: bets 50%, raises 100%; river: all-in only')
  assert subgame.betting_text(spec(board='Ks 9s 8h', max_raises=0, bet_sizes=(0.33,))) == (
      'flop: bets 33%; turn: bets 33%; river: bets 33%')
  # The dict a built game keeps (its fingerprint's), as the launcher reads it.
  game = subgame.compile_subgame(POLARISED)
  assert subgame.betting_text(game.info.spec).startswith('river: ')


def test_node_report_names_a_wrong_policy_or_line():
  """A table of another shape failed inside the passes ("cannot reshape
  array of shape (5, 5) ..."), a line that is not a str in `re` ("expected
  string or bytes-like object"), a table whose rows are no strategies was
  reported as one."""
  game = subgame.compile_subgame(POLARISED)
  probs = np.full((game.num_infosets, game.num_actions), 0.5)
  with pytest.raises(ValueError, match=re.escape(
      f'policy has shape {probs[:5].shape}, game {game.name} needs {probs.shape}')):
    subgame.node_report(game, probs[:5], '-')
  with pytest.raises(TypeError, match='node_report takes a policy table'):
    subgame.node_report(game, None, '-')
  # A row that is no strategy was reported as one (its frequencies, its EVs).
  for bad in (2.0, np.nan, -0.5):
    table = probs.copy()
    table[3] = bad
    with pytest.raises(ValueError, match='policy row 3 of .* is not a probability distribution'):
      subgame.node_report(game, table, '-')
  with pytest.raises(TypeError, match='node_report reads a hold.em Subgame'):
    subgame.node_report(POLARISED, probs, '-')
  for line in (None, 5, b'a', ['a']):
    with pytest.raises(TypeError, match='a betting line is a str such as "kb10c/7h/"'):
      subgame.node_report(game, probs, line)


def test_a_line_naming_a_bad_card_says_which():
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d', pot=10, stack=20, ranges=('AA,KK,T9s', 'QQ,JJ,AK'), bet_sizes=(1.0,)))
  assert subgame.locate(game, 'kk/7h/b10')[0] == 'kk/7h/b10'
  for line, message in (('kk/zz/', "bad card 'zz'"), ('kk/7x/b10', "bad card '7x'"),
                        ('kk/Ks/', 'Ks is on the board'),
                        ('kk/7h/kk/7h/', '7h is dealt earlier in the line'),
                        ('kk//', 'no card between two slashes')):  # was "bad card ''"
    with pytest.raises(ValueError, match=f"betting line '{re.escape(line)}': {message}"):
      subgame.locate(game, line)


def test_a_line_that_leaves_no_one_to_decide_says_why():
  """'kkb10c' said "after 'kkb10' the actions are f, c, ...": the action it
  takes, listed as if it were missing."""
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d', pot=10, stack=20, ranges=('AA,KK,T9s', 'QQ,JJ,AK'), bet_sizes=(1.0,)))
  for line, message in (('b10f', 'the fold ends the hand'),
                        ('kk', "'k' closes the street; the next decision follows the card "
                               'dealt, as kk/Xx/'),
                        ('kk/7h/b10c', "'c' ends the betting: the hand goes to showdown"),
                        ('ac', "'c' ends the betting: the hand goes to showdown"),
                        # 'kk/' said "after 'k' the actions are ...": the card is missing.
                        ('kk/', "the card dealt goes between the '/'s, as kk/2c/")):
    with pytest.raises(ValueError, match=f"betting line '{re.escape(line)}': "
                                         f'{re.escape(message)}'):
      subgame.locate(game, line)


def test_the_api_reads_a_line_in_any_case():
  """`node_report`/`locate` read a line as cfr-query does: 'KK/7H/B10' and
  ' kk/7h/b10.0' are the tree's 'kk/7h/b10' (the API refused them)."""
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d', pot=10, stack=20, ranges=('AA,KK,T9s', 'QQ,JJ,AK'), bet_sizes=(1.0,)))
  want = subgame.locate(game, 'kk/7h/b10')
  assert want[0] == 'kk/7h/b10'
  for typed in ('KK/7H/B10', ' kk/7h/b10.0', 'k k/7h/b10'):
    assert subgame.locate(game, typed) == want


@pytest.mark.parametrize('name', ['holdem_river', 'holdem_turn'])
def test_a_line_naming_no_node_hints_at_cards_only_where_they_are_dealt(name):
  """The hint's example card is one the tree deals (never one on the board); a
  river subgame deals none, and its hint says so only to a line with a card."""
  from cfr_jax.cli import train  # pylint: disable=g-import-not-at-top
  from cfr_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top
  config, _ = train.load_config(name)
  config.holdem.board = config.holdem.board.replace('3d', '7h')  # "kk/7h/" was the example
  game = config_lib._load_game(config)  # pylint: disable=protected-access
  board = config.holdem.board.split()
  errors = {}
  for line in ('b10x', 'kk/Ad/x' if name == 'holdem_river' else 'kk/Ad/x/2c/'):
    with pytest.raises(ValueError, match='no decision node') as e:
      subgame.locate(game, line)
    errors[line] = str(e.value)
  if name == 'holdem_river':
    assert not any('dealt card' in e or 'e.g.' in e for e in errors.values()), errors
    assert 'no card is dealt' in errors['kk/Ad/x'] and 'no card' not in errors['b10x']
  else:
    for error in errors.values():
      (example,) = re.findall(r'e\.g\. "([^"]+)"', error)
      card = re.fullmatch(r'[^/]*/(..)/', example).group(1)
      assert card not in board and example in game.info.decision_histories, error


def test_mixed_river_solves_below_half_a_percent_of_the_pot():
  import cfr_jax  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(MIXED)
  solver = cfr_jax.make_solver(game, 'dcfr')
  state = solver.run(solver.init(), 300)
  assert cfr_jax.exploitability(game, solver.average_policy(state)) < 0.005 * MIXED.pot
  whole = solver.run(solver.init(), 30)
  parts = solver.run(solver.run(solver.init(), 11), 19)
  np.testing.assert_array_equal(np.asarray(whole.regrets), np.asarray(parts.regrets))


def test_river_config_trains_resumably_and_refuses_another_board(tmp_path, capsys):
  """The launcher runs river subgames like any game; a checkpoint of another
  board (another fingerprint) is never restored."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  def train(*flags):
    return subprocess.run(
        [sys.executable, '-m', 'launch.train', '--config=configs/holdem_river.py',
         f'--workdir={tmp_path}', '--config.max_iterations=300',
         '--config.chunk_iterations=150', *flags],
        cwd=repo, capture_output=True, text=True, timeout=300)

  def progress():
    with open(tmp_path / 'progress.json') as f:
      return json.load(f)

  first = train()
  assert first.returncode == 0
  assert 'betting: river: bets 50% 100%, raises 100%\n' in first.stdout, first.stdout
  p = progress()
  assert p['iteration'] == 300 and p['exploitability'] < 0.005 * 10
  other = train('--config.holdem.board=Ks 9s 8h 3d 4c')
  assert other.returncode == 0 and 'STARTING FRESH' in other.stdout
  assert "game.board was 'Ks 9s 8h 3d 2c', here 'Ks 9s 8h 3d 4c'" in other.stdout
  assert progress()['restored_from'] is None and progress()['rejected']
  # The first board raked: another game, whose regrets the rake-free ones are not.
  raked = train('--config.holdem.rake_rate=0.05', '--config.holdem.rake_cap=3')
  assert raked.returncode == 0 and 'STARTING FRESH' in raked.stdout
  assert 'game.rake_rate was None, here 0.05' in raked.stdout
  assert progress()['iteration'] == 300 and progress()['exploitability'] < 0.005 * 10
  # The same board under a card abstraction: the unbucketed regrets are refused.
  bucketed = train('--config.holdem.board=Ks 9s 8h 3d 4c', '--config.holdem.buckets.method=ehs',
                   '--config.holdem.buckets.num_buckets=8')
  assert bucketed.returncode == 0 and 'STARTING FRESH' in bucketed.stdout
  assert 'another card abstraction (bucket table none here ' in bucketed.stdout
  with open(tmp_path / 'metrics.jsonl') as f:
    last = [json.loads(line) for line in f if 'abstract_exploitability' in line][-1]
  assert last['abstract_exploitability'] <= last['exploitability'] + 1e-6

  out = subprocess.run([sys.executable, '-m', 'launch.query', str(tmp_path), '--node=b5',
                        '--node=-'], cwd=repo, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert "node 'b5': player 1 to act" in out.stdout and 'range' in out.stdout
  assert out.stdout.index("node 'b5'") < out.stdout.index("node '-': player 0 to act")
  assert out.stdout.count('iteration 300') == 1  # loaded once for both
  # The other boards' checkpoints (moved to checkpoints/foreign/) are passed
  # over without a warning line each: they were never this run's.
  assert 'foreign' not in out.stderr and (tmp_path / 'checkpoints' / 'foreign').is_dir()
  assert len(out.stdout.splitlines()) > 40  # a line per hand, twice
  # Lines piped in, answered as they come: a mistyped one is reported and
  # the session goes on; 'q' ends it (the line after it is never read).
  out = subprocess.run([sys.executable, '-m', 'launch.query', str(tmp_path), '--stdin',
                        '--summary'], input='b5\n\nb7\n  -  \nq\nk\n', cwd=repo,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert [l.split(':')[0] for l in out.stdout.splitlines() if l.startswith('node ')] == [
      "node 'b5'", "node '-'"]
  assert out.stdout.count('iteration 300') == 1 and 'line>' not in out.stderr
  assert out.stderr.count('error: ') == 1 and 'the actions are k, b5, b10, a' in out.stderr
  # The other answers in process (a process start and a restore each cost ~5 s).
  from cfr_jax.cli import query  # pylint: disable=g-import-not-at-top
  assert query._main(['cfr-query', str(tmp_path)], 'b5', True) == 0  # pylint: disable=protected-access
  summary = capsys.readouterr().out
  assert len(summary.splitlines()) == 4, summary  # title, node, head, range
  assert query._main(['cfr-query', str(tmp_path)], 'b7', False) == 1  # pylint: disable=protected-access
  assert 'the actions are k, b5, b10, a' in capsys.readouterr().err
  # Several lines: each is checked before any is computed.
  assert query._main(['cfr-query', str(tmp_path)], ['b5', 'k', 'b7'], True) == 1  # pylint: disable=protected-access
  out, err = capsys.readouterr()
  assert out == '' and "'b7'" in err


# Five hearts: clubs, diamonds and spades are interchangeable, so suit
# isomorphism merges hands (a lossless abstraction).
MONOTONE = subgame.SubgameSpec(board='Kh 9h 8h 3h 2h', pot=10, stack=20,
                               ranges=('AA,KQ,T9,76,33', 'QQ,JT,A5,98'),
                               bet_sizes=(0.5, 1.0), raise_sizes=(1.0,), max_raises=1)


def _solve(spec, iterations=300, **buckets):
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets or None))
  solver = cfr_jax.make_solver(game, 'dcfr', dtype='float64')
  return game, solver.average_policy(solver.run(solver.init(), iterations))


def test_lossless_buckets_solve_like_hands():
  game, policy = _solve(MONOTONE)
  iso_game, iso_policy = _solve(MONOTONE, method='iso')
  assert iso_game.num_buckets < game.num_hands  # hands really were merged
  assert iso_game.num_infosets == iso_game.num_decisions * iso_game.num_buckets
  exact, iso = (cfr_jax.exploitability(g, p) for g, p in ((game, policy), (iso_game, iso_policy)))
  assert max(exact, iso) < 0.005 * MONOTONE.pot
  # No information is lost: the bucketed best response is the per-hand one,
  # and both solves reach the same value.
  assert cfr_jax.abstract_exploitability(iso_game, iso_policy) == pytest.approx(iso, abs=1e-9)
  assert cfr_jax.game_value(iso_game, iso_policy) == pytest.approx(
      cfr_jax.game_value(game, policy), abs=0.005 * MONOTONE.pot)


def test_lossy_buckets_report_abstract_and_real_exploitability():
  game, policy = _solve(MIXED, method='ehs', num_buckets=16)
  # Buckets cover all 1,326 hands; these ranges' 41 hands fall into fewer.
  assert 2 < game.num_buckets < game.num_hands
  assert game.num_infosets == game.num_decisions * game.num_buckets
  abstract = cfr_jax.abstract_exploitability(game, policy)
  real = cfr_jax.exploitability(game, policy)
  assert abstract < 0.005 * MIXED.pot  # the abstract game is solved...
  assert real > abstract + 0.01  # ...and the real game exploits what it merged


def test_a_checkpoint_of_another_bucket_table_is_refused(tmp_path, monkeypatch):
  """Same settings, different table content: the fingerprint (table hash)
  differs and the store never restores the regrets."""
  from cfr_jax import abstraction  # pylint: disable=g-import-not-at-top
  from cfr_jax import checkpoint  # pylint: disable=g-import-not-at-top
  spec = dataclasses.replace(MIXED, buckets={'method': 'ehs', 'num_buckets': 4})

  def store_for(game):
    solver = cfr_jax.make_solver(game, 'dcfr')
    fingerprint = checkpoint.make_fingerprint(**solver.describe())
    return solver, checkpoint.CheckpointStore(str(tmp_path / 'ckpt'), fingerprint=fingerprint)

  solver, store = store_for(subgame.compile_subgame(spec))
  with store:
    store.save(solver.run(solver.init(), 5), 5)
  build = abstraction.build_table

  def swapped(boards, settings):  # another table under the same settings
    table = build(boards, settings)
    b = table.buckets.copy()
    b[b == 0], b[b == 1] = -7, 0
    b[b == -7] = 1
    return abstraction.BucketTable(boards=table.boards, buckets=b, settings=settings)

  monkeypatch.setattr(abstraction, 'build_table', swapped)
  other = subgame.compile_subgame(spec)
  monkeypatch.undo()
  assert other.info.spec['buckets']['hash'] != subgame.compile_subgame(spec).info.spec[
      'buckets']['hash']
  solver, store = store_for(other)
  with store:
    state, report = store.restore(solver.abstract_state())
  assert state is None and report.started_fresh
  assert [c.status for c in report.candidates] == ['foreign']


@pytest.mark.slow  # ~40 s; sharding stays covered by test_scale's bitwise tests
def test_sharded_subgame_equals_one_device():
  """The state's infoset axis (nodes x hands) split over 8 devices. XLA
  partitions the hand sums differently (1e-7 relative after one pass), and
  regret matching is discontinuous where a regret crosses zero, so iterates
  agree to 1e-6 only for the first iterations; then both converge alike."""
  import multidevice  # pylint: disable=g-import-not-at-top
  multidevice.run_python('''
    import jax, numpy as np, cfr_jax
    from cfr_jax.holdem import subgame
    from cfr_jax.solver import make_mesh
    spec = subgame.SubgameSpec(board='Ks 9s 8h 3d', pot=10, stack=15,
                               ranges=('KQ,98s,A8s:0.5,33', 'AK,QQ,T9s,44'),
                               bet_sizes=((1.0,), (0.75,)), raise_sizes=(), max_raises=0)
    game = subgame.compile_subgame(spec)
    one = cfr_jax.make_solver(game, 'dcfr')
    many = cfr_jax.make_solver(game, 'dcfr', mesh=make_mesh(8))
    a = one.run(one.init(), 2)
    b = many.run(many.run(many.init(), 1), 1)
    rows = b.regrets.shape[0]  # the compact state's entries, padded
    assert rows == -(-game.num_cells // 8) * 8 and rows > game.num_cells
    shards = b.regrets.addressable_shards
    assert len({s.device for s in shards}) == 8
    assert all(s.data.shape == (rows // 8,) for s in shards)
    assert a.strategy_sum_low is None  # the lean subgame layout
    total = lambda s: np.asarray(s.strategy_sum, np.float64)[:game.num_cells]
    for x, y in ((a.regrets, b.regrets[:game.num_cells]), (total(a), total(b))):
      x, y = np.asarray(x), np.asarray(y)
      np.testing.assert_allclose(x, y, rtol=0, atol=1e-6 * np.abs(x).max())
    assert int(b.iteration) == 2
    a, b = one.run(a, 298), many.run(b, 298)
    for solver, state in ((one, a), (many, b)):
      assert cfr_jax.exploitability(game, solver.average_policy(state)) < 0.005 * spec.pot
    print('ok')
  ''')


# Suite time (~60 s): test_scale's launcher test moves a run between device counts.
@pytest.mark.slow
def test_a_subgame_checkpoint_moves_between_device_counts(tmp_path):
  """The compact state is padded to a multiple of the device count: a
  checkpoint written on 8 devices restores on 3 and on 1, entry for entry,
  and trains on."""
  import multidevice  # pylint: disable=g-import-not-at-top
  multidevice.run_python(f'''
    import numpy as np, cfr_jax
    from cfr_jax import checkpoint, training
    from cfr_jax.holdem import subgame
    from cfr_jax.solver import make_mesh
    spec = subgame.SubgameSpec(board='Ks 9s 8h 3d 2c', pot=10, stack=25,
                               ranges=('KQ,98s,A8s,33:0.5', 'AK,QQ,T9s'))
    game = subgame.compile_subgame(spec)
    make = lambda n: cfr_jax.make_solver(game, 'dcfr', mesh=None if n == 1 else make_mesh(n))
    eight = make(8)
    assert eight.num_rows >= game.num_cells and eight.num_rows % 8 == 0
    assert make(3).num_rows != eight.num_rows  # another padding: read in its own shape
    saved = eight.run(eight.init(), 10)
    store = checkpoint.CheckpointStore({str(tmp_path)!r},
                                       fingerprint=checkpoint.make_fingerprint(**eight.describe()))
    store.save(saved, 10)
    for n in (3, 1):
      solver = make(n)
      state, report = training.restore_state(store, solver)
      assert report.iteration == 10, report
      assert state.regrets.shape == (solver.num_rows,)
      for x, y in ((saved.regrets, state.regrets), (saved.strategy_sum, state.strategy_sum)):
        np.testing.assert_array_equal(np.asarray(x)[:game.num_cells], np.asarray(y)[:game.num_cells])
      state = solver.run(state, 5)
      assert int(state.iteration) == 15 and np.isfinite(np.asarray(state.regrets)).all()
    print('ok')
  ''')
