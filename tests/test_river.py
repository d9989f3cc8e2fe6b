"""River subgames (public tree x hands): values against brute-force enumeration."""
import itertools

import numpy as np
import pytest

pytest.importorskip('phevaluator')

from cfr_jax import holdem  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import river  # pylint: disable=g-import-not-at-top

BOARD = 'Ks 9s 8h 3d 2c'
# Player 0: nuts (a set of kings) or air (5-high); player 1: bluff-catchers (queens).
POLARISED = river.RiverSpec(board=BOARD, pot=10, stack=10, ranges=('KK,54:0.1875', 'QQ'),
                            bet_sizes=(1.0,), raise_sizes=(), max_raises=0)
MIXED = river.RiverSpec(board=BOARD, pot=10, stack=25, ranges=('KQ,98s,A8s,33:0.5', 'AK,QQ,T9s'),
                        bet_sizes=(0.5, 1.0), raise_sizes=(1.0,), max_raises=1)


def random_policy(game, seed):
  rng = np.random.default_rng(seed)
  legal = np.asarray(game.legal)
  p = rng.random(legal.shape) * legal
  return p / p.sum(1, keepdims=True)


def brute_force_value(game, spec, sigma):
  """Player 0's expected value, enumerating deals and walking the betting tree."""
  board = holdem.parse_cards(spec.board)
  strength = holdem.hand_strength(board)
  live = [h for h in range(holdem.NUM_HANDS) if not holdem.blocked_by(board)[h]]
  priors = [holdem.parse_range(r) for r in spec.ranges]
  nodes, terminals = river._betting_tree(spec)  # pylint: disable=protected-access
  num_d, num_h = len(nodes), game.num_hands
  policy = sigma.reshape(num_d, num_h, -1)
  child = np.asarray(game.child)
  position = {h: i for i, h in enumerate(live)}
  total = weight = 0.0
  for h0, h1 in itertools.product(live, live):
    w = priors[0][h0] * priors[1][h1]
    if w == 0 or set(holdem.HANDS[h0]) & set(holdem.HANDS[h1]):
      continue
    hands = (h0, h1)

    def walk(n):
      if n >= num_d:
        kind, (c0, c1), *_ = terminals[n - num_d]
        if kind == 'fold0':
          return -c0
        if kind == 'fold1':
          return c1
        return np.sign(strength[h0] - strength[h1]) * c1

      mover = nodes[n][0]
      probs = policy[n, position[hands[mover]]]
      return sum(probs[a] * walk(c) for a, c in enumerate(child[n]) if c >= 0)

    total += w * walk(0)
    weight += w
  return total / weight


@pytest.mark.parametrize('spec', [POLARISED, MIXED], ids=['polarised', 'mixed'])
def test_game_value_matches_enumeration(spec):
  game = river.compile_river(spec)
  for seed in (0, 1):
    sigma = random_policy(game, seed)
    assert float(river.game_value(game, sigma)) == pytest.approx(
        brute_force_value(game, spec, sigma), abs=1e-9)


def test_best_responses_bound_the_value():
  game = river.compile_river(MIXED)
  sigma = random_policy(game, 2)
  value = float(river.game_value(game, sigma))
  br0 = float(river.best_response_value(game, sigma, 0))
  br1 = float(river.best_response_value(game, sigma, 1))
  # Each best response does at least as well as the policy itself, and a random
  # policy is exploitable.
  assert br0 >= value - 1e-9 and br1 >= -value - 1e-9 and br0 + br1 > 0.1


def test_betting_tree_follows_the_spec():
  game = river.compile_river(MIXED)
  # Bets of 5 and 10 chips; a pot-size raise would pass the 25-chip stack, so
  # facing a bet only the all-in raises.
  assert set(game.info.terminal_histories) == {
      'kk', 'b5f', 'b5c', 'b10f', 'b10c', 'af', 'ac', 'b5af', 'b5ac', 'b10af', 'b10ac',
      'kb5f', 'kb5c', 'kb10f', 'kb10c', 'kaf', 'kac', 'kb5af', 'kb5ac', 'kb10af', 'kb10ac'}
  assert game.num_hands == 1081  # 52 - 5 cards: C(47, 2) live hands
  assert not any(h.count('b') + h.count('a') > 2 for h in game.info.terminal_histories)


@pytest.mark.parametrize('kwargs,message', [
    (dict(board='Ks 9s 8h'), '5-card board'), (dict(pot=0), 'pot > 0'),
    (dict(ranges=('KK', '22:0')), 'empty')])
def test_bad_specs_are_clear_errors(kwargs, message):
  spec = dict(board=BOARD, pot=10, stack=10, ranges=('KK', 'QQ'))
  spec.update(kwargs)
  with pytest.raises(ValueError, match=message):
    river.compile_river(river.RiverSpec(**spec))


def _frequency(policy, game, history, range_text, slot, prior):
  """Range-weighted probability of `slot` at `history` over the hands of range_text."""
  weights = holdem.parse_range(range_text)
  num = den = 0.0
  for h in np.flatnonzero(weights):
    key = f'{history}|{holdem.hand_text(h)}'
    if key in game.info.infoset_index:
      num += prior * weights[h] * policy.action_probabilities(key)[slot]
      den += prior * weights[h]
  return num / den


def test_polarised_river_matches_the_closed_form_equilibrium():
  """Nuts-or-air against a bluff-catcher, pot-size all-in: the bettor bets every
  nut hand and bluffs half as often (bluffs are 1/3 of bets), the bluff-catcher
  calls half the time, and the bettor's value is 2.5 of the 10-chip pot."""
  import cfr_jax  # pylint: disable=g-import-not-at-top
  game = river.compile_river(POLARISED)
  solver = cfr_jax.make_solver(game, 'dcfr', dtype='float64')
  policy = solver.average_policy(solver.run(solver.init(), 2000))
  assert cfr_jax.exploitability(game, policy) < 0.005 * POLARISED.pot
  assert cfr_jax.game_value(game, policy) == pytest.approx(2.5, abs=0.02)
  all_in = game.num_actions - 1
  assert _frequency(policy, game, '-', 'KK', all_in, 1.0) > 0.98
  assert _frequency(policy, game, '-', '54', all_in, 1.0) == pytest.approx(0.5, abs=0.02)
  assert _frequency(policy, game, 'a', 'QQ', river.CALL, 1.0) == pytest.approx(0.5, abs=0.02)


def test_mixed_river_solves_below_half_a_percent_of_the_pot():
  import cfr_jax  # pylint: disable=g-import-not-at-top
  game = river.compile_river(MIXED)
  solver = cfr_jax.make_solver(game, 'dcfr')
  state = solver.run(solver.init(), 300)
  assert cfr_jax.exploitability(game, solver.average_policy(state)) < 0.005 * MIXED.pot
  whole = solver.run(solver.init(), 30)
  parts = solver.run(solver.run(solver.init(), 11), 19)
  np.testing.assert_array_equal(np.asarray(whole.regrets), np.asarray(parts.regrets))


def test_river_config_trains_resumably_and_refuses_another_board(tmp_path):
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

  assert train().returncode == 0
  p = progress()
  assert p['iteration'] == 300 and p['exploitability'] < 0.005 * 10
  other = train('--config.river.board=Ks 9s 8h 3d 4c')
  assert other.returncode == 0 and 'STARTING FRESH' in other.stdout
  assert progress()['restored_from'] is None and progress()['rejected']
