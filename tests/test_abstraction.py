"""Card abstraction: iso against brute-force orbits, EHS against brute-force enumeration,
k-means determinism, table files and their hash, the evaluator against treys."""
import dataclasses
import itertools

import numpy as np
import pytest

from cfr_jax import abstraction
from cfr_jax.holdem import cards

FLOP = 'Ks 9s 8h'  # one flop for every flop test: its 1,176 river boards are cached once
TURN = 'Ks 9s 8h 2d'
RIVERS = ['Ks 9s 8h 2d 3c', 'Ah Kh Qh Jh Th', '5h 7d 5d Qs Qh', '8d 2d Jd Ac 7h']


def _orbits(board):
  """Brute force: partition of the live hands into orbits under the 24 suit permutations
  that fix the board as a set."""
  board = set(board)
  perms = []
  for p in itertools.permutations(range(4)):
    mapping = {c: 4 * (c // 4) + p[c % 4] for c in range(52)}
    if {mapping[c] for c in board} == board:
      perms.append(mapping)
  orbit_of = {}
  for a, b in cards.HANDS.tolist():
    if a in board or b in board:
      continue
    orbit_of[(a, b)] = frozenset(tuple(sorted((m[a], m[b]))) for m in perms)
  return orbit_of


@pytest.mark.parametrize('flop,expected', [('Qh 7d 2c', 1176), ('Ks 9s 8h', None),
                                           ('Ks 9s 8s', None), ('7h 7d 2c', None),
                                           ('Ks 9s 8h 8s', None)])
def test_iso_buckets_are_exactly_the_suit_orbits(flop, expected):
  board = cards.parse_cards(flop)
  buckets = abstraction.bucket_hands(board, abstraction.BucketSettings('iso'))
  orbit_of = _orbits(board)
  assert (buckets >= 0).sum() == len(orbit_of)
  assert (buckets[cards.blocked_by(board)] == -1).all()
  assert buckets.max() + 1 == len(set(orbit_of.values()))
  if expected is not None:  # rainbow, distinct ranks: no symmetry, every live hand alone
    assert buckets.max() + 1 == expected
  # Same partition, not just the same count: bucket id <-> orbit is a bijection.
  pairs = {(int(buckets[cards.hand_index(a, b)]), orbit) for (a, b), orbit in orbit_of.items()}
  assert len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def test_iso_bucket_counts_shrink_with_board_symmetry():
  count = lambda text: abstraction.bucket_hands(text, abstraction.BucketSettings('iso')).max() + 1
  assert count('Qh 7d 2c') == 1176 > count('Ks 9s 8h') > count('Ks 9s 8s')


@pytest.mark.parametrize('river', ['Ks 9s 8s 2s 3s', 'Ah Kh Qh Jh Th', '7h 7d 2c 9s Ks'])
def test_iso_is_lossless_on_the_river(river):
  board = cards.parse_cards(river)
  buckets = abstraction.bucket_hands(board, abstraction.BucketSettings('iso'))
  strength = cards.hand_strength(board)
  for b in range(buckets.max() + 1):
    assert len(set(strength[buckets == b].tolist())) == 1
  assert buckets.max() + 1 < (buckets >= 0).sum()  # the boards do have symmetries


def test_iso_is_lossless_on_the_turn():
  buckets = abstraction.bucket_hands(TURN, abstraction.BucketSettings('iso'))
  ehs = abstraction.hand_equity(TURN)
  for b in range(buckets.max() + 1):
    values = ehs[buckets == b]
    np.testing.assert_allclose(values, values[0], rtol=0, atol=1e-12)


def _brute_force_ehs(board, hand):
  """Slow reference: every river, every opponent hand, one comparison at a time."""
  used = set(board) | set(hand)
  total, count = 0.0, 0
  for r in range(52):
    if r in used:
      continue
    strength = cards.hand_strength(board + [r])
    mine = strength[cards.hand_index(*hand)]
    for o1, o2 in itertools.combinations(sorted(set(range(52)) - used - {r}), 2):
      theirs = strength[cards.hand_index(o1, o2)]
      total += 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0
      count += 1
  return total / count


@pytest.mark.parametrize('hand', ['AsQs', 'Kd2h', '7c6c', 'ThTc'])
def test_turn_ehs_matches_brute_force(hand):
  board = cards.parse_cards(TURN)
  h = cards.parse_cards(hand)
  ehs = abstraction.hand_equity(board)
  assert ehs[cards.hand_index(*h)] == pytest.approx(_brute_force_ehs(board, h), abs=1e-12)
  assert np.isnan(ehs[cards.blocked_by(board)]).all()


def test_flop_ehs_of_one_hand_matches_enumeration():
  board = cards.parse_cards(FLOP)
  hand = cards.parse_cards('Ts7c')  # the flopped straight
  h = cards.hand_index(*hand)
  conflict = cards.hands_conflict()[h]
  total, count = 0.0, 0
  for t, r in itertools.combinations(sorted(set(range(52)) - set(board) - set(hand)), 2):
    strength = cards.hand_strength(board + [t, r])
    opp = (strength >= 0) & ~conflict
    total += ((strength[opp] < strength[h]) + 0.5 * (strength[opp] == strength[h])).mean()
    count += 1
  assert count == 1081
  assert abstraction.hand_equity(board)[h] == pytest.approx(total / count, abs=1e-12)


@pytest.mark.parametrize('river', RIVERS)
def test_river_ehs_buckets_are_ordered_by_strength(river):
  board = cards.parse_cards(river)
  live = ~cards.blocked_by(board)
  strength = cards.hand_strength(board)[live]
  ehs = abstraction.hand_equity(board)[live]
  if river == 'Ah Kh Qh Jh Th':  # everyone plays the board: every hand ties
    np.testing.assert_array_equal(ehs, 0.5)
  else:  # the nuts wins (or ties) against nearly everything
    assert ehs[strength == strength.max()].min() == ehs.max() > 0.99
  for k in (8, 50):
    buckets = abstraction.bucket_hands(board, abstraction.BucketSettings('ehs', k))[live]
    assert buckets.min() == 0 and buckets.max() < k
    assert len(np.unique(buckets)) == buckets.max() + 1  # dense
    # Buckets are intervals of EHS, numbered upwards.
    by_ehs = buckets[np.argsort(ehs, kind='stable')]
    assert (np.diff(by_ehs) >= 0).all()
    if k == 8:  # coarse buckets: stronger never in a lower bucket on these boards
      by_strength = buckets[np.lexsort((ehs, strength))]
      assert (np.diff(by_strength) >= 0).all()
  # Exact card removal means a stronger hand can have slightly lower EHS (its cards
  # block weaker hands), but never by more than its two cards' worth of opponents.
  order = np.argsort(strength, kind='stable')
  assert (np.maximum.accumulate(ehs[order]) - ehs[order]).max() < 2 * 46 / 990


@pytest.mark.parametrize('method,board', [('ehs', FLOP), ('hist', FLOP), ('ehs', TURN),
                                          ('hist', TURN), ('hist', RIVERS[0])])
def test_lossy_buckets_are_bounded_dense_and_deterministic(method, board):
  settings = abstraction.BucketSettings(method, num_buckets=20, seed=3)
  table = abstraction.build_table([board], settings)
  again = abstraction.build_table([board], settings)
  buckets = table.buckets[0]
  blocked = cards.blocked_by(cards.parse_cards(board))
  assert (buckets[blocked] == -1).all() and (buckets[~blocked] >= 0).all()
  assert table.num_buckets == len(np.unique(buckets[~blocked])) <= 20
  assert table.num_buckets == 20  # plenty of distinct hands: every bucket used
  np.testing.assert_array_equal(buckets, again.buckets[0])
  assert table.content_hash == again.content_hash
  assert table.fingerprint() == again.fingerprint()
  # Suit-isomorphic hands are strategically identical: never split between buckets.
  iso = abstraction.bucket_hands(board, abstraction.BucketSettings('iso'))
  assert all(len(np.unique(buckets[iso == i])) == 1 for i in range(iso.max() + 1))
  # Buckets are numbered by increasing mean EHS.
  ehs = abstraction.hand_equity(board)
  means = [ehs[buckets == b].mean() for b in range(table.num_buckets)]
  assert (np.diff(means) > 0).all()
  for other in (dataclasses.replace(settings, seed=4),
                dataclasses.replace(settings, num_buckets=19)):
    changed = abstraction.build_table([board], other)
    assert changed.content_hash != table.content_hash
    assert changed.fingerprint() != table.fingerprint()


def test_hist_separates_draws_from_made_hands_of_equal_ehs():
  # On a flop, 'hist' with as many buckets as 'ehs' should not be the same partition.
  ehs = abstraction.bucket_hands(FLOP, abstraction.BucketSettings('ehs', 30))
  hist = abstraction.bucket_hands(FLOP, abstraction.BucketSettings('hist', 30))
  pairs = set(zip(ehs.tolist(), hist.tolist()))
  assert len(pairs) > max(len(set(ehs.tolist())), len(set(hist.tolist())))


def test_kmeans_seeded_and_lossless_with_few_points():
  rng = np.random.default_rng(0)
  points = rng.normal(size=(300, 3))
  a = abstraction.kmeans(points, 7, seed=1, iterations=50)
  np.testing.assert_array_equal(a, abstraction.kmeans(points, 7, seed=1, iterations=50))
  assert len(np.unique(a)) <= 7
  few = np.repeat(points[:5], 4, axis=0)
  labels = abstraction.kmeans(few, 7, seed=1, iterations=50)
  assert len(np.unique(labels)) == 5
  assert len(set(zip(map(tuple, few.tolist()), labels.tolist()))) == 5


def test_table_save_load_round_trip_and_tamper(tmp_path):
  boards = [TURN + ' ' + r for r in ('3c', 'Ah', 'Ts')]
  table = abstraction.build_table(boards, abstraction.BucketSettings('ehs', 10, seed=5))
  assert table.buckets.shape == (3, 1326) and table.buckets.dtype == np.int32
  assert not table.buckets.flags.writeable
  path = tmp_path / 'buckets.npz'
  table.save(path)
  loaded = abstraction.BucketTable.load(path)
  assert loaded.content_hash == table.content_hash
  assert loaded.boards == table.boards and loaded.settings == table.settings
  np.testing.assert_array_equal(loaded.buckets, table.buckets)
  fp = loaded.fingerprint()
  assert fp['method'] == 'ehs' and fp['num_buckets'] == table.num_buckets
  assert fp['evaluator'].startswith('phevaluator ')

  with np.load(path, allow_pickle=False) as z:
    arrays = dict(z)
  live = np.flatnonzero(arrays['buckets'][1] >= 0)[0]
  arrays['buckets'][1, live] = (arrays['buckets'][1, live] + 1) % table.num_buckets
  bad = tmp_path / 'tampered.npz'
  with open(bad, 'wb') as f:
    np.savez(f, **arrays)
  with pytest.raises(ValueError, match='content hash'):
    abstraction.BucketTable.load(bad)


def test_settings_are_validated():
  with pytest.raises(ValueError, match='unknown bucketing method'):
    abstraction.BucketSettings('emd', 10)
  with pytest.raises(ValueError, match='num_buckets'):
    abstraction.BucketSettings('ehs')
  with pytest.raises(ValueError, match='3, 4 or 5 cards'):
    abstraction.bucket_hands('As Kd', abstraction.BucketSettings('iso'))
  # Each failed deep in the build, naming no setting (numpy: "expected
  # non-negative integer"; "'float' object cannot be interpreted as an integer").
  with pytest.raises(ValueError, match='seed must be >= 0, got -1'):
    abstraction.BucketSettings('ehs', 5, seed=-1)
  with pytest.raises(ValueError, match='kmeans_iterations must be >= 1, got 0'):
    abstraction.BucketSettings('ehs', 5, kmeans_iterations=0)
  for field, value in (('num_buckets', 2.5), ('seed', 1.5), ('kmeans_iterations', '50'),
                       ('histogram_bins', True)):
    with pytest.raises(ValueError, match=f'{field} must be a whole number'):
      abstraction.BucketSettings('hist', **{'num_buckets': 5, field: value})


def test_hand_strength_orders_hands_like_treys():
  treys = pytest.importorskip('treys')
  evaluator = treys.Evaluator()
  rng = np.random.default_rng(7)
  to_treys = lambda c: treys.Card.new(cards.card_text(c))
  for _ in range(3):
    board = [int(c) for c in rng.choice(52, 5, replace=False)]
    ours = cards.hand_strength(board)
    live = np.flatnonzero(ours >= 0)
    tb = [to_treys(c) for c in board]
    theirs = np.array([-evaluator.evaluate(tb, [to_treys(int(a)), to_treys(int(b))])
                       for a, b in cards.HANDS[live]])
    # Same order, same ties: the dense ranks agree.
    np.testing.assert_array_equal(np.unique(ours[live], return_inverse=True)[1],
                                  np.unique(theirs, return_inverse=True)[1])
