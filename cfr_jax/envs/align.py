"""An env walked in lockstep with a compiled game: agreement, and infoset rows.

`align(env, game)` expands every history of `game` breadth first, stepping a
batch of env states alongside (vmapped, one program per level), and checks
at every node that both agree on who acts, the legal slots, the chance
probabilities, the terminal payoffs, and that env infoset codes and game
infoset rows are in one-to-one correspondence. It returns the env with its
infoset ids replaced by the game's rows, so a sampled solver driving it
fills tables that the exact `cfr_jax.exploitability` reads.
"""
from __future__ import annotations

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax.envs.core import CHANCE, TERMINAL, Env
from cfr_jax.envs.tree import tree_arrays
from cfr_jax.games.tree import Game
from cfr_jax.placement import to_device


@struct.dataclass
class Aligned(Env):
  """`base` whose `infoset(s)` is the compiled game's infoset row (-1 if none).

  codes: [K] int32 sorted infoset codes of `base`; rows: [K] their rows.
  """
  base: Env
  codes: jax.Array
  rows: jax.Array

  num_actions = property(lambda self: self.base.num_actions)
  num_outcomes = property(lambda self: self.base.num_outcomes)
  max_depth = property(lambda self: self.base.max_depth)
  num_codes = property(lambda self: self.base.num_codes)

  def root(self):
    return self.base.root()

  def current_player(self, s):
    return self.base.current_player(s)

  def legal_mask(self, s):
    return self.base.legal_mask(s)

  def chance_probs(self, s):
    return self.base.chance_probs(s)

  def step(self, s, a):
    return self.base.step(s, a)

  def returns(self, s):
    return self.base.returns(s)

  def infoset_code(self, s):
    return self.base.infoset_code(s)

  def observation(self, s):
    return self.base.observation(s)

  @property
  def spec(self):
    return getattr(self.base, 'spec', None)

  @property
  def payoff_scale(self) -> float:
    return self.base.payoff_scale

  def infoset(self, s):
    code = self.base.infoset_code(s)
    i = jnp.clip(jnp.searchsorted(self.codes, code), 0, self.codes.shape[0] - 1)
    return jnp.where(self.codes[i] == code, self.rows[i], -1).astype(jnp.int32)


class Disagreement(AssertionError):
  """The env and the compiled game differ (the message says where)."""


def _bucket(n: int) -> int:
  return 1 << max(int(n - 1).bit_length(), 0)  # batch sizes: powers of two, few programs


def _children(step, padded, parents, actions):
  """The host states reached from `padded`[parents] by `actions` ([M] each),
  stepped in one padded batch (`step`: the jitted, vmapped env.step)."""
  m = len(parents)
  size = _bucket(m)
  idx = np.concatenate([parents, np.zeros(size - m, np.int64)])
  act = np.concatenate([actions, np.zeros(size - m, np.int64)]).astype(np.int32)
  return jax.tree.map(lambda x: np.asarray(x)[:m], step(
      jax.tree.map(lambda x: x[idx], padded), act))


def align(env: Env, game: Game, *, atol: float = 1e-6) -> Aligned:
  """`env` checked against every history of `game`, with the game's infoset rows.

  Raises `Disagreement` at the first history where they differ.
  """
  if not (isinstance(env, Env) and isinstance(game, Game)):  # align(game, env): AttributeError
    raise TypeError(f'align takes (env, game): an env (cfr_jax.envs.load_env) and a game '
                    f'(cfr_jax.load_game), got ({type(env).__name__}, {type(game).__name__})')
  if env.num_actions != game.num_actions:
    raise Disagreement(f'env has {env.num_actions} action slots, {game.name} '
                       f'{game.num_actions}')
  t = tree_arrays(game)
  legal = np.asarray(game.legal)
  look = jax.jit(jax.vmap(lambda s: (env.current_player(s), env.legal_mask(s),
                                     env.chance_probs(s), env.returns(s),
                                     env.infoset_code(s))))
  step = jax.jit(jax.vmap(env.step))
  # States stay on the host between levels: numpy padding and gathers compile nothing.
  states = jax.tree.map(lambda x: np.asarray(x)[None], env.root())
  code_of_row = np.full(game.num_infosets, -1, np.int64)
  row_of_code = {}
  for lo, hi in game.levels:
    n = hi - lo
    size = _bucket(n)
    padded = jax.tree.map(lambda x: np.concatenate(
        [x, np.repeat(x[:1], size - n, axis=0)]), states)
    player, mask, probs, ret, code = (np.asarray(x)[:n] for x in look(padded))
    nodes = np.arange(lo, hi)

    def fail(k, what):
      raise Disagreement(f'{game.name}, history {nodes[k]} (depth '
                         f'{t.depth[nodes[k]]}): {what}')
    bad = np.flatnonzero(player != t.player[lo:hi])
    if len(bad):
      k = bad[0]
      fail(k, f'env says player {player[k]}, the game {t.player[nodes[k]]}')
    term = player == TERMINAL
    bad = np.flatnonzero(term & ((np.abs(ret[:, 0] - t.utility[lo:hi]) > atol)
                                 | (np.abs(ret[:, 0] + ret[:, 1]) > atol)))
    if len(bad):
      fail(bad[0], f'env returns {ret[bad[0]]}, the game {t.utility[nodes[bad[0]]]}')
    dec = player < CHANCE
    rows = t.infoset[lo:hi]
    bad = np.flatnonzero(dec & np.any(mask != legal[np.maximum(rows, 0)], axis=1))
    if len(bad):
      fail(bad[0], f'legal slots {np.flatnonzero(mask[bad[0]])}, the game '
           f'{np.flatnonzero(legal[rows[bad[0]]])}')
    for k in np.flatnonzero(dec):
      row, c = int(rows[k]), int(code[k])
      if code_of_row[row] == -1:
        code_of_row[row] = c
      if code_of_row[row] != c or row_of_code.setdefault(c, row) != row:
        fail(k, f'infoset code {c} and game infoset {row} '
             f'({game.info.infoset_keys[row]!r}) are not one to one')
    # Children, in the game's order: the k-th legal slot, or the k-th outcome
    # of positive probability.
    parents, actions = [], []
    for k in np.flatnonzero(~term):
      if dec[k]:
        acts = np.flatnonzero(mask[k])
      else:
        acts = np.flatnonzero(probs[k] > 0)
        want = t.chance_prob[t.first[nodes[k]]:t.first[nodes[k]] + t.count[nodes[k]]]
        if len(acts) != len(want) or np.any(np.abs(probs[k][acts] - want) > atol):
          fail(k, f'chance probabilities {probs[k][acts]}, the game {want}')
      if len(acts) != t.count[nodes[k]]:
        fail(k, f'{len(acts)} children, the game {t.count[nodes[k]]}')
      parents.append(np.full(len(acts), k))
      actions.append(acts)
    if not parents:
      break
    states = _children(step, padded, np.concatenate(parents), np.concatenate(actions))
  order = np.argsort(code_of_row, kind='stable')
  return Aligned(base=env, codes=to_device(code_of_row[order], np.int32),
                 rows=to_device(order, np.int32))


def infoset_observations(env: Aligned, game: Game) -> jax.Array:
  """[I, F] `env.observation` at one history of each infoset row of `game`
  (`env` aligned to it by `align`): what a network trained on the env reads
  at each of the compiled game's infosets, so its policy can be evaluated
  exactly. Walks every history (breadth first, a vmapped step per level)."""
  if not isinstance(env, Aligned):
    raise TypeError('infoset_observations needs an env aligned to the game: envs.align(env, '
                    'game) (for a solver\'s policy table: make_solver(envs.align(env, game), '
                    '...))')
  look = jax.jit(jax.vmap(lambda s: (env.current_player(s), env.legal_mask(s),
                                     env.chance_probs(s), env.infoset(s),
                                     env.observation(s))))
  step = jax.jit(jax.vmap(env.step))
  out = np.zeros((game.num_infosets, env.num_features), np.float32)
  found = np.zeros(game.num_infosets, bool)
  states = jax.tree.map(lambda x: np.asarray(x)[None], env.root())
  while True:
    n = len(np.asarray(jax.tree.leaves(states)[0]))
    size = _bucket(n)
    padded = jax.tree.map(lambda x: np.concatenate(
        [x, np.repeat(x[:1], size - n, axis=0)]), states)
    player, mask, probs, row, obs = (np.asarray(x)[:n] for x in look(padded))
    dec = player < CHANCE
    out[row[dec]] = obs[dec]
    found[row[dec]] = True
    live = np.flatnonzero(player != TERMINAL)
    kids = [(k, a) for k in live
            for a in np.flatnonzero(mask[k] if dec[k] else probs[k] > 0)]
    if not kids:
      break
    states = _children(step, padded, *(np.asarray(x) for x in zip(*kids)))
  if not found.all():
    raise Disagreement(f'{int((~found).sum())} infosets of {game.name} never reached')
  return jnp.asarray(out)
