"""Generative games by name: `load_env('liars_dice(dice=2,sides=6)')`.

The launcher spells them `game='env:<name>'`: a game that is only sampled,
never compiled (`cfr_jax.load_game` compiles). Names round-trip with each
env's `spec`, which checkpoint fingerprints record.
"""
from __future__ import annotations

import re

from cfr_jax.envs.core import Env
from cfr_jax.envs.liars_dice import liars_dice_env
from cfr_jax.envs.poker import kuhn_env, leduc_env
from cfr_jax.games import _LEDUC_PARAMS, parse_params
from cfr_jax.games.poker import LeducRules

ENV_PREFIX = 'env:'


def load_env(spec: str) -> Env:
  """A generative game from its name (with or without the 'env:' prefix):
  "kuhn", "leduc", "leduc(ranks=5,suits=3,...)" (`load_game`'s parameters),
  "liars_dice(dice=2,sides=6)" (dice: each player's count, or "1:2")."""
  if not isinstance(spec, str) or not spec.strip():
    raise ValueError(f'env must be a non-empty string, got {spec!r}')
  spec = spec.strip()
  if spec.startswith(ENV_PREFIX):
    spec = spec[len(ENV_PREFIX):].strip()
  if spec in ('kuhn', 'kuhn_poker'):
    return kuhn_env()
  m = re.fullmatch(r'leduc(?:_poker)?(?:\((.*)\))?', spec)
  if m:
    return leduc_env(LeducRules(**parse_params('leduc', m.group(1), _LEDUC_PARAMS)))
  m = re.fullmatch(r'liars_dice(?:\((.*)\))?', spec)
  if m:
    dice = lambda s: tuple(int(x) for x in s.split(':'))
    kw = parse_params('liars_dice', m.group(1), {'dice': dice, 'sides': int})
    d = kw.get('dice', (1,))
    return liars_dice_env(d * 2 if len(d) == 1 else d, kw.get('sides', 6))
  raise ValueError(f'unknown env {spec!r}; try "kuhn", "leduc" or '
                   '"liars_dice(dice=2,sides=6)"')
