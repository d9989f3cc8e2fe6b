"""The hold'em subgame engine: the level-fused half step and the lean state.

The fused half step must compute exactly what the whole-tree passes compute
(the same arithmetic in the same order), so in float64 (conftest enables
x64) their iterates are equal bit for bit; the lean state keeps only the
arrays its algorithm reads.
"""
import copy
import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip('phevaluator')

import cfr_jax  # pylint: disable=g-import-not-at-top
from cfr_jax import checkpoint  # pylint: disable=g-import-not-at-top
from cfr_jax import heap  # pylint: disable=g-import-not-at-top
from cfr_jax import kernels  # pylint: disable=g-import-not-at-top
from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import cards  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
from cfr_jax.training import resume  # pylint: disable=g-import-not-at-top

RIVER = subgame.SubgameSpec(board='Ks 9s 8h 3d 2c', pot=10, stack=25,
                            ranges=('KQ,98s,A8s,33:0.5', 'AK,QQ,T9s'),
                            bet_sizes=(0.5, 1.0), raise_sizes=(1.0,), max_raises=1)
# A turn with a raise per street: levels that mix both players' decisions,
# chance nodes and folds and showdowns at many depths.
TURN = subgame.SubgameSpec(board='Ks 9s 8h 3d', pot=10, stack=30,
                           ranges=('KQ,98s,A8s:0.5,33,JTs', 'AK,QQ,T9s,44,A9s'),
                           bet_sizes=((0.75,), (1.0,)), raise_sizes=(1.0,), max_raises=1)


def _pair(game, algorithm, **kwargs):
  fused = cfr_jax.make_solver(game, algorithm, dtype='float64', **kwargs)
  return fused, dataclasses.replace(fused, fused=False)


@pytest.mark.parametrize('spec,buckets,algorithm,compensated', [
    (RIVER, None, 'dcfr', None),
    (TURN, None, 'dcfr', None),
    (RIVER, None, 'pcfr+', None),  # predictive: last_regrets kept
    # A schedule and the compensated sum (~16 s; slow for the suite's time).
    pytest.param(TURN, None, 'postflop_dcfr', True, marks=pytest.mark.slow),
    (RIVER, {'method': 'ehs', 'num_buckets': 6}, 'dcfr', None),
], ids=['river-dcfr', 'turn-dcfr', 'river-pcfr+', 'turn-postflop-compensated', 'river-buckets'])
def test_fused_iterates_equal_the_whole_tree_passes_bit_for_bit(spec, buckets, algorithm,
                                                                compensated):
  game = subgame.compile_subgame(dataclasses.replace(spec, buckets=buckets))
  fused, whole = _pair(game, algorithm, compensated=compensated)
  assert fused._fuses and not whole._fuses  # pylint: disable=protected-access
  a = fused.run(fused.run(fused.init(), 7), 33)  # chunked too
  b = whole.run(whole.init(), 40)
  # With the compensated sum, TwoSum may split the same sum into (high, low)
  # differently as fusion allows: the pair's total is compared below.
  for name in ('regrets', 'last_regrets') + (() if compensated else ('strategy_sum',)):
    x, y = getattr(a, name), getattr(b, name)
    assert (x is None) == (y is None), name
    if x is not None:
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)
  if compensated:
    total = lambda s: np.asarray(s.strategy_sum) + np.asarray(s.strategy_sum_low)
    np.testing.assert_allclose(total(a), total(b), rtol=1e-15, atol=0)
  assert int(a.iteration) == 40
  assert np.abs(np.asarray(a.regrets)).max() > 0  # it moved


@pytest.mark.slow  # ~15 s; the iterate tests above cover it end to end
def test_fused_half_step_values_equal_cfr_pass():
  """Given the same strategy, each level's update sees exactly the values and
  reaches of `cfr_pass`, and every row of the player is updated once."""
  game = subgame.compile_subgame(TURN).astype(jnp.float64)
  rng = np.random.default_rng(3)
  sigma = rng.random((game.num_infosets, game.num_actions)) * np.asarray(game.legal)
  sigma = jnp.asarray(sigma / sigma.sum(1, keepdims=True))
  for player in (0, 1):
    cfv, own = jax.jit(subgame.cfr_pass, static_argnums=2)(game, sigma, player)
    blocks = []

    @jax.jit
    def updates(game, sigma, player=player, blocks=blocks):
      seen = []

      def strategy(st, lo, hi):
        r0, r1, _, _, slots = subgame.block(game, lo, hi)
        return sigma[r0:r1][:, list(slots)]

      def update(state, lo, hi, s, c, o):
        blocks.append(subgame.block(game, lo, hi))
        seen.append((c, o))
        return state

      subgame.fused_half_step(game, jnp.zeros(()), player, strategy, update)
      return seen

    seen = updates(game, sigma)
    rows = np.concatenate([np.arange(r0, r1) for r0, r1, _, _, _ in blocks])
    assert sorted(rows) == list(np.flatnonzero(np.asarray(game.infoset_player) == player))
    for (r0, r1, _, _, slots), (c, o) in zip(blocks, seen):
      # Only the legal actions' values: the block's k columns.
      assert list(slots) == list(np.flatnonzero(np.asarray(game.legal[r0])))
      np.testing.assert_array_equal(np.asarray(c), np.asarray(cfv[r0:r1])[:, list(slots)])
      np.testing.assert_array_equal(np.asarray(o), np.asarray(own[r0:r1]))


# Ranges that overlap (AK, KQs in both) and differ in size: each player's
# rows are their own hands, not the union's.
RIVER_OVERLAP = dataclasses.replace(RIVER, ranges=('KQ,98s,A8s,33:0.5,AK', 'AK,QQ,T9s,KQs'))
TURN_OVERLAP = dataclasses.replace(TURN, ranges=('KQ,98s,A8s:0.5,33,JTs', 'AK,QQ,T9s,44,KQs,JTs'))


def _union_rows(game):
  """The same subgame with the previous layout (2): every decision holds a row
  for each of the H hands of either range, d * H + h. Hands outside the acting
  player's range then play their own rows' strategies (at zero reach)."""
  num_h, player = game.num_hands, np.asarray(game.dec_player)
  info = copy.copy(game.info)
  keys = game.info.infoset_keys
  info.infoset_keys = type(keys)(keys.lines, keys.names, num_h * np.arange(len(player) + 1),
                                 player, [np.arange(num_h)] * 2)
  info.infoset_index = type(game.info.infoset_index)(info.infoset_keys)
  return game.replace(info=info,
      range_span=((0, num_h), (0, num_h)), row_sizes=(num_h, num_h),
      dec_runs=tuple((lo, hi, p, lo * num_h) for lo, hi, p, _ in game.dec_runs))


def test_row_views_are_the_same_outside_and_inside_jit():
  """`legal` and `infoset_player` repeat each decision's entry over its
  player's rows: outside jit in numpy (op by op, each run of decisions was a
  program to compile: 12.7 s on the turn config), inside jit traced. Both
  give the same rows, on a layout whose two players' row counts differ."""
  game = subgame.compile_subgame(RIVER_OVERLAP)
  traced = jax.jit(lambda g: (g.legal, g.infoset_player))(game)
  start, player = game.row_start, np.asarray(game.dec_player)
  assert len(set(game.row_sizes)) == 2 and len(game.dec_runs) > 1
  for eager, inside, per_decision in zip((game.legal, game.infoset_player), traced,
                                         (np.asarray(game.node_legal), player)):
    assert eager.dtype == inside.dtype and eager.shape == inside.shape
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(inside))
    np.testing.assert_array_equal(np.asarray(eager), np.repeat(per_decision, np.diff(start), 0))


def test_each_range_is_one_span_of_the_hands():
  """Layout 5: the hands are player 0's alone, both players', player 1's
  alone, so each range is one contiguous span (rows <-> hands: a slice and a
  pad), and the rows of a decision are its player's span, in order."""
  game = subgame.compile_subgame(RIVER_OVERLAP)
  (a0, a1), (b0, b1) = game.range_span
  assert a0 == 0 < b0 < a1 < b1 == game.num_hands  # overlapping, neither inside the other
  inside = np.asarray(game.prior) > 0
  np.testing.assert_array_equal(np.flatnonzero(inside[0]), np.arange(a0, a1))
  np.testing.assert_array_equal(np.flatnonzero(inside[1]), np.arange(b0, b1))
  assert game.row_sizes == (a1 - a0, b1 - b0)
  # The same hands as the ranges' text gives, whatever their order.
  board = cards.parse_cards(RIVER_OVERLAP.board)
  for p, text in enumerate(RIVER_OVERLAP.ranges):
    expected = set(np.flatnonzero((cards.parse_range(text) > 0) & ~cards.blocked_by(board)))
    hands = {game.info.hands[h] for h in game.range_hands[p]}
    assert hands == {cards.hand_text(h) for h in expected}


@pytest.mark.parametrize('spec,iterations,exact', [
    (RIVER_OVERLAP, 30, True),
    # ~35 s (two compiles of a turn); the bit-for-bit tests above cover the turn.
    # A backward pass reduces over the updated player's range alone (the
    # union layout's over every hand): sums of another shape, rounded in
    # other places on the turn, so its rows agree to rounding, over two
    # iterations (later a regret near zero can change sign between the two).
    pytest.param(TURN_OVERLAP, 2, False, marks=pytest.mark.slow)], ids=['river', 'turn'])
def test_per_player_rows_hold_the_union_layouts_rows_of_each_range(spec, iterations, exact):
  """Each decision stores its player's hands only (sum over decisions of
  B_p rows), and the iterates at those rows are the previous layout's (bit for
  bit in float64 on the river): the rows dropped belonged to hands of zero reach."""
  game = subgame.compile_subgame(spec)
  player, start = np.asarray(game.dec_player), game.row_start
  sizes = [len(game.range_hands[p]) for p in (0, 1)]
  assert sizes[0] != sizes[1] and max(sizes) < game.num_hands < sum(sizes)  # overlapping
  assert game.num_infosets == start[-1] == sum(sizes[p] for p in player)
  assert game.num_infosets < game.num_decisions * game.num_hands
  np.testing.assert_array_equal(np.diff(start), np.asarray(sizes)[player])
  union = _union_rows(game)
  rows = np.concatenate([d * game.num_hands + np.asarray(game.range_hands[p])
                         for d, p in enumerate(player)])
  np.testing.assert_array_equal(np.asarray(union.legal)[rows], np.asarray(game.legal))
  # Keys: row -> 'line|hand' of the acting player's hands, and back.
  keys, index = game.info.infoset_keys, game.info.infoset_index
  assert len(keys) == game.num_infosets
  for i in list(range(0, game.num_infosets, max(1, game.num_infosets // 97))) + [
      game.num_infosets - 1]:
    d = int(np.searchsorted(start, i, 'right')) - 1
    line, _, hand = keys[i].rpartition('|')
    assert line == game.info.decision_histories[d] and keys.decision(i) == d
    assert game.info.hands.index(hand) == game.range_hands[player[d]][i - start[d]]
    assert index[keys[i]] == i
  outside = set(range(game.num_hands)) - set(np.asarray(game.range_hands[1]).tolist())
  d1 = int(np.flatnonzero(player == 1)[0])
  with pytest.raises(KeyError):  # player 0's hand at player 1's node: no row
    index[f'{game.info.decision_histories[d1]}|{game.info.hands[min(outside)]}']
  # The iterates against the union layout's at the same rows, with the fused
  # step (the whole-tree passes equal it bit for bit, tested above).
  a, b = (cfr_jax.make_solver(g, 'dcfr', dtype='float64') for g in (game, union))
  sa, sb = a.run(a.init(), iterations), b.run(b.init(), iterations)
  same = (np.testing.assert_array_equal if exact else
          functools.partial(np.testing.assert_allclose, rtol=1e-12, atol=1e-12))
  for name in ('regrets', 'strategy_sum'):
    same(np.asarray(a.table(getattr(sa, name))), np.asarray(b.table(getattr(sb, name)))[rows],
         err_msg=name)
  assert np.abs(np.asarray(sa.regrets)).max() > 0.01  # it moved
  pa, pb = a.average_policy(sa), b.average_policy(sb)
  same(pa.probs, pb.probs[rows])
  if exact:
    assert pa.to_dict() == {k: v for k, v in pb.to_dict().items() if k in index}
  else:
    assert pa.to_dict().keys() == {k for k in pb.to_dict() if k in index}
  assert cfr_jax.exploitability(game, pa) == pytest.approx(cfr_jax.exploitability(union, pb),
                                                          rel=0 if exact else 1e-10)


def test_update_chunks_do_not_change_the_iterates(monkeypatch):
  """Levels split into update chunks (as on the flop) give the same bits."""
  game = subgame.compile_subgame(RIVER)
  one = cfr_jax.make_solver(game, 'dcfr', dtype='float64')
  a = one.run(one.init(), 20)
  monkeypatch.setattr(subgame, '_UPDATE_ELEMENTS', 2 * game.num_hands * game.num_actions)
  assert subgame._update_decisions(game) == 2  # pylint: disable=protected-access
  assert max(nd for _, nd, _, _ in game.levels) > 2  # some level is split
  chunked = cfr_jax.make_solver(game, 'dcfr', dtype='float64')
  b = chunked.run(chunked.init(), 20)
  np.testing.assert_array_equal(np.asarray(a.regrets), np.asarray(b.regrets))
  np.testing.assert_array_equal(np.asarray(a.strategy_sum), np.asarray(b.strategy_sum))


def test_levels_group_each_players_decisions():
  game = subgame.compile_subgame(TURN)
  player = np.asarray(game.dec_player)
  for (_, nd, _, _), (d0, _, _), (n0, _) in zip(game.levels, game.offsets, game.splits):
    assert (player[d0:d0 + n0] == 0).all() and (player[d0 + n0:d0 + nd] == 1).all()


@pytest.mark.parametrize('spec', [
    RIVER, pytest.param(TURN, marks=pytest.mark.slow)],  # ~25 s, a turn compile
    ids=['river', 'turn'])
def test_the_state_stores_each_decisions_legal_actions_only(spec):
  """Layout 4: runs of one player's decisions of a level with the same legal
  slots cover the decisions in order, and the state holds rows x legal
  actions per decision, no padding to the widest decision."""
  game = subgame.compile_subgame(spec)
  legal, player = np.asarray(game.node_legal), np.asarray(game.dec_player)
  assert len(set(map(tuple, legal))) > 1  # decisions of different widths
  covered, cells = 0, 0
  for lo, hi, p, slots in game.act_runs:
    assert lo == covered and hi > lo
    assert all(tuple(np.flatnonzero(legal[d])) == slots for d in range(lo, hi))
    assert (player[lo:hi] == p).all()
    assert any(a <= lo and hi <= b for a, b, _, _ in game.dec_runs)  # within a level's player
    covered, cells = hi, cells + (hi - lo) * game.row_sizes[p] * len(slots)
  assert covered == game.num_decisions
  rows_per_decision = np.diff(game.row_start)
  assert game.num_cells == cells == (rows_per_decision * legal.sum(1)).sum()
  assert game.num_cells < game.num_infosets * game.num_actions
  solver = cfr_jax.make_solver(game, 'dcfr')
  state = solver.run(solver.init(), 5)
  assert state.regrets.shape == (game.num_cells,)
  table = np.asarray(solver.table(state.regrets))
  assert table.shape == (game.num_infosets, game.num_actions)
  assert (table[~np.asarray(game.legal)] == 0).all() and np.abs(table).max() > 0
  np.testing.assert_array_equal(np.asarray(subgame.compress(game, table)),
                                np.asarray(state.regrets))


def test_lean_state_keeps_only_what_the_algorithm_reads():
  game = subgame.compile_subgame(RIVER)
  arrays = lambda s: sorted(k for k in ('regrets', 'strategy_sum', 'strategy_sum_low',
                                        'last_regrets') if getattr(s, k) is not None)
  dcfr = cfr_jax.make_solver(game, 'dcfr')
  assert arrays(dcfr.init()) == ['regrets', 'strategy_sum']
  assert arrays(cfr_jax.make_solver(game, 'pcfr+').init()) == [
      'last_regrets', 'regrets', 'strategy_sum']
  assert arrays(cfr_jax.make_solver(game, 'dcfr', compensated=True).init()) == [
      'regrets', 'strategy_sum', 'strategy_sum_low']
  assert dcfr.describe()['layout'] == solver_lib.SUBGAME_LAYOUT
  assert dcfr.describe()['compensated'] is False
  # Tree games keep their four arrays and their fingerprints.
  leduc = cfr_jax.make_solver(cfr_jax.load_game('leduc_poker'), 'dcfr')
  assert len(arrays(leduc.init())) == 4
  assert 'layout' not in leduc.describe() and 'compensated' not in leduc.describe()
  # The lean state trains: a bfloat16 sum without its low part is rounded
  # stochastically, and still converges.
  lean16 = cfr_jax.make_solver(game, 'dcfr', storage='bfloat16')
  state = lean16.run(lean16.init(), 300)
  assert state.strategy_sum.dtype == jnp.bfloat16 and state.strategy_sum_low is None
  assert cfr_jax.exploitability(game, lean16.average_policy(state)) < 0.01 * RIVER.pot


@pytest.mark.parametrize('layout', [1, 2, 3, 4, 5])
def test_an_older_layout_checkpoint_is_refused_and_says_why(tmp_path, layout):
  """A checkpoint written before the lean layout (1: rows in another order,
  four arrays), before per-player hand rows (2: every hand of either range
  at every decision, D * H rows), before compact actions (3: [I, A] tables,
  decisions in another order), before each range's hands were contiguous
  (4: a decision's rows in card order) or before the decisions below one
  card were contiguous (5: decisions in another order) is never loaded, and
  the reason names the layout."""
  game = subgame.compile_subgame(RIVER)
  new = cfr_jax.make_solver(game, 'dcfr')
  old_rows = game.num_infosets if layout >= 3 else game.num_decisions * game.num_hands
  assert game.num_infosets < game.num_decisions * game.num_hands  # the ranges differ
  assert game.num_cells < game.num_infosets * game.num_actions  # some actions are illegal
  old_describe = {k: v for k, v in new.describe().items()
                  if k not in ('layout', 'compensated')}
  old_describe['shape'] = [old_rows, game.num_actions]
  if layout > 1:
    old_describe.update(layout=layout, compensated=False)
  old_fp = checkpoint.make_fingerprint(**old_describe)
  zeros = jnp.zeros((old_rows, game.num_actions), jnp.float32)
  old_state = solver_lib.SolverState(regrets=zeros + 1, strategy_sum=zeros + 1,
                                     strategy_sum_low=zeros, last_regrets=zeros,
                                     iteration=jnp.asarray(5, jnp.int32))
  with checkpoint.CheckpointStore(str(tmp_path), fingerprint=old_fp) as store:
    store.save(old_state, 5, {'describe': old_describe})
  fp = checkpoint.make_fingerprint(**new.describe())
  with checkpoint.CheckpointStore(str(tmp_path), fingerprint=fp) as store:
    state, report = store.restore(new.abstract_state())
  assert state is None and report.started_fresh
  [candidate] = report.candidates
  assert candidate.status == 'foreign'
  reasons = resume._foreign_reasons(candidate, new)  # pylint: disable=protected-access
  now = f'layout {solver_lib.SUBGAME_LAYOUT}'
  assert any(f'state layout {layout}' in r and now in r and 'does not migrate it' in r
             for r in reasons), reasons


@pytest.mark.parametrize('algorithm', [
    'dcfr', pytest.param('postflop_dcfr', marks=pytest.mark.slow)])  # ~20 s: a schedule
def test_compiled_fused_chunk_updates_the_state_in_place(monkeypatch, algorithm):
  """XLA's optimised program (deterministic) copies no state array: every
  chunk's update is written in place. Without `subgame.after`'s ordering,
  XLA copied the whole regrets array once per update chunk. (Not yet true
  where two arrays' new rows each read both old arrays: predictive
  algorithms' regrets and last regrets, the compensated sum's two parts.)"""
  game = subgame.compile_subgame(TURN)
  monkeypatch.setattr(solver_lib, '_HOIST_BYTES', 0)  # as run on big subgames
  solver = cfr_jax.make_solver(game, algorithm)
  state = jax.eval_shape(solver._zeros)  # pylint: disable=protected-access
  text = solver._run.lower(  # pylint: disable=protected-access
      solver._passes, state, jnp.asarray(1, jnp.int32), solver._hp).compile().as_text()  # pylint: disable=protected-access
  shape = f'f32[{state.regrets.shape[0]}]'
  updates = text.count(f'= {shape}{{0}} fusion(')
  assert updates >= 2 * len(game.act_runs)  # the chunks' in-place updates are there
  assert text.count(f'= {shape}{{0}} copy(') == 0


def test_compiled_fused_chunk_needs_less_memory_than_whole_tree_passes(monkeypatch):
  """XLA's own accounting (deterministic): the fused chunk's temporaries are
  under the whole-tree chunk's and a few times a state of every hand at every
  decision, as run on big subgames (no loop-invariant hoisting, which small
  states keep for speed)."""
  game = subgame.compile_subgame(TURN)
  assert not cfr_jax.make_solver(game, 'dcfr')._recomputes  # pylint: disable=protected-access
  monkeypatch.setattr(solver_lib, '_HOIST_BYTES', 0)  # as for a state over 256 MB
  fused = cfr_jax.make_solver(game, 'dcfr')
  assert fused._recomputes  # pylint: disable=protected-access
  whole = dataclasses.replace(fused, fused=False)

  def memory(solver):
    state = jax.eval_shape(solver._zeros)  # pylint: disable=protected-access
    compiled = solver._run.lower(  # pylint: disable=protected-access
        solver._passes, state, jnp.asarray(1, jnp.int32), solver._hp).compile()  # pylint: disable=protected-access
    return compiled.memory_analysis()

  a, b = memory(fused), memory(whole)
  # The passes' arrays are [nodes, H] over both ranges' hands, while the state
  # holds only the acting player's hands (about half of them here): the bound
  # is a state of every hand at every decision, and a half (3.0x before the
  # dealt-card masks were computed elementwise, the sweeps looped into their
  # own buffers and the half steps isolated; 1.36x after).
  hand_tree_bytes = 2 * game.num_decisions * game.num_hands * game.num_actions * 4
  assert a.temp_size_in_bytes < b.temp_size_in_bytes
  assert a.temp_size_in_bytes < 1.5 * hand_tree_bytes


def test_isolated_half_steps_iterate_as_the_whole_tree_passes(monkeypatch):
  """Big subgames' half steps see the game through an optimization barrier
  (`_make_run(recompute=True)`): the iterates are unchanged, bit for bit."""
  monkeypatch.setattr(solver_lib, '_HOIST_BYTES', 0)  # as for a state over 256 MB
  game = subgame.compile_subgame(TURN)
  fused, whole = _pair(game, 'dcfr')
  assert fused._recomputes and not whole._recomputes  # pylint: disable=protected-access
  a, b = fused.run(fused.init(), 25), whole.run(whole.init(), 25)
  for name in ('regrets', 'strategy_sum'):
    np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))


def test_dealt_card_masks_equal_the_table():
  game = subgame.compile_subgame(TURN)
  cards = jnp.asarray([[0, 51, 52], [17, 3, 52]])
  mask = subgame._alive(game, cards)  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(mask), np.asarray(game.alive_card)[np.asarray(cards)])
  assert mask.shape == (2, 3, game.num_hands) and float(mask[0, 2].min()) == 1.0


@pytest.mark.slow  # ~1-2 min and ~4 GB: compiles one chunk of the flop config
def test_flop_chunk_memory_is_bounded():
  """Issue 13's deterministic memory check on the flop config itself (XLA's
  `memory_analysis()`, nothing run): state <= 1.1 GB in float32 and the
  chunk's temporaries <= 1.0x the state. The default solver runs its half
  steps split below the flop (`cfr_jax.holdem.split`, one turn card at a
  time): measured 83 MB, 0.09x (whole levels: 1.89 GB, 2.06x)."""
  from cfr_jax.cli import train  # pylint: disable=g-import-not-at-top
  from cfr_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top
  config, _ = train.load_config('holdem_flop')
  game = config_lib._load_game(config)  # pylint: disable=protected-access
  solver = cfr_jax.make_solver(game, 'dcfr')
  assert solver._splits  # pylint: disable=protected-access
  state = jax.eval_shape(solver._zeros)  # pylint: disable=protected-access
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
  compiled = solver._run.lower(  # pylint: disable=protected-access
      solver._passes, state, jnp.asarray(1, jnp.int32), solver._hp).compile()  # pylint: disable=protected-access
  temp = compiled.memory_analysis().temp_size_in_bytes
  assert state_bytes <= 1.1e9
  assert temp <= 1.0 * state_bytes, (temp, state_bytes)


@pytest.mark.slow  # ~30 s: the option's bit-for-bit check compiles the turn twice
def test_subgame_programs_use_the_elemental_emitters_and_iterate_the_same(monkeypatch):
  """Subgame programs compile with `subgame.COMPILER_OPTIONS` (XLA:CPU's older
  emitters: a fraction of the host memory, bench/RESULTS.md); tree games keep
  XLA's default. The option changes memory, not results: bit for bit equal
  iterates with and without it."""
  game = subgame.compile_subgame(TURN)
  lean = cfr_jax.make_solver(game, 'pcfr+')
  options = lean._jit_options['compiler_options']  # pylint: disable=protected-access
  assert options['xla_cpu_use_fusion_emitters'] is False
  assert not cfr_jax.make_solver(cfr_jax.load_game('kuhn'), 'pcfr+')._jit_options  # pylint: disable=protected-access
  monkeypatch.setattr(subgame, 'COMPILER_OPTIONS', {})
  default = cfr_jax.make_solver(game, 'pcfr+')
  assert not default._jit_options  # pylint: disable=protected-access
  a, b = lean.run(lean.init(), 12), default.run(default.init(), 12)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_the_cpu_only_option_is_asked_for_only_where_the_backend_is_a_cpu(monkeypatch):
  """XLA refuses a program that names a compiler option its build has no
  field for, on every backend, so `subgame.compiler_options` names XLA:CPU's
  emitter option only where the default backend is a CPU (a GPU image's jax
  need not be the pinned one), and `heap.jit` asks for the options at a
  program's first use: defining one (at import) starts no backend."""
  with pytest.raises(Exception, match='No such compile option'):
    jax.jit(lambda x: x + 1, compiler_options={'xla_no_such_option': True})(1.0)
  made = []
  real = jax.jit
  monkeypatch.setattr(jax, 'jit', lambda f, **kw: made.append(kw) or real(f, **kw))
  on_cpu = heap.jit(lambda x: x * 2, compiler_options=subgame.compiler_options)
  elsewhere = heap.jit(lambda x: x * 3, compiler_options=subgame.compiler_options)
  assert not made  # nothing made where it was defined
  assert float(on_cpu(1.0)) == 2.0
  assert made[-1]['compiler_options'] == {'xla_cpu_use_fusion_emitters': False}
  solver = cfr_jax.make_solver(subgame.compile_subgame(TURN), 'pcfr+')
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert float(elsewhere(1.0)) == 3.0
  assert 'compiler_options' not in made[-1]
  assert 'xla_cpu_use_fusion_emitters' not in solver._jit_options.get('compiler_options', {})  # pylint: disable=protected-access


def _fusions(solver) -> list:
  """The fused computations (HLO text) of a solver's compiled chunk."""
  hlo = solver._run.lower(solver._passes, solver.init(), jnp.asarray(2, jnp.int32),  # pylint: disable=protected-access
                          solver._hp).compile().as_text()  # pylint: disable=protected-access
  return [b for b in hlo.split('\n\n') if b.lstrip().startswith('%fused')]


def _root(body: str) -> str:
  return next(line for line in body.split('\n') if 'ROOT' in line)


def _instructions(solver) -> int:
  """HLO instructions of a solver's compiled chunk (its host memory grows with them)."""
  hlo = solver._run.lower(solver._passes, solver.init(), jnp.asarray(2, jnp.int32),  # pylint: disable=protected-access
                          solver._hp).compile().as_text()  # pylint: disable=protected-access
  return sum(1 for line in hlo.split('\n') if re.match(r'\s+(ROOT )?%\S+ = ', line))


@pytest.mark.slow  # ~20-30 s: reads the turn's compiled HLO
def test_row_gathers_check_no_bounds(monkeypatch):
  """Each level's values end in a zero row that absent children index, so
  the backward passes' gathers of children (and of chance nodes' children),
  like the forward passes' gathers of parents, are unsigned and promised in
  bounds (`subgame._rows`). Masked as out-of-range reads
  (`mode='fill'`), the same gathers give the same iterates bit for bit but
  a bigger program: the flop's run chunk had 101,756 HLO instructions, now
  82,032, and ran 9% slower (bench/RESULTS.md)."""
  game = subgame.compile_subgame(TURN)
  solver = cfr_jax.make_solver(game, 'dcfr')
  unchecked, a = _instructions(solver), solver.run(solver.init(), 12)
  monkeypatch.setattr(subgame, '_rows', lambda x, idx: jnp.take(
      x, idx, axis=0, mode='fill', fill_value=0))
  jax.clear_caches()  # trace the passes again, with the masked gathers
  assert unchecked < 0.95 * _instructions(solver)
  b = solver.run(solver.init(), 12)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow  # ~20 s; an A/B against a variant that does not ship (the writes' programs)
def test_subgame_updates_are_computed_apart_from_their_in_place_writes(monkeypatch):
  """A block's new regrets and sums are a computation of their own
  (`kernels.unfused`): XLA:CPU no longer runs the update's arithmetic inside
  the in-place writes into the state (one entry at a time on one thread;
  turn config 30 -> 26 ms per iteration, bench/RESULTS.md), and the iterates
  are bit for bit those of the update fused into the writes."""
  game = subgame.compile_subgame(TURN)

  def writes_arithmetic(solver):
    writes = [b for b in _fusions(solver) if 'dynamic-update-slice(' in _root(b)]
    assert writes
    return any(op in w for w in writes for op in (' maximum(', ' divide(', ' exponential('))

  apart = cfr_jax.make_solver(game, 'dcfr')
  assert not writes_arithmetic(apart)
  real = kernels.unfused
  from_solver = lambda fn, live: fn() if fn.__code__.co_filename.endswith('solver.py') else real(
      fn, live)
  monkeypatch.setattr(kernels, 'unfused', from_solver)
  fused = cfr_jax.make_solver(game, 'dcfr')
  assert writes_arithmetic(fused)
  a, b = apart.run(apart.init(), 6), fused.run(fused.init(), 6)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_the_sweep_gathers_from_materialised_rows():
  """The showdown sweep's gather into strength order ([F, 3H] positions per
  board) reads the showdowns' opponent rows from memory: XLA had fused their
  computation (the level's reach, its masks, the gather of the showdowns)
  into it, three times per hand (turn config 28.2 -> 24.6 ms per iteration,
  flop 4.55 -> 3.96 s, bit for bit the same; bench/RESULTS.md)."""
  game = subgame.compile_subgame(TURN)
  seqs = [f's32[{f},{width},2]' for f, width in (t.shape for t in game.sd_seq)]
  sweeps = [b for b in _fusions(cfr_jax.make_solver(game, 'dcfr'))
            if any(seq in b for seq in seqs) and ' gather(' in b]
  assert sweeps
  for body in sweeps:
    # At most the board's positions and the rows' values; no reach arithmetic.
    assert body.count(' gather(') <= 2 and ' multiply(' not in body, body


def test_the_sweep_does_not_wrap_its_positions_per_element():
  """The sweep's positions are unsigned: JAX wraps signed indices (i < 0:
  i + n), and XLA computed that for every gathered element of the sweep's two
  hottest kernels, the gather into strength order and the combination
  (turn iterations ~10% faster without it, bit for bit the same;
  bench/RESULTS.md). Only the per-board wrap of a board id is left."""
  game = subgame.compile_subgame(TURN)
  f = game.sd_seq[0].shape[0]
  shapes = ([f's32[{f},{t.shape[1]}]' for t in game.sd_seq]
            + [f's32[{f},{game.sd_idx[0].shape[1]},{game.num_hands}]'])
  sweeps = [b for b in _fusions(cfr_jax.make_solver(game, 'dcfr'))
            if ' gather(' in b and any(shape in b for shape in shapes)]
  assert len(sweeps) >= 2
  wraps = [line for b in sweeps for line in b.split('\n')
           if 'direction=LT' in line and re.search(rf'pred\[{f},\d+', line)]
  assert not wraps, wraps[:3]


def test_the_sweeps_gather_into_strength_order_pads_nothing():
  """Each board's strength-order layout is stored at a multiple of the
  prefix sum's block, so the prefix sum pads nothing: XLA had fused that pad
  into the gather, which then cost ~20% more per element (turn 24.6 -> 21.8
  ms per iteration, flop 3.79 -> 3.46 s, bit for bit the same;
  bench/RESULTS.md). The entries past 3H repeat hand 0, and no position
  reads their prefix sums."""
  game = subgame.compile_subgame(TURN)
  shapes = []
  for p, (seq, idx) in enumerate(zip(game.sd_seq, game.sd_idx)):
    f, width = seq.shape
    hands = 3 * (game.range_span[p][1] - game.range_span[p][0])  # the range's layout
    assert width % kernels.PREFIX_BLOCK == 0 and width - hands < kernels.PREFIX_BLOCK
    assert int(idx.max()) <= hands
    assert not np.asarray(seq[:, hands:]).any()
    shapes.append(f's32[{f},{width}]')
  gathers = [b for b in _fusions(cfr_jax.make_solver(game, 'dcfr'))
             if any(shape in b for shape in shapes) and ' gather(' in b]
  assert gathers
  for body in gathers:  # (the board id's index vector is an s32 pad)
    assert not re.search(r'= f32\[[\d,]*\]\{[\d,]*\} pad\(', body), body


def test_each_block_strategy_is_computed_once_per_pass():
  """A block's current strategy (regret matching over its rows) is a
  computation of its own, read by the level's hand policy, the values and
  the update: XLA had recomputed it inside the policy's padding to every
  hand and action, once per entry (flop config 3.79 -> 3.35 s per
  iteration, bit for bit the same; bench/RESULTS.md)."""
  game = subgame.compile_subgame(TURN)
  padding = [b for b in _fusions(cfr_jax.make_solver(game, 'dcfr')) if ' pad(' in b]
  assert padding
  assert not [b for b in padding if ' maximum(' in b]


def test_the_sweep_combination_is_not_fused_into_the_reordering_of_values():
  """Where a level's sweep loop has one step (every level of a turn subgame),
  the sweep's combination stays a computation of its own, ending in its sum:
  XLA had fused it into the concatenation that puts the level's values in
  terminal order (turn config 24.8 -> 18.5 ms per iteration, bit for bit the
  same; bench/RESULTS.md)."""
  game = subgame.compile_subgame(TURN)
  terms = game.sd_idx[0].shape[1]
  combining = [b for b in _fusions(cfr_jax.make_solver(game, 'dcfr'))
               if b.count(' gather(') >= terms]
  assert combining
  for body in combining:
    assert ' add(' in _root(body) and ' concatenate(' not in _root(body), _root(body)


def test_the_sweeps_card_terms_are_a_table_of_their_own():
  """Per hand the sweep combines six prefix sums at its own positions and,
  per card it holds, the prefix sums where that card's list starts and ends,
  which are the same for every hand holding the card: a [52] table per
  showdown, one entry per card. Each hand had gathered its cards' four list
  ends and the total from the prefix sums (eleven gathers per hand; the
  kernel is 26% faster with six and two, bench/RESULTS.md)."""
  game = subgame.compile_subgame(TURN)
  terms = game.sd_idx[0].shape[1]
  combining = [b for b in _fusions(cfr_jax.make_solver(game, 'dcfr'))
               if b.count(' gather(') >= terms and ' add(' in _root(b)]
  assert combining
  for body in combining:
    floats = [l for l in body.split('\n') if re.search(r'= f32\[[\d,]*\]\{[\d,]*\} gather\(', l)]
    assert len(floats) == terms + 2, len(floats)  # and its two cards' entries of the table


@pytest.mark.slow  # ~30-50 s; in-place writes of `run` are checked in the default run
def test_run_many_writes_the_state_in_place():
  """Under `run_many`'s vmap with one count for every instance, `unfused`'s
  conds (on the count: n > 0) stay conds, as in `run`: the update is a
  computation of its own, not fused into the writes, and every write is in
  place. With per-instance counts n is batched, they are selects and XLA
  fuses the update into the writes; the sums-then-regrets order
  (`subgame.after` in `write_rows`) still keeps those writes in place
  (without it: 21 whole-state copies per chunk here). The 2 copies left are
  the loop's select between each instance's old and new arrays (as many at
  54e00d0, before `unfused`'s predicate was the count)."""
  game = subgame.compile_subgame(TURN)
  solver = cfr_jax.make_solver(game, 'dcfr')
  hp = {k: jnp.broadcast_to(jnp.asarray(v, solver.dtype), (2,)) for k, v in solver._hp.items()}  # pylint: disable=protected-access
  for same, counts, most in ((True, 1, 0), (False, [1, 2], 2)):
    solver.run_many(solver_lib.stack_states([solver.init(), solver.init()]), counts)
    states = solver_lib.stack_states([solver.init(), solver.init()])
    text = solver._run_many[same].lower(solver._passes, states, jnp.asarray(counts, jnp.int32),  # pylint: disable=protected-access
                                        hp).compile().as_text()
    assert text.count(f'= f32[2,{game.num_cells}]{{1,0}} copy(') <= most, same
    fusions = [b for b in text.split('\n\n') if b.lstrip().startswith('%fused')]
    writes = [b for b in fusions if 'dynamic-update-slice(' in _root(b)]
    assert writes
    fused = any(op in w for w in writes for op in (' maximum(', ' divide(', ' exponential('))
    assert fused != same, same


def test_the_backward_pass_keeps_the_forward_passs_strategy():
  """The updated player's block strategies come from the forward pass
  (`fused_forward(keep_own=True)`): the backward pass computes none again,
  and the iterates are bit for bit those of computing them again (as
  `run_many` with per-instance counts does, `_make_run(batched=True)`)."""
  game = subgame.compile_subgame(TURN)
  calls = []

  def strategy(_, lo, hi):
    calls.append((lo, hi))
    r0, r1, _, _, slots = subgame.block(game, lo, hi)
    return jnp.full((r1 - r0, len(slots)), 1 / len(slots))

  forward = sum(len(subgame._pieces(game, d0, d0 + nd))  # pylint: disable=protected-access
                for (d0, _, _), (_, nd, _, _) in zip(game.offsets, game.levels))
  for keep in (True, False):
    calls.clear()
    jax.eval_shape(lambda: subgame.fused_half_step(game, None, 0, strategy,
                                                   lambda st, *_: st, keep_own=keep))
    assert (len(calls) == forward) == keep, (len(calls), forward)
  solver = cfr_jax.make_solver(game, 'dcfr')
  state = solver.run(solver.init(), 2)
  out = []
  for batched in (False, True):
    run = jax.jit(solver_lib._make_run(solver._algo, True, fused=True, lean=solver.lean,  # pylint: disable=protected-access
                                       batched=batched), **solver._jit_options)  # pylint: disable=protected-access
    out.append(run(solver._passes, jax.tree.map(jnp.copy, state), 2, solver._hp))  # pylint: disable=protected-access
  for x, y in zip(jax.tree.leaves(out[0]), jax.tree.leaves(out[1])):
    np.testing.assert_array_equal(np.atleast_1d(x).view(np.uint8), np.atleast_1d(y).view(np.uint8))
