"""Game compilers: sizes, OpenSpiel rules, and the invariants every game must satisfy."""
import re

import numpy as np
import pytest

import cfr_jax
from cfr_jax.games import tree as tree_lib
from cfr_jax.games.poker import LeducRules
from cfr_jax.games.tree import CHANCE, ROOT

try:
  import pyspiel
except ImportError:  # optional extra
  pyspiel = None

GAMES = ['kuhn', 'leduc', 'leduc(ranks=4,suits=3,max_raises=3,raise_sizes=1:3)']


@pytest.mark.parametrize('name,histories,infosets', [
    ('kuhn', 58, 12), ('leduc', 9457, 936), ('leduc(ranks=3,suits=2)', 9457, 936)])
def test_sizes_match_openspiel_reference(name, histories, infosets):
  game = cfr_jax.load_game(name)
  assert (game.num_nodes, game.num_infosets) == (histories, infosets)


@pytest.mark.parametrize('name', GAMES)
def test_conformance(name):
  """What every compiled game must satisfy for the tree passes to be right."""
  g = cfr_jax.load_game(name)
  parent, pp = np.asarray(g.parent), np.asarray(g.parent_player)
  n, (num_i, num_a) = g.num_nodes, g.legal.shape
  assert pp[0] == ROOT and np.all(parent[1:] < np.arange(1, n))
  assert np.all(np.diff(parent[1:]) >= 0), 'children of consecutive parents are consecutive'
  # Chance probabilities sum to one at every chance node.
  chance_prob = g.info.float_arrays['chance_prob']
  sums = np.bincount(parent[1:], weights=chance_prob[1:], minlength=n)
  chance_nodes = np.unique(parent[1:][pp[1:] == CHANCE])
  np.testing.assert_allclose(sums[chance_nodes], 1.0, rtol=1e-12)
  # Under any policy, terminal reach is a probability distribution over outcomes.
  reach = np.asarray(cfr_jax.games.tree.player_reach(
      g, cfr_jax.games.tree.edge_probs(g, cfr_jax.uniform_policy(g))))
  has_child = np.zeros(n, bool); has_child[parent[1:]] = True
  total = reach.prod(0) * g.info.float_arrays['chance_reach']
  np.testing.assert_allclose(total[~has_child].sum(), 1.0, rtol=1e-9)
  # Every decision edge names a legal action of its parent's infoset.
  slot = np.asarray(g.edge_slot)
  decision = (pp == 0) | (pp == 1)
  assert np.all(np.asarray(g.legal).reshape(-1)[slot[decision]])
  assert np.all(slot[~decision] == num_i * num_a)
  # slot_children[k, i, a] is a child of member k of infoset i, reached by a.
  members, sc = np.asarray(g.infoset_members), np.asarray(g.slot_children)
  valid = sc < n
  k_idx, i_idx, a_idx = np.nonzero(valid)
  child = sc[valid]
  assert np.all(parent[child] == members[k_idx, i_idx])
  assert np.all(slot[child] == i_idx * num_a + a_idx)
  assert valid.sum() == decision.sum(), 'every decision edge appears exactly once'
  # Each infoset's histories lie at one depth, and its player acts there.
  assert np.all(pp[child] == np.asarray(g.infoset_player)[i_idx])
  for d, (lo, hi) in enumerate(g.levels):
    ilo, ihi = g.infoset_levels[d]
    real = members[:, ilo:ihi][members[:, ilo:ihi] < n]
    assert np.all((real >= lo) & (real < hi))


def test_leduc_payoffs_are_zero_sum_and_bounded():
  g = cfr_jax.load_game('leduc')
  u = g.info.float_arrays['utility']
  # Largest pot: ante 1 + two raises of 2 + two raises of 4 = 13 per player.
  assert np.abs(u).max() == 13
  # By symmetry of the deal, always calling (checking) has value 0.
  probs = np.zeros((g.num_infosets, 3)); probs[:, 1] = 1
  assert cfr_jax.game_value(g, probs) == pytest.approx(0.0, abs=1e-12)


def _round_counts(max_raises):
  """Decision nodes, fold terminals and round-closing calls of one Leduc betting
  round, by direct enumeration of the action sequences."""
  counts = [0, 0, 0]

  def walk(seq):
    counts[0] += 1
    facing = seq and seq[-1] == 'r'
    if facing:
      counts[1] += 1  # fold
    if seq:
      counts[2] += 1  # call closes the round unless it is the opening check
    else:
      walk('c')
    if seq.count('r') < max_raises:
      walk(seq + 'r')

  walk('')
  return counts


@pytest.mark.parametrize('ranks,suits,max_raises', [(3, 2, 2), (4, 2, 2), (5, 3, 1), (4, 3, 3)])
def test_leduc_family_sizes_follow_the_deal_and_betting_counts(ranks, suits, max_raises):
  """Histories = 1 + n + n(n-1)(D+F+C) + n(n-1)C(n-2)(D+F+C), infosets =
  nD + n(n-1)CD, for n cards and a betting round of D decisions, F folds and
  C closing calls (this is 9,457 and 936 for Leduc)."""
  n = ranks * suits
  d, f, c = _round_counts(max_raises)
  game = cfr_jax.load_game(f'leduc(ranks={ranks},suits={suits},max_raises={max_raises})')
  assert game.num_nodes == 1 + n + n * (n - 1) * (d + f + c) * (1 + c * (n - 2))
  assert game.num_infosets == n * d + n * (n - 1) * c * d
  rules = LeducRules(ranks=ranks, suits=suits, max_raises=max_raises, stack=100)
  assert rules.num_histories() == game.num_nodes  # counted before building


def test_a_game_too_big_to_build_is_refused_before_building():
  """leduc(ranks=100,suits=100) used to build until the system killed it."""
  n, (d, f, c) = 10_000, _round_counts(2)
  histories = 1 + n + n * (n - 1) * (d + f + c) * (1 + c * (n - 2))
  with pytest.raises(ValueError, match=f'{histories:,} histories: too big to build'):
    cfr_jax.load_game('leduc(ranks=100,suits=100)')


def test_a_build_stops_when_memory_runs_out(monkeypatch):
  """Games that are not counted first (OpenSpiel's, any `compile_tree`) stop
  with an error once the system has less than MIN_FREE_BYTES left, checked
  every 65,536 histories; here the floor is set above what is available."""
  monkeypatch.setattr(tree_lib, 'MIN_FREE_BYTES', 2**62)
  with pytest.raises(ValueError, match=r'building its tree stopped at 6\d,\d{3} histories'):
    cfr_jax.load_game('leduc(ranks=5,suits=3,max_raises=3)')  # 405,736 histories
  monkeypatch.setattr(tree_lib, 'MIN_FREE_BYTES', 0)
  assert cfr_jax.load_game('leduc(ranks=5,suits=3,max_raises=3)').num_nodes == 405_736


@pytest.mark.parametrize('spec,message', [
    ('chess', 'unknown game'), ('leduc(colour=3)', 'unknown leduc parameter'),
    ('leduc(ranks=x)', 'bad value'), ('leduc(ranks=1,suits=1)', 'at least 3 cards'),
    ('leduc(max_raises=20)', 'cannot cover'), ('', 'non-empty'),
    # The last one was counted in silence: 4 ranks.
    ('leduc(ranks=3,ranks=4)', 'leduc parameter ranks is given twice'),
    ('leduc(ante=-1)', 'ante >= 0, got max_raises=2, raise_sizes=(2, 4), ante=-1'),
    # An IndexError traceback from the build; a third size ignored in silence.
    ('leduc(raise_sizes=2)', 'raise_sizes are one per betting round, two (e.g. '
                             'raise_sizes=2:4), got (2,)'),
    ('leduc(raise_sizes=2:4:6)', 'two (e.g. raise_sizes=2:4), got (2, 4, 6)')])
def test_load_game_rejects_bad_specs(spec, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    cfr_jax.load_game(spec)
  if spec.startswith('leduc('):  # the generative env reads the same parameters
    with pytest.raises(ValueError, match=re.escape(message)):
      cfr_jax.envs.load_env(spec)


@pytest.mark.parametrize('count', [True, 1.5, '1'])
def test_make_mesh_takes_a_whole_number_of_devices(count):
  with pytest.raises(ValueError, match='num_devices must be a whole number'):
    cfr_jax.make_mesh(count)  # each was a mesh of 1 device
  assert cfr_jax.make_mesh(None).size == cfr_jax.make_mesh(0).size


@pytest.mark.skipif(pyspiel is None, reason='open-spiel not installed')
@pytest.mark.parametrize('ours,theirs', [('kuhn', 'kuhn_poker'), ('leduc', 'leduc_poker')])
def test_infoset_keys_and_legal_actions_are_openspiels(ours, theirs):
  game = cfr_jax.load_game(ours)
  keys, legal = {}, {}
  stack = [pyspiel.load_game(theirs).new_initial_state()]
  while stack:
    s = stack.pop()
    if s.is_terminal():
      continue
    if s.is_chance_node():
      stack.extend(s.child(a) for a, _ in s.chance_outcomes())
      continue
    key = s.information_state_string()
    legal[key] = s.legal_actions()
    stack.extend(s.child(a) for a in s.legal_actions())
  assert set(game.info.infoset_keys) == set(legal)
  policy = cfr_jax.TabularPolicy(game.info, cfr_jax.uniform_policy(game), np.asarray(game.legal))
  for key, actions in legal.items():
    assert sorted(policy.action_probabilities(key)) == actions


@pytest.mark.slow
def test_million_history_game_builds():
  g = cfr_jax.load_game('leduc(ranks=13)')
  assert g.num_nodes > 1_000_000
