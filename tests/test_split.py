"""Subtree-bounded passes (cfr_jax/holdem/split.py): the same iterates as whole
levels, to rounding, in a fraction of the memory."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update('jax_enable_x64', True)

import cfr_jax  # pylint: disable=g-import-not-at-top
from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import split  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top

from test_engine import RIVER, TURN  # pylint: disable=g-import-not-at-top

# Clubs and spades interchangeable: river cards dealt as representatives.
ISO_TURN = subgame.SubgameSpec(board='Td 9d 6h 5h', pot=10, stack=20,
                               ranges=('AA,KQ,T9,87', 'KK,QJ,65,A5'),
                               bet_sizes=((0.75,), (1.0,)), raise_sizes=(1.0,), max_raises=1)
# A flop: a turn and a river below, all-in lines dealing both at once.
FLOP = subgame.SubgameSpec(board='Ks 9s 8h', pot=10, stack=15, ranges=('KQ,98s,33', 'AK,QQ,T9s'),
                           bet_sizes=((1.0,),), raise_sizes=(), max_raises=0)


def _random_state(solver, seed=0):
  """A state with random regrets and sums (a mid-run state, no exact ties)."""
  rng = np.random.default_rng(seed)
  state = solver.init()
  noise = lambda x: None if x is None else jnp.asarray(rng.standard_normal(x.shape), x.dtype)
  return state.replace(regrets=noise(state.regrets), last_regrets=noise(state.last_regrets),
                       strategy_sum=jnp.abs(noise(state.strategy_sum)))


@pytest.mark.parametrize('spec,buckets,algorithm,cards', [
    (TURN, None, 'dcfr', 1),
    (TURN, None, 'dcfr', 5),  # 44 cards: batches of 4
    (ISO_TURN, None, 'dcfr', 2),
    (TURN, None, 'pcfr+', 3),  # predictive: last regrets
    (TURN, {'method': 'ehs', 'num_buckets': 6}, 'dcfr', 4),
    (FLOP, None, 'dcfr', 7),
], ids=['turn-1', 'turn-5', 'iso-turn', 'turn-pcfr+', 'turn-buckets', 'flop'])
def test_split_iterations_equal_whole_levels_to_rounding(spec, buckets, algorithm, cards):
  """From a mid-run state, an iteration split below the first deal updates
  every row as whole levels do, to float64 rounding (the chance nodes of the
  deal sum their cards batch by batch: another order of the same sum). One
  iteration: over more, regret matching's jumps at exact ties (PCFR+'s
  floored regrets) turn such rounding into different iterates."""
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets))
  whole = cfr_jax.make_solver(game, algorithm, dtype='float64', subtrees=0)
  parts = cfr_jax.make_solver(game, algorithm, dtype='float64', subtrees=cards)
  assert not whole._splits and parts._splits  # pylint: disable=protected-access
  a, b = whole.run(_random_state(whole), 1), parts.run(_random_state(parts), 1)
  for name in ('regrets', 'last_regrets', 'strategy_sum'):
    x, y = getattr(a, name), getattr(b, name)
    assert (x is None) == (y is None), name
    if x is not None:
      np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-12, atol=1e-12,
                                 err_msg=name)
  moved = np.asarray(a.regrets) != np.asarray(_random_state(whole).regrets)
  assert moved.mean() > 0.5  # it is an update (CFR+ leaves floored zero-value rows alone)


def test_parts_cover_every_decision_once():
  """Every decision's entries are read and written by exactly one part."""
  for spec in (ISO_TURN, FLOP):
    game = subgame.compile_subgame(spec)
    parts = split.split_subgame(game, 3)
    covered = np.zeros(game.num_cells, np.int64)
    for part in (parts.upper,) + parts.classes:
      base = np.asarray(part.base).reshape(-1, np.asarray(part.base).shape[-1])
      for batch in base:
        sizes = np.diff(np.append(split._cell_starts(game), game.num_cells))  # pylint: disable=protected-access
        start = split._cell_starts(game)  # pylint: disable=protected-access
        for b in batch:
          d = int(np.searchsorted(start, b))
          assert start[d] == b
          covered[b:b + sizes[d]] += 1
    assert (covered == 1).all()
  # Clubs and diamonds interchangeable on the flop: below a club (the pair's
  # representative) the river deals every card, below a heart or a spade
  # one per pair: two shapes of turn subtrees.
  assert len(split.split_subgame(subgame.compile_subgame(FLOP), 2).classes) == 2


def test_split_runs_chunk_invariant_and_converge():
  """run(run(s, a), b) == run(s, a + b) bit for bit, and the split solver
  converges as the whole-level one does (not to the same iterates: rounding
  meets regret matching's jumps at exact ties, see above)."""
  game = subgame.compile_subgame(ISO_TURN)
  parts = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=2)
  whole = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=0)
  a = parts.run(parts.run(parts.init(), 13), 27)
  b = parts.run(parts.init(), 40)
  for name in ('regrets', 'strategy_sum'):
    np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
  c = whole.run(whole.init(), 40)
  ea = float(cfr_jax.exploitability(game, parts.average_policy(a)))
  ec = float(cfr_jax.exploitability(game, whole.average_policy(c)))
  assert ea < 0.01 * 10 and ec < 0.01 * 10  # under 1% of the pot after 40 iterations
  assert ea < 1.5 * ec and ec < 1.5 * ea, (ea, ec)
  first = float(cfr_jax.exploitability(game, parts.average_policy(parts.run(parts.init(), 1))))
  assert ea < first / 20


def test_split_chunk_temporaries_are_under_the_state():
  """XLA's own accounting (deterministic): split one card at a time, the
  chunk's temporaries are a fraction of whole levels' and under the state."""
  game = subgame.compile_subgame(TURN)

  def memory(solver):
    state = jax.eval_shape(solver._zeros)  # pylint: disable=protected-access
    compiled = solver._run.lower(  # pylint: disable=protected-access
        solver._passes, state, jnp.asarray(1, jnp.int32), solver._hp).compile()  # pylint: disable=protected-access
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
    return compiled.memory_analysis().temp_size_in_bytes, state_bytes

  (split_temp, state_bytes), (whole_temp, _) = (
      memory(cfr_jax.make_solver(game, 'dcfr', subtrees=n)) for n in (1, 0))
  assert split_temp <= 1.0 * state_bytes, (split_temp, state_bytes)
  assert split_temp * 4 < whole_temp, (split_temp, whole_temp)


def test_subtrees_option():
  river = subgame.compile_subgame(RIVER)
  assert not cfr_jax.make_solver(river, 'dcfr', subtrees=2)._splits  # pylint: disable=protected-access
  turn = subgame.compile_subgame(TURN)
  assert not cfr_jax.make_solver(turn, 'dcfr')._splits  # pylint: disable=protected-access
  assert not cfr_jax.make_solver(turn, 'dcfr', subtrees=2, alternating=False)._splits  # pylint: disable=protected-access
  for bad in (-1, 1.5, 'two', True):
    with pytest.raises(ValueError, match='subtrees'):
      cfr_jax.make_solver(turn, 'dcfr', subtrees=bad)
  with pytest.raises(ValueError, match='deal'):
    split.split_subgame(river)


def test_big_states_split_by_default(monkeypatch):
  turn = subgame.compile_subgame(TURN)
  monkeypatch.setattr(solver_lib, '_SPLIT_BYTES', 0)  # as for the flop config's state
  solver = cfr_jax.make_solver(turn, 'dcfr')
  assert solver._splits and solver._split_cards == solver_lib._SPLIT_CARDS  # pylint: disable=protected-access
  # The state's layout is the full game's: a split run's state goes on in a
  # whole-level solver (the fingerprint does not name the passes).
  whole = cfr_jax.make_solver(turn, 'dcfr', subtrees=0)
  assert solver.describe() == whole.describe()
  state = whole.run(solver.run(solver.init(), 3), 2)
  assert int(state.iteration) == 5 and np.isfinite(np.asarray(state.regrets)).all()
