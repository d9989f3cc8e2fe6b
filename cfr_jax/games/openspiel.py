"""Import any two-player zero-sum, perfect-recall OpenSpiel game (needs `open-spiel`)."""
from __future__ import annotations

import contextlib
import difflib
import os
import sys
import tempfile

from cfr_jax.games.tree import Chance, Decision, Game, Terminal, compile_tree


@contextlib.contextmanager
def _quiet_stderr():
  """File descriptor 2 sent to a scratch file meanwhile: OpenSpiel's C++ side
  writes "OpenSpiel exception: ..." and, for an unknown game, the names of
  all ~130 games there before raising; the error raised says it in one line."""
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with tempfile.TemporaryFile() as scratch:
      os.dup2(scratch.fileno(), 2)
      try:
        yield
      finally:
        os.dup2(saved, 2)
  finally:
    os.close(saved)


def _load_error(pyspiel, name: str, error: Exception) -> str:
  """One line: OpenSpiel's message without the list of every game (its first
  line), and for an unknown game, the closest names."""
  message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
  base = name.split('(')[0].strip()
  if base not in pyspiel.registered_names():
    close = difflib.get_close_matches(base, pyspiel.registered_names(), n=3, cutoff=0.6)
    hint = f'did you mean {", ".join(close)}?' if close else (
        'pyspiel.registered_names() lists them')
    return (f'unknown OpenSpiel game {base!r} in openspiel:{name}; {hint}' if base else
            'openspiel: needs a game name, e.g. openspiel:kuhn_poker')
  return f'OpenSpiel cannot load {name!r}: {message.removesuffix(":")}'


def import_openspiel(name: str) -> Game:
  """Compiles `pyspiel.load_game(name)` into a `Game` (slots = OpenSpiel action ids)."""
  try:
    import pyspiel  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f'openspiel:{name} needs the open-spiel package: '
                      'pip install "cfr_jax[openspiel]"') from e
  try:
    with _quiet_stderr():  # OpenSpiel prints its error, and every game's name, to fd 2
      game = pyspiel.load_game(name)
  except Exception as e:  # pyspiel raises a bare RuntimeError-like SpielError
    raise ValueError(_load_error(pyspiel, name, e)) from e
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
