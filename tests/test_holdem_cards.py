"""Hold'em cards: range text, card removal by brute force, evaluator against a second one."""
import itertools
import random

import numpy as np
import pytest

from cfr_jax import holdem


def test_hands_are_the_1326_distinct_pairs():
  pairs = {tuple(h) for h in holdem.HANDS.tolist()}
  assert len(pairs) == holdem.NUM_HANDS == 1326 == len(list(itertools.combinations(range(52), 2)))
  assert all(a < b for a, b in pairs)
  assert holdem.hand_text(holdem.NUM_HANDS - 1) == 'AsAh'


@pytest.mark.parametrize('text,combos', [
    ('AA', 6), ('AKs', 4), ('AKo', 12), ('AK', 16), ('22+', 78), ('A2s+', 48),
    ('99-66', 24), ('K9s-K6s', 16), ('AhKh', 1), ('T9', 16), ('kqs', 4), ('T9s-54s', 24),
    ('54o-JTo', 7 * 12), ('Q9s-J8s', 8), ('AKo-AKo', 12)])
def test_range_token_sizes(text, combos):
  assert (holdem.parse_range(text) > 0).sum() == combos


def test_range_weights_and_overrides():
  weights = holdem.parse_range('AA,KK,AKs,QJo,T9s:0.5')
  assert weights.sum() == 6 + 6 + 4 + 12 + 0.5 * 4
  assert weights[holdem.hand_index(*holdem.parse_cards('Ts9s'))] == 0.5
  assert weights[holdem.hand_index(*holdem.parse_cards('Ts9h'))] == 0
  # A later token overrides the hands it shares with an earlier one.
  w = holdem.parse_range('AK,AKs:0.25')
  assert sorted(set(w[w > 0])) == [0.25, 1.0] and w.sum() == 12 + 0.25 * 4


def test_connector_runs_hold_each_class_of_one_gap():
  run = holdem.parse_range('T9s-54s')
  assert np.array_equal(run, holdem.parse_range('T9s,98s,87s,76s,65s,54s'))
  assert np.array_equal(holdem.parse_range('J9o-53o'), holdem.parse_range('J9o,T8o,97o,86o,75o,64o,53o'))


@pytest.mark.parametrize('text', ['', 'AAs', 'XX', 'AK:1.5', 'AK:x', 'AKs-QJo', 'AhAh', '99-AKs',
                                  'T9s-53s', 'T9s-54o',
                                  'AK:', 'QQ+,AK: '])  # (weight 1 in silence)
def test_bad_range_text_is_a_clear_error(text):
  with pytest.raises(ValueError):
    holdem.parse_range(text)


def test_card_removal_matches_brute_force():
  rng = random.Random(0)
  for _ in range(5):
    board = rng.sample(range(52), 5)
    expected = [any(c in board for c in h) for h in holdem.HANDS.tolist()]
    np.testing.assert_array_equal(holdem.blocked_by(board), expected)
  conflict = holdem.hands_conflict()
  for i, j in ((rng.randrange(1326), rng.randrange(1326)) for _ in range(2000)):
    assert conflict[i, j] == bool(set(holdem.HANDS[i]) & set(holdem.HANDS[j]))
  # A hand conflicts with the 51 hands holding its first card, the 51 holding
  # its second, counting itself once.
  assert (conflict.sum(1) == 51 + 51 - 1).all()


def test_hand_strength_agrees_with_a_second_evaluator():
  pytest.importorskip('phevaluator')
  treys = pytest.importorskip('treys')
  evaluator = treys.Evaluator()
  rng = random.Random(1)
  for _ in range(3):
    board = rng.sample(range(52), 5)
    ours = holdem.hand_strength(board)
    assert (ours[holdem.blocked_by(board)] == -1).all()
    to_treys = lambda c: treys.Card.new(holdem.card_text(c))
    live = [h for h in range(1326) if ours[h] >= 0]
    theirs = {h: -evaluator.evaluate([to_treys(c) for c in board],
                                     [to_treys(int(c)) for c in holdem.HANDS[h]]) for h in live}
    for a, b in ((rng.choice(live), rng.choice(live)) for _ in range(500)):
      assert np.sign(ours[a] - ours[b]) == np.sign(theirs[a] - theirs[b])
