"""Import any two-player zero-sum, perfect-recall OpenSpiel game (needs `open-spiel`)."""
from __future__ import annotations

from cfr_jax.games.tree import Chance, Decision, Game, Terminal, compile_tree


def import_openspiel(name: str) -> Game:
  """Compiles `pyspiel.load_game(name)` into a `Game` (slots = OpenSpiel action ids)."""
  try:
    import pyspiel  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f'openspiel:{name} needs the open-spiel package: '
                      'pip install "cfr_jax[openspiel]"') from e
  try:
    game = pyspiel.load_game(name)
  except Exception as e:  # pyspiel raises a bare RuntimeError-like SpielError
    raise ValueError(f'OpenSpiel cannot load {name!r}: {e}') from e
  gtype = game.get_type()
  if game.num_players() != 2 or gtype.utility not in (
      pyspiel.GameType.Utility.ZERO_SUM, pyspiel.GameType.Utility.CONSTANT_SUM):
    raise ValueError(f'{name!r} is not a two-player zero-sum game')
  if gtype.dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
    game = pyspiel.convert_to_turn_based(game)
  if gtype.chance_mode == pyspiel.GameType.ChanceMode.SAMPLED_STOCHASTIC:
    raise ValueError(f'{name!r} has sampled chance; exact CFR needs explicit chance')
  offset = None

  def expand(state):
    nonlocal offset
    if state.is_terminal():
      r = state.returns()
      if offset is None:
        offset = (r[0] + r[1]) / 2  # constant-sum: play the zero-sum part
      return Terminal(r[0] - offset)
    if state.is_chance_node():
      return Chance([(p, state.child(a)) for a, p in state.chance_outcomes()])
    player = state.current_player()
    return Decision(player, state.information_state_string(player),
                    [(a, state.child(a)) for a in state.legal_actions()])

  return compile_tree(game.new_initial_state(), expand,
                      num_actions=game.num_distinct_actions(),
                      info_kwargs=dict(name=f'openspiel:{name}',
                                       spec={'game': 'openspiel', 'name': str(game)},
                                       openspiel_name=str(game)))
