"""Game compilers: rules -> `Game` of flat arrays."""
from __future__ import annotations

import re

from cfr_jax.games.openspiel import import_openspiel
from cfr_jax.games.poker import LeducRules, kuhn, leduc
from cfr_jax.games.tree import Game

_LEDUC_PARAMS = {'ranks': int, 'suits': int, 'ante': int, 'max_raises': int,
                 'stack': int, 'raise_sizes': lambda s: tuple(int(x) for x in s.split(':'))}


def parse_params(name: str, text: str | None, known: dict) -> dict:
  """The keyword arguments of "key=value,key=value" (`text`, the part of a
  game spec in parentheses), each value read by `known[key]`; ValueError
  naming an unknown key, a bad value, or a key given twice (the last one
  counted in silence: "leduc(ranks=3,ranks=4)" made 4 ranks)."""
  out = {}
  for item in filter(None, (text or '').split(',')):
    key, _, value = item.partition('=')
    key = key.strip()
    if key not in known:
      raise ValueError(f'unknown {name} parameter {key!r}; known: {", ".join(known)}')
    if key in out:
      raise ValueError(f'{name} parameter {key} is given twice')
    try:
      out[key] = known[key](value.strip())
    except ValueError:
      raise ValueError(f'bad value for {name} parameter {key}: {value!r}') from None
  return out


def load_game(spec: str) -> Game:
  """Compiles a game from its name.

  "kuhn", "leduc", "leduc(ranks=5,suits=3,max_raises=3,raise_sizes=2:4)",
  or "openspiel:<name>" (any two-player zero-sum OpenSpiel game, e.g.
  "openspiel:liars_dice", "openspiel:goofspiel(num_cards=4,imp_info=True)").
  """
  if not isinstance(spec, str) or not spec.strip():
    raise ValueError(f'game must be a non-empty string, got {spec!r}')
  spec = spec.strip()
  if spec.startswith('env:'):
    raise ValueError(
        f'{spec!r} is a generative game (sampled, never compiled): it has no compiled '
        'tree and no exact exploitability; train it with algorithm "deep-cfr" '
        '(cfr_jax.envs.load_env, or game="env:..." in a launcher config), which '
        'measures progress by head-to-head play')
  if spec.startswith('openspiel:'):
    return import_openspiel(spec[len('openspiel:'):])
  if spec in ('kuhn', 'kuhn_poker'):
    return kuhn()
  m = re.fullmatch(r'leduc(?:_poker)?(?:\((.*)\))?', spec)
  if m:
    return leduc(LeducRules(**parse_params('leduc', m.group(1), _LEDUC_PARAMS)))
  if spec.lower().startswith(('holdem', 'hold\'em')):  # 'unknown game' sent one looking
    raise ValueError(f'{spec!r}: hold\'em subgames are built from a board, ranges and bet '
                     'sizes, not a name: cfr-train --config=holdem_river (or holdem_turn, '
                     'holdem_flop), or cfr_jax.holdem.subgame.compile_subgame in Python')
  lower = spec.lower()
  if lower != spec and (lower in ('kuhn', 'kuhn_poker') or re.fullmatch(
      r'leduc(?:_poker)?(?:\(.*\))?', lower)):
    raise ValueError(f'unknown game {spec!r}: game names are lower case, e.g. "{lower}"')
  raise ValueError(f'unknown game {spec!r}; try "kuhn", "leduc", '
                   '"leduc(ranks=5,suits=3)" or "openspiel:<name>"')


__all__ = ['Game', 'LeducRules', 'load_game', 'kuhn', 'leduc', 'import_openspiel']
