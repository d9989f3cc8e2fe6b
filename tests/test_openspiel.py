"""Cross-checks against the open-spiel package: importer sizes and iterate-for-iterate CFR."""
import numpy as np
import pytest

import cfr_jax

pyspiel = pytest.importorskip('pyspiel', reason='open-spiel not installed')
from open_spiel.python.algorithms import cfr as os_cfr  # pylint: disable=g-import-not-at-top
from open_spiel.python.algorithms import discounted_cfr  # pylint: disable=g-import-not-at-top
from open_spiel.python.algorithms import exploitability as os_exploitability  # pylint: disable=g-import-not-at-top


def openspiel_sizes(name):
  """(histories, infosets) by depth-first enumeration with pyspiel."""
  game = pyspiel.load_game(name)
  if game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
    game = pyspiel.convert_to_turn_based(game)
  histories, keys, stack = 0, set(), [game.new_initial_state()]
  while stack:
    state = stack.pop()
    histories += 1
    if state.is_terminal():
      continue
    if state.is_chance_node():
      stack.extend(state.child(a) for a, _ in state.chance_outcomes())
    else:
      keys.add(state.information_state_string())
      stack.extend(state.child(a) for a in state.legal_actions())
  return histories, len(keys)


@pytest.mark.parametrize('name', [
    'liars_dice(dice_sides=4)', 'goofspiel(num_cards=4,imp_info=True)', 'kuhn_poker'])
def test_importer_reproduces_openspiel_sizes_and_uniform_exploitability(name):
  game = cfr_jax.load_game(f'openspiel:{name}')
  assert (game.num_nodes, game.num_infosets) == openspiel_sizes(name)
  os_game = pyspiel.load_game(name)
  policy = cfr_jax.TabularPolicy(game.info, cfr_jax.uniform_policy(game), np.asarray(game.legal))
  if os_game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
    os_game = pyspiel.convert_to_turn_based(os_game)
  expected = os_exploitability.exploitability(os_game, policy.to_openspiel(os_game))
  assert cfr_jax.exploitability(game, policy) == pytest.approx(expected, abs=1e-9)


@pytest.mark.slow
def test_importer_full_liars_dice():
  game = cfr_jax.load_game('openspiel:liars_dice')
  assert (game.num_nodes, game.num_infosets) == openspiel_sizes('liars_dice')


def test_imported_leduc_equals_native_leduc():
  native, imported = cfr_jax.load_game('leduc'), cfr_jax.load_game('openspiel:leduc_poker')
  assert native.info.infoset_keys == imported.info.infoset_keys
  for field in ('parent', 'parent_player', 'edge_slot', 'legal', 'node_infoset'):
    np.testing.assert_array_equal(getattr(native, field), getattr(imported, field))
  np.testing.assert_array_equal(native.info.float_arrays['utility'],
                                imported.info.float_arrays['utility'])


@pytest.mark.parametrize('game_name,os_name', [('kuhn', 'kuhn_poker'), ('leduc', 'leduc_poker')])
@pytest.mark.parametrize('algorithm,make,alternating', [
    ('cfr', lambda g: os_cfr._CFRSolver(g, regret_matching_plus=False,  # pylint: disable=protected-access
                                       alternating_updates=True, linear_averaging=False), True),
    ('cfr', lambda g: os_cfr._CFRSolver(g, regret_matching_plus=False,  # pylint: disable=protected-access
                                       alternating_updates=False, linear_averaging=False), False),
    ('cfr+', os_cfr.CFRPlusSolver, True),
    ('dcfr', discounted_cfr.DCFRSolver, True),
    ('linear_cfr', discounted_cfr.LCFRSolver, True)])
def test_iterates_match_openspiel_python_solvers(game_name, os_name, algorithm, make, alternating):
  """Same average policy as OpenSpiel's reference solvers after 10 iterations."""
  game = cfr_jax.load_game(game_name)
  solver = cfr_jax.make_solver(game, algorithm, dtype='float64', alternating=alternating)
  ours = solver.average_policy(solver.run(solver.init(), 10))
  theirs = make(pyspiel.load_game(os_name))
  for _ in range(10):
    theirs.evaluate_and_update_policy()
  table = theirs.average_policy()
  for key, row in table.state_lookup.items():
    for action, prob in ours.action_probabilities(key).items():
      assert prob == pytest.approx(table.action_probability_array[row, action], abs=1e-12)
