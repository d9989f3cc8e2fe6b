"""Subtree-bounded passes (cfr_jax/holdem/split.py): the same iterates as whole
levels, to rounding, in a fraction of the memory."""
# pylint: disable=protected-access
import dataclasses
import logging
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update('jax_enable_x64', True)

import cfr_jax  # pylint: disable=g-import-not-at-top
from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import split  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top

import launcher_util  # pylint: disable=g-import-not-at-top
from test_engine import RIVER, TURN  # pylint: disable=g-import-not-at-top

# Clubs and spades interchangeable: river cards dealt as representatives.
ISO_TURN = subgame.SubgameSpec(board='Td 9d 6h 5h', pot=10, stack=20,
                               ranges=('AA,KQ,T9,87', 'KK,QJ,65,A5'),
                               bet_sizes=((0.75,), (1.0,)), raise_sizes=(1.0,), max_raises=1)
# A flop: a turn and a river below (all-in only on them), all-in lines
# dealing both at once.
FLOP = subgame.SubgameSpec(board='Ks 9s 8h', pot=10, stack=15, ranges=('KQ,98s,33', 'AK,QQ,T9s'),
                           bet_sizes=((1.0,), (), ()), raise_sizes=(), max_raises=0)


def _random_state(solver, seed=0):
  """A state with random regrets and sums (a mid-run state, no exact ties)."""
  rng = np.random.default_rng(seed)
  state = solver.init()
  noise = lambda x: None if x is None else jnp.asarray(rng.standard_normal(x.shape), x.dtype)
  return state.replace(regrets=noise(state.regrets), last_regrets=noise(state.last_regrets),
                       strategy_sum=jnp.abs(noise(state.strategy_sum)))


@pytest.mark.parametrize('spec,buckets,algorithm,cards', [
    # ~20-25 s each on a cold compilation cache: one card at a time, batches
    # of 4 (44 cards), a predictive algorithm's last regrets, bucket rows.
    pytest.param(TURN, None, 'dcfr', 1, marks=pytest.mark.slow),
    pytest.param(TURN, None, 'dcfr', 5, marks=pytest.mark.slow),
    pytest.param(TURN, None, 'pcfr+', 3, marks=pytest.mark.slow),
    pytest.param(ISO_TURN, None, 'dcfr', 2, marks=pytest.mark.slow),  # ~20-30 s (the iso-turn's
    # split best responses and node reports stay in the default run)
    pytest.param(TURN, {'method': 'ehs', 'num_buckets': 6}, 'dcfr', 4,
                 marks=pytest.mark.slow),
    (FLOP, None, 'dcfr', 7),  # two shape classes of turn cards
], ids=['turn-1', 'turn-5', 'turn-pcfr+', 'iso-turn', 'turn-buckets', 'flop'])
def test_split_iterations_equal_whole_levels_to_rounding(spec, buckets, algorithm, cards):
  """From a mid-run state, an iteration split below the first deal updates
  every row as whole levels do, to float64 rounding (the chance nodes of the
  deal sum their cards batch by batch: another order of the same sum). One
  iteration: over more, regret matching's jumps at exact ties (PCFR+'s
  floored regrets) turn such rounding into different iterates."""
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets))
  whole = cfr_jax.make_solver(game, algorithm, dtype='float64', subtrees=0)
  parts = cfr_jax.make_solver(game, algorithm, dtype='float64', subtrees=cards)
  assert not whole._splits and parts._splits
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
  game = subgame.compile_subgame(FLOP)
  parts = split.split_subgame(game, 3)
  start = game.cell_start[:-1]
  sizes = np.diff(game.cell_start)
  covered = np.zeros(game.num_cells, np.int64)
  for part in (parts.upper,) + parts.classes:
    for b in np.asarray(part.base).reshape(-1):
      d = int(np.searchsorted(start, b))
      assert start[d] == b
      covered[b:b + sizes[d]] += 1
  assert (covered == 1).all()
  # Clubs and diamonds interchangeable on this flop: below a club (the pair's
  # representative) the river deals every card, below a heart or a spade one
  # per pair: two shapes of turn subtrees.
  assert len(parts.classes) == 2


@pytest.mark.slow  # ~30-45 s; the split iterates' equality to whole levels stays in the default run
def test_each_parts_blocks_are_one_slice_of_the_state(monkeypatch):
  """Layout 6: a level's decisions of one group (player, legal actions) are
  ordered by the first card dealt on their path, so each batch's block is one
  contiguous slice of the full state (one read, one write: no piece per line
  of the upper street reaching that card). Rows are only moved: each infoset's
  iterates are layout 5's, bit for bit."""
  game = subgame.compile_subgame(ISO_TURN)
  parts = split.split_subgame(game, 1)
  for cls in parts.classes:
    sizes = np.diff(game.cell_start)
    for lo, hi, _, _ in cls.game.act_runs:
      assert len(split.runs(cls, lo, hi)) == 1
      base = np.asarray(cls.base)[:, lo:hi]
      ids = np.searchsorted(game.cell_start[:-1], base)
      np.testing.assert_array_equal(base[:, 1:], base[:, :-1] + sizes[ids[:, :-1]])
  monkeypatch.setattr(subgame, '_ORDER_BY_DEAL', False)
  old = subgame.compile_subgame(ISO_TURN)
  old_parts = split.split_subgame(old, 1)
  assert sum(len(c.breaks) for c in old_parts.classes) > sum(
      len(c.breaks) for c in parts.classes)  # pieces that layout 6 joins
  keys, index = old.info.infoset_keys, game.info.infoset_index
  rows = np.array([index[keys[i]] for i in range(old.num_infosets)])
  assert sorted(rows) == list(range(game.num_infosets)) and (rows != np.arange(len(rows))).any()
  tables = []
  for g in (old, game):
    solver = cfr_jax.make_solver(g, 'dcfr', subtrees=1)
    state = solver.run(solver.init(), 6)
    tables.append([np.asarray(solver.table(x)) for x in (state.regrets, state.strategy_sum)])
  for a, b in zip(*tables):
    np.testing.assert_array_equal(a, b[rows])
  assert np.abs(tables[0][0]).max() > 0.01  # it moved


def test_split_runs_are_chunk_invariant_and_vmapped():
  """run(run(s, a), b) == run(s, a + b) bit for bit, and vmapped instances
  (`run_many`) run the split passes too."""
  game = subgame.compile_subgame(ISO_TURN)
  parts = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=2)
  whole = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=0)
  a = parts.run(parts.run(parts.init(), 13), 27)
  b = parts.run(parts.init(), 40)
  for name in ('regrets', 'strategy_sum'):
    np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
  many = parts.run_many(solver_lib.stack_states([_random_state(parts, k) for k in (1, 2)]), 1)
  for k, state in enumerate(solver_lib.unstack_states(many)):
    np.testing.assert_allclose(np.asarray(state.regrets),
                               np.asarray(whole.run(_random_state(whole, k + 1), 1).regrets),
                               rtol=1e-9, atol=1e-9)


# ~20 s; a split solve converging stays in the default run (test_subgame.py's raked turn).
@pytest.mark.slow
def test_split_runs_converge_as_whole_levels_do():
  """The split solver converges as the whole-level one does (not to the same
  iterates: rounding meets regret matching's jumps at exact ties, see above)."""
  game = subgame.compile_subgame(ISO_TURN)
  parts = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=2)
  whole = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=0)
  a, c = parts.run(parts.init(), 40), whole.run(whole.init(), 40)
  ea = float(cfr_jax.exploitability(game, parts.average_policy(a)))
  ec = float(cfr_jax.exploitability(game, whole.average_policy(c)))
  assert ea < 0.01 * 10 and ec < 0.01 * 10  # under 1% of the pot after 40 iterations
  assert ea < 1.5 * ec and ec < 1.5 * ea, (ea, ec)
  first = float(cfr_jax.exploitability(game, parts.average_policy(parts.run(parts.init(), 1))))
  assert ea < first / 20


def test_split_chunk_temporaries_are_under_the_state():
  """XLA's own accounting (deterministic): split one card at a time, the
  chunk's temporaries are a fraction of whole levels' and under the state,
  and the state is updated in place."""
  game = subgame.compile_subgame(TURN)

  def memory(solver):
    state = jax.eval_shape(solver._zeros)
    compiled = solver._run.lower(
        solver._passes, state, jnp.asarray(1, jnp.int32), solver._hp).compile()
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
    return compiled.memory_analysis().temp_size_in_bytes, state_bytes, compiled.as_text()

  (split_temp, state_bytes, text), (whole_temp, _, _) = (
      memory(cfr_jax.make_solver(game, 'dcfr', subtrees=n)) for n in (1, 0))
  assert split_temp <= 1.0 * state_bytes, (split_temp, state_bytes)
  assert split_temp * 4 < whole_temp, (split_temp, whole_temp)
  # The parts' writes (`split.put`) update the donated state in place: no
  # state-sized copy (each would be a pass over the whole state per batch).
  # As for whole levels (tests/test_engine.py), this holds for the
  # non-predictive algorithms without the compensated sum.
  shape = f'f32[{game.num_cells}]'
  assert text.count(f'= {shape}{{0}} dynamic-update-slice(') + text.count(
      f'= {shape}{{0}} fusion(') > 0
  # Each block is written by one dynamic-update-slice per contiguous run of
  # its rows, not by a window scatter, which XLA:CPU runs as a loop of one
  # step per decision: the only loops are the chunk's and, per half step,
  # each shape class's loop over its batches.
  parts = split.split_subgame(game, 1)
  assert len(re.findall(r' while\(', text)) == 1 + 2 * len(parts.classes)
  assert text.count(f'= {shape}{{0}} copy(') == 0


def test_subtrees_option():
  river = subgame.compile_subgame(RIVER)
  assert not cfr_jax.make_solver(river, 'dcfr', subtrees=2)._splits
  turn = subgame.compile_subgame(TURN)
  assert not cfr_jax.make_solver(turn, 'dcfr')._splits
  assert not cfr_jax.make_solver(turn, 'dcfr', subtrees=2, alternating=False)._splits
  assert cfr_jax.make_solver(turn, 'dcfr', subtrees=2, storage='bfloat16')._splits
  for bad in (-1, 1.5, 'two', True):
    with pytest.raises(ValueError, match='subtrees'):
      cfr_jax.make_solver(turn, 'dcfr', subtrees=bad)
  with pytest.raises(ValueError, match='deal'):
    split.split_subgame(river)


def test_big_states_split_by_default(monkeypatch):
  turn = subgame.compile_subgame(TURN)
  monkeypatch.setattr(split, 'BIG_BYTES', 0)  # as for the flop config's state
  solver = cfr_jax.make_solver(turn, 'dcfr')
  assert solver._splits and solver._split_cards == solver_lib._SPLIT_CARDS
  # The state's layout is the full game's: a split run's state goes on in a
  # whole-level solver (the fingerprint does not name the passes).
  whole = cfr_jax.make_solver(turn, 'dcfr', subtrees=0)
  assert solver.describe() == whole.describe()
  state = whole.run(solver.run(solver.init(), 3), 2)
  assert int(state.iteration) == 5 and np.isfinite(np.asarray(state.regrets)).all()


@pytest.mark.parametrize('spec,buckets', [
    (ISO_TURN, None),
    pytest.param(FLOP, None, marks=pytest.mark.slow),  # ~20-30 s: two shape classes
    pytest.param(TURN, {'method': 'ehs', 'num_buckets': 6},  # ~35-65 s
                 marks=pytest.mark.slow)], ids=['iso-turn', 'flop', 'turn-buckets'])
def test_split_best_responses_equal_whole_tree_ones(spec, buckets, monkeypatch):
  """Big subgames' exact exploitability (split best responses, one dealt
  card's levels at a time) equals the whole-tree passes' to float64
  rounding, abstract or not."""
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets)).astype(jnp.float64)
  solver = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=0)
  policy = solver.average_policy(solver.run(_random_state(solver), 3))
  whole = [cfr_jax.exploitability(game, policy)]
  if buckets:
    whole.append(cfr_jax.abstract_exploitability(game, policy))
  monkeypatch.setattr(split, 'BIG_BYTES', 0)
  assert split.is_big(game)
  parted = [cfr_jax.exploitability(game, policy)]
  if buckets:
    parted.append(cfr_jax.abstract_exploitability(game, policy))
  np.testing.assert_allclose(parted, whole, rtol=1e-12)
  assert whole[0] > 0 and (not buckets or whole[1] != whole[0])


@pytest.mark.parametrize('spec,buckets,compensated', [
    (ISO_TURN, None, True),  # isomorphic deals: the table's rows averaged again
    pytest.param(TURN, {'method': 'ehs', 'num_buckets': 6}, False, marks=pytest.mark.slow),
], ids=['iso-turn', 'turn-buckets-no-low'])
def test_a_split_solver_evaluates_its_average_without_the_table(spec, buckets, compensated):
  """`Solver.exploitability` on split passes reads the average block by
  block from the strategy sums: the table's value to float rounding (and
  the abstract one too); whole-level solvers give the table's bit for bit."""
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets))
  solver = cfr_jax.make_solver(game, 'dcfr', subtrees=2, compensated=compensated)
  assert solver._splits  # pylint: disable=protected-access
  assert (solver.init().strategy_sum_low is None) != compensated
  state = solver.run(_random_state(solver), 2)
  policy = solver.average_policy(state)
  kinds = [False] + ([True] if buckets else [])
  table = [cfr_jax.abstract_exploitability(game, policy) if a
           else cfr_jax.exploitability(game, policy) for a in kinds]
  sums = [solver.exploitability(state, abstract=a) for a in kinds]
  np.testing.assert_allclose(sums, table, rtol=2e-6)
  assert table[0] > 0 and (not buckets or table[1] != table[0])
  whole = cfr_jax.make_solver(game, 'dcfr', subtrees=0, compensated=compensated)
  assert whole.exploitability(state) == cfr_jax.exploitability(game, whole.average_policy(state))


@pytest.mark.parametrize('spec,buckets,lines', [
    # The root and a node under a dealt card; 'b7.5c/2s/' is dealt as 2c
    # (clubs and spades interchangeable), reported with its hands mapped back.
    (ISO_TURN, None, ('-', 'b7.5c/2s/', 'kb7.5c/7d/k')),
    pytest.param(FLOP, None, ('b10', 'kb10c/3s/kk/Jc/k'),  # two shape classes (~40-60 s;
                 marks=pytest.mark.slow),  # the flop's split iterations are in the default run)
    pytest.param(TURN, {'method': 'ehs', 'num_buckets': 6}, ('-', 'kk/2h/b10'),
                 marks=pytest.mark.slow),
], ids=['iso-turn', 'flop', 'turn-buckets'])
def test_split_node_reports_equal_whole_tree_ones(spec, buckets, lines, monkeypatch):
  """A node's report in split passes (above the cut: every batch's passes;
  below it: its own batch's) equals the whole-tree one to float64 rounding,
  from the state's sums (`Solver.node_report` of a split solver) and from the
  table (`subgame.node_report` of a big subgame)."""
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets))
  whole = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=0)
  parts = cfr_jax.make_solver(game, 'dcfr', dtype='float64', subtrees=1)
  state = whole.run(_random_state(whole), 3)
  probs = whole.average_policy(state).probs
  calls = []
  monkeypatch.setattr(split, '_node_passes', lambda *a, f=split._node_passes: (
      calls.append(a[5]) or f(*a)))
  reports = {}
  for line in lines:
    reports[line] = [whole.node_report(state, line), parts.node_report(state, line)]
  with monkeypatch.context() as m:
    m.setattr(split, 'BIG_BYTES', 0)
    for line in lines:
      reports[line].append(subgame.node_report(game, probs, line))
  assert len(calls) == 2 * len(lines)  # the split ones went through the split passes
  assert {c[0] is None for c in calls} == {True, False}  # above the cut and below it
  for line, (a, *others) in reports.items():
    assert a.reach.sum() > 0 and np.ptp(a.ev) > 0, line  # a node that is reached
    for b in others:
      assert (b.history, b.player, b.actions, b.hands) == (a.history, a.player, a.actions,
                                                            a.hands), line
      for name in ('reach', 'probs', 'ev', 'frequencies'):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10,
                                   atol=1e-12, err_msg=f'{line}: {name}')
      np.testing.assert_allclose(b.node_ev, a.node_ev, rtol=1e-10)
  with pytest.raises(ValueError, match='no decision node'):
    parts.node_report(state, lines[0] + 'q')


def test_bfloat16_states_split_in_place_and_iterate_as_whole_levels():
  """16-bit storage runs split too: its state goes through the passes as its
  bits, each part's rows written in place (XLA:CPU's window scatter into a
  bfloat16 array is not in place), the temporaries stay under the state,
  and an iteration gives whole levels' iterates up to rounding: the same
  stochastic rounding of float32 values that differ only in summation order."""
  game = subgame.compile_subgame(TURN)
  parts = cfr_jax.make_solver(game, 'dcfr', subtrees=1, storage='bfloat16')
  whole = cfr_jax.make_solver(game, 'dcfr', subtrees=0, storage='bfloat16')
  assert parts._splits and not whole._splits
  state = jax.eval_shape(parts._zeros)
  compiled = parts._run.lower(parts._passes, state, jnp.asarray(1, jnp.int32),
                              parts._hp).compile()
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
  # A state-sized temporary (one array rewritten whole) would take it past half.
  assert compiled.memory_analysis().temp_size_in_bytes <= 0.5 * state_bytes
  text = compiled.as_text()
  for shape in (f'u16[{game.num_cells}]', f'bf16[{game.num_cells}]'):
    assert text.count(f'= {shape}{{0}} copy(') == 0, shape
  # Inside the chunk every state-sized operation is on the bits (whole levels: 40 here).
  assert text.count(f'= bf16[{game.num_cells}]{{0}} fusion(') == 0
  assert text.count(f'= u16[{game.num_cells}]{{0}} dynamic-update-slice(') + text.count(
      f'= u16[{game.num_cells}]{{0}} fusion(') > 0
  a, b = whole.run(_random_state(whole), 1), parts.run(_random_state(parts), 1)
  for name in ('regrets', 'strategy_sum'):
    x, y = (np.asarray(getattr(s, name), np.float32) for s in (a, b))
    assert getattr(b, name).dtype == jnp.bfloat16
    assert (x == y).mean() > 0.99, name
    # One bfloat16 step apart at most, where float32 rounding (~1e-7 of the
    # magnitudes summed) does not dominate a value that nearly cancelled.
    np.testing.assert_allclose(y, x, rtol=2 ** -7, atol=1e-6 * np.abs(x).max(), err_msg=name)
  moved = np.asarray(a.regrets) != np.asarray(_random_state(whole).regrets)
  assert moved.mean() > 0.5
  # The bits are converted per chunk: chunking still changes nothing.
  c, d = parts.run(parts.run(parts.init(), 2), 3), parts.run(parts.init(), 5)
  for name in ('regrets', 'strategy_sum'):
    np.testing.assert_array_equal(np.asarray(getattr(c, name), np.float32),
                                  np.asarray(getattr(d, name), np.float32))


def _compiled(caplog) -> dict:
  """How often each of the solver's programs was traced, lowered and
  compiled since `caplog` was cleared (JAX's `log_compiles` messages)."""
  counts = {}
  for name in ('run', '_average_nash_conv'):
    counts[name] = tuple(sum(m.startswith(what) for m in caplog.messages) for what in (
        f'Finished tracing {name} ', f'Finished jaxpr to MLIR module conversion jit({name})',
        f'Finished XLA compilation of jit({name})'))
  caplog.clear()
  return counts


@pytest.mark.slow  # ~40-75 s; the launcher's compile-once test below stays in the default run
def test_compiled_before_the_state_exists(caplog):
  """`Solver.compile` builds what a split solver's `run` and `exploitability`
  call from the state's shapes alone: their first calls trace, lower and
  compile nothing again, for an uncommitted state (`init`'s) and, compiled
  for it, for one committed to a device (the launcher's); a state committed
  otherwise than compiled for does compile again (what the shardings are for)."""
  game = subgame.compile_subgame(ISO_TURN)
  solver = cfr_jax.make_solver(game, 'dcfr', subtrees=2)
  assert solver._splits
  once, none = (1, 1, 1), (0, 0, 0)
  with jax.log_compiles(), caplog.at_level(logging.WARNING, logger='jax'):
    solver.compile()
    assert _compiled(caplog) == {'run': once, '_average_nash_conv': once}
    state = solver.run(solver.init(), 2)
    value = solver.exploitability(state)
    assert _compiled(caplog) == {'run': none, '_average_nash_conv': none}
    committed = jax.device_put(solver.init(), jax.devices()[0])
    solver.compile(committed)  # a committed state: its own programs
    assert _compiled(caplog)['run'] == once
    state = solver.run(committed, 2)
    assert solver.exploitability(state) == value  # the same iterates
    assert _compiled(caplog) == {'run': none, '_average_nash_conv': none}
    other = cfr_jax.make_solver(game, 'dcfr', subtrees=2)
    other.compile()
    caplog.clear()
    other.run(jax.device_put(other.init(), jax.devices()[0]), 1)
    assert _compiled(caplog)['run'] == (0, 1, 1)  # lowered and compiled again


def test_the_launcher_compiles_a_split_run_once_fresh_and_resumed(tmp_path):
  """The launcher compiles a single solver's programs before its state exists
  (`Solver.compile`), for the state it then holds (committed to the device,
  fresh or restored): neither run nor evaluation compiles a second time."""
  flags = ['--config.holdem.board=Td 9d 6h 5h', '--config.holdem.pot=10',
           '--config.holdem.stack=20', '--config.holdem.range0=AA,KQ,T9,87',
           '--config.holdem.range1=KK,QJ,65,A5', '--config.holdem.bet_sizes=0.75;1',
           '--config.holdem.max_raises=1', '--config.subtrees=2', '--config.chunk_iterations=2',
           '--config.eval_every=2', '--config.compilation_cache=none']
  for iterations in (2, 4):  # fresh, then resumed from checkpoint 2
    proc = subprocess.Popen(  # one stream: JAX's log lines in order with the launcher's
        [sys.executable, '-m', 'launch.train', '--config=configs/holdem_turn.py',
         f'--workdir={tmp_path}', *flags, f'--config.max_iterations={iterations}'],
        cwd=launcher_util.REPO, env={**launcher_util.ENV, 'JAX_LOG_COMPILES': '1'},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    code, out, _ = launcher_util.finish(proc)
    assert code == 0, out[-2000:]
    start = 'resumed from' if iterations == 4 else 'new run in'
    for name in ('run', '_average_nash_conv'):
      compiled = f'Finished XLA compilation of jit({name})'
      assert out.count(compiled) == 1, (name, iterations)
      assert out.index(compiled) < out.index(start), (name, iterations)  # before the state
    assert launcher_util.progress(tmp_path)['iteration'] == iterations
