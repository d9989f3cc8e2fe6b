"""SolverState, the CFR iteration over a compiled game, and `make_solver`.

`Solver.run(state, n)` runs n iterations as one `lax.fori_loop` inside one
`jax.jit`, with the state donated: no host round trip, and since `n` and the
hyperparameters are traced, no recompilation between calls.

With a `jax.sharding.Mesh`, the state's infoset axis is split over every
device of the mesh (`NamedSharding`, `P(mesh.axis_names, None)`) and XLA
inserts the collectives: the policy is all-gathered before the (replicated)
history passes, and each device updates its own infosets. The Game's arrays
are replicated; sharding the history axis is a later step. The infoset axis
is padded to a multiple of the device count when it does not divide (see
`Solver.num_rows`); padded rows are inert (never reached, zero regret).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import Any

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec as P

from cfr_jax import heap
from cfr_jax import kernels
from cfr_jax import placement
from cfr_jax import regret as regret_lib
from cfr_jax.checks import (MAX_ITERATION, as_dtype, checked_bool, checked_count,
                            checked_dtype, checked_float, checked_hyperparameters, checked_int64,
                            checked_state, is_bool)
from cfr_jax.exploitability import abstract_exploitability, exploitability
from cfr_jax.games.tree import Game, backward_values, edge_probs, player_reach
from cfr_jax.holdem import split as split_lib
from cfr_jax.holdem import subgame as subgame_lib
from cfr_jax.policy import TabularPolicy
from cfr_jax.sampled import solver as sampled_lib

# The state layout of hold'em subgames (part of their fingerprint): 6 orders
# a level's decisions of one player and legal actions by the first card dealt
# on their path (a split's part then reads and writes each block as one slice
# of the state; 5 and older: by creation order there); 5 orders
# the hands player 0's alone, both players', player 1's alone (a decision's
# rows are its player's hands in that order; 4 and older: by card index);
# 4 stores each decision's legal actions only, one flat array of [rows, k] blocks
# (`subgame.act_runs`; decisions of a level ordered by their legal actions);
# 3 kept [rows, A] with A the widest decision's actions; 2 had rows for every
# hand of either range at every decision (3 and 4: the acting player's range
# only); 1 also kept last_regrets for every algorithm. Checkpoints of older
# layouts hold other entries and are refused as foreign, never misloaded.
SUBGAME_LAYOUT = 6


@struct.dataclass
class SolverState:
  """Everything needed to continue a run bit for bit.

  Hold'em subgames store each array compactly, as [cells] (legal actions x
  rows, see `Solver.table` for the [I, A] view); tree games as [I, A].

  regrets:      [I, A] cumulative (possibly discounted / clipped) regrets.
  strategy_sum: [I, A] weighted sum of reach-weighted current strategies.
  strategy_sum_low: [I, A] its low-order part (compensated summation keeps
                the float32 average exact to rounding over millions of iterations),
                or None where the solver does not keep it (`compensated=False`).
  last_regrets: [I, A] previous instantaneous regrets (predictive algorithms;
                zeros otherwise), or None where the solver does not keep it (lean
                layout: hold'em subgames store it only for predictive algorithms).
  iteration:    [] int32, number of completed iterations.
  owner:        (static, not saved) the game and algorithm of the solver that made
                the state (`Solver.owner`); '' for a state built by hand.
  """
  regrets: jax.Array
  strategy_sum: jax.Array
  strategy_sum_low: jax.Array | None
  last_regrets: jax.Array | None
  iteration: jax.Array
  # Static, so checkpoints (their arrays) are what they always were: a state of
  # another subgame of the same shape ran, and gave that game's rows this one's
  # keys, in silence (`checks.checked_state` compares it).
  owner: str = struct.field(pytree_node=False, default='')


def counterfactual_values(game: Game, reach: jax.Array, values: jax.Array) -> jax.Array:
  """[I, A] counterfactual values of each infoset's owner.

  reach: [2, N] players' own reaches; values: [N] player 0's expected values.
  cfv(I, a) = sum_{h in I} reach_{-i}(h) * chance(h) * v_i(h a).
  """
  zero = jnp.zeros((1,), values.dtype)
  pad = lambda x: jnp.concatenate([x, zero])
  owner = game.infoset_player
  opp, chance = pad(reach[0]), pad(game.chance_reach)
  opp = (jnp.where(owner == 0, pad(reach[1])[game.infoset_members], opp[game.infoset_members])
         * chance[game.infoset_members])  # [K, I]
  signed = jnp.where(owner == 0, 1, -1).astype(values.dtype)[:, None]
  v = pad(values)
  return signed * sum(opp[k][:, None] * v[game.slot_children[k]]
                      for k in range(opp.shape[0]))


def counterfactual_pass(game, sigma: jax.Array, players=(0, 1)) -> tuple:
  """(cfv [I, A], own reach [I]) of each infoset's owner under sigma [I, A],
  for either layout; `players` whose values are needed (others may be skipped)."""
  if isinstance(game, subgame_lib.Subgame):
    return subgame_lib.cfr_pass(game, sigma, players[0] if len(players) == 1 else None)
  ep = edge_probs(game, sigma)
  reach = player_reach(game, ep)
  cfv = counterfactual_values(game, reach, backward_values(game, ep, game.utility))
  return cfv, reach[game.infoset_player, game.infoset_node]


# What the average strategy reads of a state (readers restore only these).
_AVERAGE = ('strategy_sum', 'strategy_sum_low')


@dataclasses.dataclass(frozen=True, eq=False)
class Solver:
  """A CFR-family solver bound to a game. Build it with `make_solver`."""
  game: Game
  algorithm: str
  hyperparameters: dict
  alternating: bool
  dtype: Any
  mesh: jax.sharding.Mesh | None = None
  storage: Any = None  # dtype of the stored state; None: `dtype`
  schedule: str | None = None  # a hyperparameter schedule (regret.SCHEDULES)
  compensated: bool = True  # keep strategy_sum_low (see make_solver)
  fused: bool = True  # subgames: the level-fused half step (False: whole-tree passes)
  # Subgames: cards per batch of the subtree-bounded passes (holdem/split.py);
  # None: _SPLIT_CARDS on states over split.BIG_BYTES, else off; 0: off.
  subtrees: int | None = None

  def __post_init__(self):
    _, algo = regret_lib.get_algorithm(self.algorithm)
    schedule = (None if self.schedule is None
                else regret_lib.get_schedule(self.algorithm, self.schedule))
    game = self.game.astype(self.dtype)
    shardings = None
    if self.mesh is not None:
      if not self.lean:  # subgames pad their compact state, not the game
        game = pad_infosets(game, self.num_rows)
      game = jax.device_put(game, jax.sharding.NamedSharding(self.mesh, P()))
      shardings = self.state_shardings()
    run = heap.jit(_make_run(algo, self.alternating, shardings, schedule, self._fuses,
                            self.lean, self._recomputes), donate_argnums=(1,),
                  **self._jit_options)
    object.__setattr__(self, '_game', game)
    # What the run programs take: the game, or its parts for split passes.
    passes = game
    if self._splits:
      passes = split_lib.split_subgame(self.game, self._split_cards).astype(self.dtype)
    object.__setattr__(self, '_passes', passes)
    object.__setattr__(self, '_algo', algo)
    object.__setattr__(self, '_schedule', schedule)
    object.__setattr__(self, '_run', run)
    object.__setattr__(self, '_init', jax.jit(self._zeros, out_shardings=shardings))
    object.__setattr__(self, '_run_many', {})
    object.__setattr__(self, '_table', heap.jit(lambda x: _as_table(game, x)))
    # Jitted, so that a flop's [I, A] tables are computed in one fused pass:
    # run op by op, the average policy peaked at 8 GB of host memory there.
    object.__setattr__(self, '_average', heap.jit(functools.partial(
        _average_strategy, self.dtype, self.lean)))
    # Donated: `_policy`'s tables are fresh, and a flop's is 0.8 GB.
    object.__setattr__(self, '_symmetrised', heap.jit(
        subgame_lib.symmetrised, donate_argnums=1,
        compiler_options=subgame_lib.compiler_options))
    hp = {k: placement.to_device(v, self.dtype) for k, v in self.hyperparameters.items()}
    if self.mesh is not None:
      hp = jax.device_put(hp, jax.sharding.NamedSharding(self.mesh, P()))
    object.__setattr__(self, '_hp', hp)

  @property
  def lean(self) -> bool:
    """Whether the state has the lean layout: hold'em subgames keep
    `last_regrets` only for predictive algorithms."""
    return isinstance(self.game, subgame_lib.Subgame)

  @property
  def _fuses(self) -> bool:
    return self.lean and self.fused and self.alternating

  @property
  def _split_cards(self) -> int:
    """Cards per batch of the subtree-bounded passes (0: whole levels)."""
    if self.subtrees is not None:
      return int(self.subtrees)
    return _SPLIT_CARDS if self._state_bytes > split_lib.BIG_BYTES else 0

  @property
  def _splits(self) -> bool:
    """Whether the half steps run split below the first deal
    (`cfr_jax.holdem.split`): fused, unsharded subgames that deal a card."""
    return (self._fuses and self.mesh is None
            and self._split_cards > 0 and split_lib.deals(self.game))

  @property
  def _state_bytes(self) -> int:
    """Bytes of one state array in the compute dtype."""
    width = 1 if self.lean else self.game.num_actions
    return self.num_rows * width * jnp.dtype(self.dtype).itemsize

  @property
  def _recomputes(self) -> bool:
    """Whether derived values are recomputed where used rather than kept.

    XLA hoists loop-invariant values out of the iteration loop whole: on a
    subgame, every level's uniform fallback strategy [rows, A] and its dealt
    cards' [nodes, H] masks, about 2.5x the state on the flop config (XLA's
    buffer assignment: a 13.2 GB loop carry for 3.4 GB of state). Recomputing
    them costs speed (turn config: ~48 -> ~60 ms/iteration), so they are
    recomputed only where their memory matters: fused states over
    _HOIST_BYTES (hoisting off, and half steps isolated: `_make_run`)."""
    return self._fuses and self._state_bytes > _HOIST_BYTES

  @property
  def _jit_options(self) -> dict:
    options = subgame_lib.compiler_options() if self.lean else {}
    if self._recomputes:
      options['xla_disable_hlo_passes'] = 'while-loop-invariant-code-motion'
    return {'compiler_options': options} if options else {}

  @property
  def real_rows(self) -> int:
    """Entries of the state's first axis that hold the game: its infosets
    (tree games) or its compact entries (hold'em subgames, `Subgame.num_cells`)."""
    return self.game.num_cells if self.lean else self.game.num_infosets

  @property
  def num_rows(self) -> int:
    """Length of the state's first (sharded) axis: `real_rows`, rounded up to
    a multiple of the mesh's device count (JAX shards only even splits)."""
    n = 1 if self.mesh is None else self.mesh.size
    return -(-self.real_rows // n) * n

  def table(self, x: jax.Array) -> jax.Array:
    """[I, A] the infoset table of a state array (regrets, strategy_sum, ...):
    hold'em subgames' compact arrays expanded (zeros at illegal actions),
    tree games' as they are (padding rows over a mesh dropped)."""
    return self._table(x)

  def state_shardings(self) -> SolverState | None:
    """The `NamedSharding` of each state leaf (None without a mesh)."""
    if self.mesh is None:
      return None
    rows = jax.sharding.NamedSharding(
        self.mesh, P(self.mesh.axis_names) if self.lean else P(self.mesh.axis_names, None))
    scalar = jax.sharding.NamedSharding(self.mesh, P())
    return SolverState(regrets=rows, strategy_sum=rows,
                       strategy_sum_low=rows if self.compensated else None,
                       last_regrets=rows if self._keeps_last else None, iteration=scalar,
                       owner=self.owner)

  @functools.cached_property
  def owner(self) -> str:
    """The game and algorithm its states belong to: '<game name> #<hash of the
    game's definition> <algorithm>' (two subgames of one board and other
    ranges share a name, not a hash). Hyperparameters are not in it: a state
    may go on under other ones (a sweep)."""
    spec = json.dumps(self.game.info.spec, sort_keys=True, default=str)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:10]
    return (f'{self.game.info.name} #{digest} {self.algorithm}'
            + (f' ({self.schedule} schedule)' if self.schedule else ''))

  @property
  def _keeps_last(self) -> bool:
    return not self.lean or regret_lib.get_algorithm(self.algorithm)[1].predictive

  def _zeros(self) -> SolverState:
    shape = (self.num_rows,) if self.lean else (self.num_rows, self.game.num_actions)
    zeros = lambda: jnp.zeros(shape, self.storage or self.dtype)
    return SolverState(regrets=zeros(), strategy_sum=zeros(),
                       strategy_sum_low=zeros() if self.compensated else None,
                       last_regrets=zeros() if self._keeps_last else None,
                       iteration=jnp.zeros((), jnp.int32), owner=self.owner)

  def init(self) -> SolverState:
    """The state before the first iteration (uniform current strategy)."""
    return self._init()

  def abstract_state(self, num_rows: int | None = None) -> SolverState:
    """Shapes, dtypes (and shardings, with a mesh) of a state, for restoring
    checkpoints: Orbax restores each leaf with the sharding given here.

    num_rows: another infoset padding (a checkpoint written with another
      device count), read unsharded, for `place`.
    """
    shapes = jax.eval_shape(self._zeros)
    if num_rows is not None:
      return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
          (num_rows,) + x.shape[1:] if x.ndim else (), x.dtype), shapes)
    if self.mesh is None:
      return shapes
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        shapes, self.state_shardings())

  def compile(self, state: SolverState | None = None) -> jax.stages.Compiled:
    """Compiles what `run` calls, and on split subgames what `exploitability`
    calls, for states like `state`, so that their first calls find them ready;
    returns the compiled run chunk (for its `memory_analysis()`; holding it
    holds nothing more than `run` does).

    state: a state, or its `abstract_state()`-like tree of
      `jax.ShapeDtypeStruct`s; None: what `init()` returns. Its leaves'
      shardings must be those of the states `run` will get: JAX compiles
      again for a state committed to a device (`jax.device_put`) if the
      program was compiled for an uncommitted one, and the other way round.

    Call it before the state exists. Compiling a big program takes more host
    memory than running it (the flop config: ~1 GB over ~2 minutes), and
    compiled first that peak does not sit on top of the state's: the flop
    config's peak RSS falls from 2.37 to 2.03 GB (bench/RESULTS.md,
    "Compiled before the state exists").
    """
    def like(x):  # an uncommitted array has no sharding to keep
      keep = getattr(x, 'committed', True)  # ShapeDtypeStructs keep theirs
      return jax.ShapeDtypeStruct(x.shape, x.dtype,
                                  sharding=getattr(x, 'sharding', None) if keep else None)
    spec = (self.abstract_state() if state is None
            else jax.tree.map(like, checked_state(self, state)))
    count = jax.ShapeDtypeStruct((), jnp.int32)  # `run` passes an uncommitted int32
    # Compiled without source locations (flop config: ~70 MB less in the
    # executables), and their MLIR modules dropped once compiled (~0.1 GB
    # that would otherwise live through the first iteration, the peak).
    def build(lowered):
      heap.strip_locations(lowered)
      compiled = lowered.compile()
      heap.drop_lowering(lowered, compiled)
      return compiled
    chunk = build(self._run.lower(self._passes, spec, count, self._hp))
    if self._splits:
      build(_average_nash_conv.lower(self._passes, spec.strategy_sum, spec.strategy_sum_low,
                                     abstract=False))
    return chunk

  def run(self, state: SolverState, num_iterations: int) -> SolverState:
    """Runs `num_iterations` more iterations in one jitted call (state is donated)."""
    n = checked_count(checked_state(self, state).iteration, num_iterations)
    return self._run(self._passes, state, placement.to_device(n, np.int32), self._hp)

  def run_many(self, states: SolverState, num_iterations, hyperparameters=None) -> SolverState:
    """Runs N instances as one vmapped program (states are donated).

    states: a SolverState whose leaves have a leading [N] instance axis
      (`stack_states`). num_iterations: an int, or [N] ints (instances at
      different iterations each get their own count). hyperparameters: a dict
      of [N] values (a sweep), by default this solver's for every instance.
    Each instance computes what `run` computes, but not bit for bit: XLA
    contracts a*b+c into fused multiply-adds depending on fusion and
    vectorisation, which vmap changes, and CFR amplifies such 1-ulp
    differences over hundreds of iterations (tests/test_scale.py measures it).
    """
    if self.mesh is not None:
      raise ValueError('run_many does not combine with a mesh yet')
    count = jax.tree.leaves(checked_state(self, states, batched=True))[0].shape[0]
    _check_per_instance('num_iterations', num_iterations, count)
    for k, v in (hyperparameters or {}).items():
      _check_per_instance(f'hyperparameter {k}', v, count)
    n = np.broadcast_to(np.asarray(num_iterations, np.int64), (count,))
    if is_bool(num_iterations) or not np.array_equal(
        n, np.broadcast_to(num_iterations, (count,))):
      raise ValueError(f'num_iterations must be whole numbers, got {num_iterations!r}')
    if (n < 0).any():
      raise ValueError(f'num_iterations must be >= 0, got {num_iterations}')
    if int((np.asarray(states.iteration) + n).max()) > MAX_ITERATION:
      raise OverflowError(f'iteration counter would pass {MAX_ITERATION}')
    given = checked_hyperparameters({**self._hp, **(hyperparameters or {})}, self.dtype)
    hp = {k: placement.to_device(np.broadcast_to(np.asarray(v, self.dtype), (count,)))
          for k, v in given.items()}
    if set(hp) != set(self._hp):
      raise ValueError(f'{self.algorithm} takes hyperparameters {sorted(self._hp)}; '
                       f'got {sorted(hp)}')
    same = bool((n == n[0]).all())
    if same not in self._run_many:
      # A shared count keeps the loop's predicate unbatched, and `unfused`'s
      # conds conds; per-instance counts make vmap select between old and
      # new states every iteration, and those conds selects.
      body = _make_run(self._algo, self.alternating, schedule=self._schedule,
                        fused=self._fuses, lean=self.lean,
                        recompute=self._recomputes, batched=not same)
      axes = (None, 0, None if same else 0, 0)
      self._run_many[same] = heap.jit(jax.vmap(body, in_axes=axes), donate_argnums=(1,),
                                     **self._jit_options)
    n = placement.to_device(n[0] if same else n, np.int32)
    return self._run_many[same](self._passes, states, n, hp)

  def place(self, state: SolverState) -> SolverState:
    """`state` in this solver's layout: its infoset axis cut or zero-padded to
    `num_rows` and put on the mesh. A checkpoint written with another device
    count (hence another padding) continues bit for bit after `place`."""
    rows, real = self.num_rows, self.real_rows

    def fit(x):
      if np.ndim(x) == 0:
        return x
      if x.shape[0] < real:
        raise ValueError(f'state has {x.shape[0]} rows; the game needs {real}')
      x = x[:real]
      return jnp.concatenate([x, jnp.zeros((rows - real,) + x.shape[1:], x.dtype)])
    state = jax.tree.map(fit, state)
    shardings = self.state_shardings()
    if shardings is None:
      return jax.device_put(state, jax.devices()[0])
    return placement.put(state, shardings)

  def current_policy(self, state: SolverState) -> TabularPolicy:
    """The strategy the next iteration plays."""
    checked_state(self, state)
    if self.lean:
      hp, t = self._hp, state.iteration.astype(self.dtype) + 1
      if self._schedule is not None:
        hp, t = self._schedule.hyperparameters(hp, t)
      return self._policy(self.table(_lean_strategy(self._algo, self._game, state, hp, t)))
    return self._policy(_current_strategy(self._algo, self._game, state, self._hp,
                                          self._schedule))

  def average_policy(self, state: SolverState) -> TabularPolicy:
    """The average strategy: what converges to an equilibrium."""
    checked_state(self, state, reads=_AVERAGE)
    return self._policy(self._average(self._game, state.strategy_sum,
                                      state.strategy_sum_low))

  def exploitability(self, state: SolverState, abstract: bool = False) -> float:
    """The exploitability of the state's average strategy in chips:
    `cfr_jax.exploitability(solver.game, solver.average_policy(state))`, or
    with abstract=True `cfr_jax.abstract_exploitability`.

    Where the solver runs split passes (big subgames: the flop config), the
    best responses read the average block by block from the state's strategy
    sums, and no [I, A] table is made (0.8 GB there). The value then equals
    the table's to float rounding, not bit for bit: the passes average the
    rows of isomorphic deals themselves, which the table has done once.
    """
    checked_state(self, state, reads=_AVERAGE)
    abstract = checked_bool(abstract, 'abstract')
    if not self._splits:
      policy = self.average_policy(state)
      return (abstract_exploitability if abstract else exploitability)(self.game, policy)
    return float(_average_nash_conv(self._passes, state.strategy_sum,
                                    state.strategy_sum_low, abstract=abstract)) / 2

  def node_report(self, state: SolverState, history: str) -> subgame_lib.NodeReport:
    """`subgame.node_report` of the state's average strategy at betting line
    `history` (a hold'em subgame's solver). Where the solver runs split
    passes (the flop config) the report reads the strategy sums block by
    block, as `exploitability` does, and no [I, A] table is made; the
    regrets are not read."""
    if not isinstance(self.game, subgame_lib.Subgame):
      raise ValueError(f'node_report reads hold\'em subgames, not {self.game.name}')
    checked_state(self, state, reads=_AVERAGE)
    if not self._splits:
      return subgame_lib.node_report(self.game, self.average_policy(state), history)
    return split_lib.node_report(self._passes, self.game.astype(self.dtype),
                                 (state.strategy_sum, state.strategy_sum_low), history,
                                 split_lib.average_rows)

  def describe(self) -> dict:
    """What gives a state its meaning (for checkpoint fingerprints)."""
    return {'game': self.game.info.spec, 'algorithm': self.algorithm,
            'hyperparameters': self.hyperparameters,
            'alternating': self.alternating, 'dtype': jnp.dtype(self.dtype).name,
            'shape': [self.game.num_infosets, self.game.num_actions],
            # Only when set, so float32 fingerprints are what they always were.
            **({'storage': jnp.dtype(self.storage).name} if self.storage else {}),
            **({'schedule': self.schedule} if self.schedule else {}),
            # Only where they differ from what tree games always had, so their
            # fingerprints are what they always were.
            **({'layout': SUBGAME_LAYOUT} if self.lean else {}),
            **({} if self.compensated else {'compensated': False})}

  def _policy(self, probs):
    if not probs.is_fully_addressable:  # sharded over several jax.distributed processes
      probs = multihost_utils.process_allgather(probs, tiled=True)
    if probs.shape[0] != self.game.num_infosets:  # padded rows over a mesh
      probs = probs[:self.game.num_infosets]
    if self.lean:  # the rows as played (chance isomorphism), in place on the device
      probs = self._symmetrised(self.game, probs)
    return TabularPolicy(self.game.info, probs, lambda: np.asarray(self.game.legal),
                         normalised=True)


def pad_infosets(game: Game, rows: int) -> Game:
  """The game with its infoset axis padded to `rows` inert infosets.

  A padded infoset has one legal action (so its strategy is finite), no
  histories (so no reach, regret or value) and no edge pointing at it: the
  edges that read no policy entry are moved to the new padding slot rows * A.
  """
  extra = rows - game.num_infosets
  if extra == 0:
    return game
  if extra < 0:
    raise ValueError(f'cannot pad {game.num_infosets} infosets to {rows}')
  n, a = game.num_nodes, game.num_actions
  fill = lambda x, value, axis=0: jnp.concatenate(
      [x, jnp.full(x.shape[:axis] + (extra,) + x.shape[axis + 1:], value, x.dtype)], axis)
  legal = jnp.concatenate([game.legal, jnp.zeros((extra, a), bool).at[:, 0].set(True)])
  return game.replace(
      legal=legal, infoset_player=fill(game.infoset_player, 0),
      infoset_node=fill(game.infoset_node, 0),
      slot_children=fill(game.slot_children, n, axis=1),
      infoset_members=fill(game.infoset_members, n, axis=1),
      edge_slot=jnp.where(game.edge_slot == game.num_infosets * a, rows * a,
                          game.edge_slot).astype(game.edge_slot.dtype))


def _check_per_instance(name: str, value, count: int) -> None:
  """ValueError unless `value` is one number or `count` of them (numpy's
  "operands could not be broadcast together" otherwise)."""
  try:
    shape = np.shape(value)
  except ValueError:  # a ragged list
    shape = None
  if shape not in ((), (count,)):
    raise ValueError(f'{name} must be one number or {count} (one per instance), got '
                     f'{value!r:.60}')


def stack_states(states) -> SolverState:
  """N states -> one state with a leading [N] axis (for `Solver.run_many`).
  ValueError for no states, or states that differ in kind, shape or dtype
  (`jax.tree.map`'s "missing 1 required positional argument" and
  `jnp.stack`'s shape errors otherwise)."""
  states = list(states)
  if not states:
    raise ValueError('stack_states needs at least one state')
  spec = lambda s: (jax.tree.structure(s), [(np.shape(x), np.result_type(x))
                                             for x in jax.tree.leaves(s)])
  for k, s in enumerate(states[1:], 1):
    if spec(s) != spec(states[0]):
      raise ValueError(f'stack_states: state {k} differs from state 0 in kind, shape, dtype '
                       'or solver (the states of one solver stack)')
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def unstack_states(states: SolverState) -> list:
  """The inverse of `stack_states`."""
  sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(states)}
  if None in sizes or len(sizes) != 1:  # an IndexError from JAX otherwise
    raise ValueError('unstack_states takes states stacked by stack_states (a leading [N] '
                     'axis on every array), got one state')
  return [jax.tree.map(lambda x, k=k: x[k], states) for k in range(sizes.pop())]


def _average_strategy(dtype, lean: bool, game, strategy_sum, low) -> jax.Array:
  """[I, A] `average_strategy` of a state's sum (and its low part, or None),
  expanded from the compact layout where `lean`."""
  total = strategy_sum.astype(dtype)
  if low is not None:
    total = total + low.astype(dtype)
  if not lean:
    return average_strategy(game, total)
  # Normalised block by block in the compact layout as `expand` widens it:
  # regret matching adds the same legal entries in the same order, so the
  # table is the widened one's bit for bit, without a [I, A] input beside the
  # output (flop config: XLA temporaries 1,355 MB -> 194 MB, bench/RESULTS.md).
  normalise = lambda sums: jax.vmap(regret_lib.regret_matching)(
      sums, jnp.ones(sums.shape, bool))
  return subgame_lib.expand(game, total, normalise)


@functools.partial(heap.jit, static_argnames='abstract',
                   compiler_options=subgame_lib.compiler_options)
def _average_nash_conv(parts, strategy_sum, low, abstract: bool) -> jax.Array:
  """[] NashConv of the average strategy of a split subgame's compact sums:
  each block normalised as `_average_strategy` normalises it."""
  return split_lib.nash_conv(parts, (strategy_sum, low), abstract, split_lib.average_rows)


def average_strategy(game: Game, strategy_sum: jax.Array) -> jax.Array:
  """[I, A] normalised strategy sums; uniform where an infoset was never reached."""
  return jax.vmap(regret_lib.regret_matching)(strategy_sum, game.legal)


def _current_strategy(algo, game, state, hp, schedule=None):
  dtype = hp['gamma'].dtype  # the compute dtype (the state may be stored in 16 bits)
  t = state.iteration.astype(dtype) + 1
  if schedule is not None:
    hp, t = schedule.hyperparameters(hp, t)
  return _strategy_rows(algo, state, hp, t, game.legal, 0, state.regrets.shape[0])


def _lean_strategy(algo, game, state, hp, t) -> jax.Array:
  """[cells] the current strategy of a hold'em subgame's compact state, block
  by block (hp already scheduled)."""
  pieces = [_block_strategy(algo, game, state, hp, t, lo, hi).reshape(-1)
            for lo, hi, _, _ in game.act_runs]
  return jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def _block_strategy(algo, game, state, hp, t, lo: int, hi: int) -> jax.Array:
  """[rows, k] the current strategy of decisions lo:hi's block (`subgame.block`)."""
  _, _, c0, c1, slots = subgame_lib.block(game, lo, hi)
  legal = jnp.ones(((c1 - c0) // len(slots), len(slots)), bool)
  return _strategy_rows(algo, state, hp, t, legal, c0, c1, len(slots))


def _as_table(game, x: jax.Array) -> jax.Array:
  """`Solver.table` (jitted there)."""
  if isinstance(game, subgame_lib.Subgame):
    return subgame_lib.expand(game, x)
  return x[:game.num_infosets]


def _strategy_rows(algo, state, hp, t, legal, r0: int = 0, r1: int = 0, width: int = 0,
                   read=None) -> jax.Array:
  """[n, A] the current strategy at iteration t (hp already scheduled) of
  rows r0:r1, or with `width` k, of the [n, k] block held by the compact
  state's entries r0:r1, or of the rows read(x) gives of a state array x;
  legal: [n, A] (or [n, k])."""
  dtype = hp['gamma'].dtype
  if read is None:
    read = lambda x: x[r0:r1] if not width else x[r0:r1].reshape(-1, width)
  regrets = read(state.regrets).astype(dtype)
  last = (jnp.zeros_like(regrets) if state.last_regrets is None
          else read(state.last_regrets).astype(dtype))
  return algo.policy(regrets, last, t, hp, legal)  # the rows whole: the rules are elementwise


def _round_stochastic(x: jax.Array, salt: jax.Array, storage, row0: int = 0,
                      slots: tuple | None = None, width: int = 0) -> jax.Array:
  """float32 [I, A] -> bfloat16, rounded up with probability equal to the
  discarded fraction, so the rounding is unbiased and small regret increments
  are not lost on average (round to nearest drops every increment under half
  an ulp: CFR then stalls).

  The random bits hash (row, column, salt): they do not depend on the array's
  shape, padding, sharding or batching, so a run is reproducible whatever its
  layout, and chunking stays bit for bit invariant (the salt is the iteration).
  row0: the global row of x's first row (x is a slice of the state's rows),
    or [rows] each row's global row (a split part's scattered rows);
  slots, width: the infoset table's columns of x's columns and its width
  (a compact block of a hold'em subgame's state), by default x's own.
  """
  if x.dtype == storage:
    return x
  rows, cols = x.shape
  # The salt enters before the [I, A] index is formed: a salt-free index would
  # be loop-invariant, and XLA hoists it out of the loop as a whole [I, A]
  # uint32 array (1.7 GB on a flop subgame) instead of fusing it.
  ids = (jnp.asarray(row0).astype(jnp.uint32) if np.ndim(row0) == 1  # each row's id
         else jnp.arange(rows, dtype=jnp.uint32) + jnp.uint32(row0))
  row = ids[:, None] ^ kernels.hash32(salt.astype(jnp.uint32))
  col = (jnp.arange(cols, dtype=jnp.uint32) if slots is None
         else jnp.asarray(np.asarray(slots, np.uint32)))
  index = row * jnp.uint32(width or cols) + col[None, :]
  noise = kernels.hash32(index) >> 16
  bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
  rounded = (bits + noise) & jnp.uint32(0xFFFF0000)
  # Infinities and NaNs keep their bits (adding noise could change their kind).
  rounded = jnp.where(jnp.isfinite(x), rounded, bits & jnp.uint32(0xFFFF0000))
  out = jax.lax.bitcast_convert_type(rounded, jnp.float32).astype(storage)
  return out


def _store_sum(total: jax.Array, error: jax.Array, storage) -> tuple:
  """A TwoSum pair (total + error, in the compute dtype) as a pair of
  `storage` values: high part rounded to nearest, low part what it missed.
  In bfloat16 the pair keeps about 16 significant bits of the sum."""
  if total.dtype == storage:
    return total, error
  high = total.astype(storage)
  return high, ((total - high.astype(total.dtype)) + error).astype(storage)


def _row_sum(x: jax.Array) -> jax.Array:
  """[I, A] -> [I], summed in a fixed order: XLA's reduction order changes
  under vmap, and instances must match separate runs bit for bit."""
  return sum(x[:, a] for a in range(x.shape[1]))


def _make_run(algo: regret_lib.Algorithm, alternating: bool, shardings=None,
              schedule: regret_lib.Schedule | None = None, fused: bool = False,
              lean: bool = False, recompute: bool = False, batched: bool = False):
  """The jitted body: n iterations of `algo`, alternating or simultaneous,
  its hyperparameters following `schedule` if given.

  `shardings`, a SolverState of shardings, pins the loop carry to them: without
  it XLA may choose to replicate the loop and slice only at the end.
  `fused` (hold'em subgames, alternating): each level's rows are updated inside
  the tree pass (`subgame.fused_half_step`) instead of all rows after it.
  `lean` (hold'em subgames): the state's arrays are compact (`Solver.table`);
  the whole-tree half step passes the expanded [I, A] strategy and updates
  block by block with the fused step's writer.
  `recompute` (big fused states, with loop-invariant code motion off): each
  half step sees the game through an optimization barrier that also holds
  the state it starts from, so that XLA neither shares the arrays it derives
  from the game between the two half steps, keeping them alive across both,
  nor computes them before the previous half step is done (flop config, XLA's
  temporaries: 3.69 -> 3.05 GiB alone, 3.10 -> 2.26 GiB once the dealt-card
  masks were elementwise; bench/RESULTS.md).
  `batched` (`run_many` with per-instance counts: n is batched): the fused
  passes compute the updated player's strategy again in the backward pass
  instead of keeping it from the forward pass (`subgame.fused_forward`'s
  keep_own). With n batched, `unfused`'s cond on n > 0 is a select under
  vmap, XLA fuses the kept strategy's regret matching into its readers in
  the backward pass, where it reads rows already written, and copies the
  state for it (20 copies per chunk on the test turn subgame).
  """
  # The rules are elementwise over [rows, A] (t and hp scalars): applied to
  # the rows whole, not vmapped row by row (the same values and program;
  # batching them was ~30% of a flop chunk's trace, which every start pays).
  update, accumulate, weighted = (algo.update, regret_lib.accumulate,
                                  regret_lib.accumulate_weighted)

  def scheduled(hp, t):
    return (hp, t) if schedule is None else schedule.hyperparameters(hp, t)

  def new_rows(old, legal, sigma, cfv, own, hp, t, salt, where=(0, None, 0)):
    """The updated (regrets, last, sum, low) of rows whose stored (regrets,
    last, sum, low) are `old` (None where not kept); where: (first row, slots,
    width) of those rows in the infoset table, for the stochastic rounding."""
    inst = jnp.where(legal, cfv - _row_sum(sigma * cfv)[:, None], 0)
    dtype, storage = sigma.dtype, old[0].dtype
    hp_t, t_regret = scheduled(hp, t)
    regrets, last, old_sum, low = (None if x is None else x.astype(dtype) for x in old)
    kept_last = last is not None
    regrets, last = update(regrets, jnp.zeros_like(inst) if last is None else last,
                           inst, t_regret, hp_t)
    kept_low = low is not None
    old_sum = (old_sum, jnp.zeros_like(inst) if low is None else low, own[:, None] * sigma)
    if schedule is None:
      total, error = accumulate(*old_sum, t, hp['gamma'])
    else:
      total, error = weighted(*old_sum, *schedule.weights(hp, t))
    # 16-bit storage: regrets rounded stochastically, sums as (high, low) pairs
    # (or, without the low part, rounded stochastically too).
    regrets = _round_stochastic(regrets, 2 * salt, storage, *where)
    if kept_last:
      last = _round_stochastic(last, 2 * salt + 1, storage, *where)
    if kept_low:
      total, low = _store_sum(total, error, storage)
    else:
      total, low = _round_stochastic(total, 2 * salt + _SUM_STREAM, storage, *where), None
    return regrets, (last if kept_last else None), total, low

  def leaves(state):
    return (state.regrets, state.last_regrets, state.strategy_sum, state.strategy_sum_low)

  def with_leaves(state, new):
    return state.replace(regrets=new[0], last_regrets=new[1], strategy_sum=new[2],
                         strategy_sum_low=new[3])

  def half_step(game, state, hp, t, players, salt, live):
    # One tree pass under the current profile; updates the infosets of `players`.
    if lean:
      return lean_half_step(game, state, hp, t, players, salt, live)
    old = leaves(state)
    sigma = _current_strategy(algo, game, state, hp, schedule)
    cfv, own = counterfactual_pass(game, sigma, players)
    new = new_rows(old, game.legal, sigma, cfv, own, hp, t, salt)
    mask = jnp.isin(game.infoset_player, jnp.asarray(players))[:, None]
    new = [None if b is None else jnp.where(mask, a, b) for a, b in zip(new, old)]
    return with_leaves(state, new)

  def write_rows(st, old_of, put, where, mark, sigma, cfv, own, hp, t, salt, live):
    """st with some rows updated in place: old_of(x) their [rows, k] entries
    of a state array, put(x, new) that array with them replaced, `where` as
    in `new_rows`, mark: an entry that `put` writes (static)."""
    old = tuple(None if x is None else old_of(x) for x in leaves(st))
    # The new rows are a computation of their own (`unfused`): fused
    # into the in-place writes below, they ran there one entry at a time on
    # one thread (turn config: 30 -> 26 ms per iteration, bit-identical;
    # bench/RESULTS.md).
    new = kernels.unfused(lambda: new_rows(old, jnp.ones(sigma.shape, bool), sigma, cfv, own,
                                           hp, t, salt, where), live)
    # The sums first, then the regrets, made to depend on the new sums
    # (`subgame.after`): the sums' update reads the old regrets, so the
    # regrets are written in place only once it has run. Still needed: under
    # `run_many`'s vmap with per-instance counts the cond above is a select,
    # the update is fused into the writes again, and without this order XLA
    # copies the state (21 whole-array copies per chunk on the test turn
    # subgame).
    keep = lambda x, rows: None if x is None else put(x, rows)
    arrays = leaves(st)
    total, low = keep(arrays[2], new[2]), keep(arrays[3], new[3])
    done = [x[mark:mark + 1] for x in (total, low) if x is not None]
    regrets = keep(arrays[0], subgame_lib.after(new[0], *done))
    last = None if new[1] is None else keep(arrays[1], subgame_lib.after(new[1], *done))
    return with_leaves(st, (regrets, last, total, low))

  def write(game, st, lo, hi, sigma, cfv, own, hp, t, salt, live):
    """st with decisions lo:hi's block (one of `subgame.block`) updated in place."""
    r0, _, c0, c1, slots = subgame_lib.block(game, lo, hi)
    put = lambda x, rows: jax.lax.dynamic_update_slice_in_dim(x, rows.reshape(-1), c0, 0)
    return write_rows(st, lambda x: x[c0:c1].reshape(-1, len(slots)), put,
                      (r0, slots, game.num_actions), c0, sigma, cfv, own, hp, t, salt, live)

  def lean_half_step(game, state, hp, t, players, salt, live):
    # The same on a compact state: the passes see the [I, A] table, the
    # update runs per block of same-action decisions, as the fused step's does.
    hp_t, t_policy = scheduled(hp, t)
    sigma = _lean_strategy(algo, game, state, hp_t, t_policy)
    cfv, own = counterfactual_pass(game, subgame_lib.expand(game, sigma), players)
    for lo, hi, p, slots in game.act_runs:
      if p in players:
        r0, r1, c0, c1, _ = subgame_lib.block(game, lo, hi)
        state = write(game, state, lo, hi, sigma[c0:c1].reshape(-1, len(slots)),
                      cfv[r0:r1][:, list(slots)], own[r0:r1], hp, t, salt, live)
    return state

  def fused_half_step(game, state, hp, t, players, salt, live):
    hp_t, t_policy = scheduled(hp, t)
    # Each block's strategy is a computation of its own (`unfused`):
    # otherwise XLA recomputes the regret matching inside the level's hand
    # policy, padded to every hand and action (flop config: 11% faster,
    # bit-identical; bench/RESULTS.md).
    strategy = lambda st, lo, hi: kernels.unfused(
        lambda: _block_strategy(algo, game, st, hp_t, t_policy, lo, hi), live)
    update = lambda st, lo, hi, sigma, cfv, own: write(game, st, lo, hi, sigma, cfv, own,
                                                        hp, t, salt, live)
    return subgame_lib.fused_half_step(game, state, players[0], strategy, update,
                                       keep_own=not batched)

  def part_strategy(part, st, hp_t, t_policy, lo, hi):
    """[rows, k] the current strategy of a split part's decisions lo:hi (one
    block), read from their windows of the full state."""
    rows, slots = split_lib.block_shape(part, lo, hi)
    legal = jnp.ones(((hi - lo) * rows, len(slots)), bool)
    return _strategy_rows(algo, st, hp_t, t_policy, legal,
                          read=lambda x: split_lib.block_rows(x, part, lo, hi))

  def part_write(part, st, lo, hi, sigma, cfv, own, hp, t, salt, live):
    """`write` for a split part: the block's rows at their windows of the full state."""
    rows, slots = split_lib.block_shape(part, lo, hi)
    row_ids = (part.row[lo:hi][:, None] + jnp.arange(rows, dtype=part.row.dtype)).reshape(-1)
    return write_rows(st, lambda x: split_lib.block_rows(x, part, lo, hi),
                      lambda x, new: split_lib.put(x, part, lo, hi, new),
                      (row_ids, slots, part.game.num_actions), 0, sigma, cfv, own, hp, t, salt,
                      live)

  def split_half_step(split, state, hp, t, players, salt, live):
    hp_t, t_policy = scheduled(hp, t)
    me = players[0]
    strategy = lambda part: (lambda st, lo, hi: kernels.unfused(  # as in fused_half_step
        lambda: part_strategy(part, st, hp_t, t_policy, lo, hi), live))
    update = lambda part: (lambda st, lo, hi, sigma, cfv, own: part_write(
        part, st, lo, hi, sigma, cfv, own, hp, t, salt, live))
    up = split.upper
    stored, reach = subgame_lib.fused_forward(up.game, state, me, strategy(up),
                                              stubs=split.stubs, keep_own=not batched)
    first, end = up.game.range_span[me]  # the backward passes' hands
    values = jnp.zeros((reach.shape[1], end - first), reach.dtype)
    for cls in split.classes:
      def batch(j, carry, cls=cls):
        st, acc = carry
        part = split_lib.batch_of(cls, j)
        kept, _ = subgame_lib.fused_forward(part.game, st, me, strategy(part), reach,
                                            split.stubs, keep_own=not batched)
        st, v = subgame_lib.fused_backward(part.game, st, me, kept, strategy(part),
                                           update(part), stubs=split.stubs)
        return st, acc + v
      state, values = jax.lax.fori_loop(0, split_lib.num_batches(cls), batch,
                                        (state, values))
    return subgame_lib.fused_backward(up.game, state, me, stored, strategy(up), update(up),
                                      values, split.stubs)[0]

  def step(game, state, hp, t, players, salt, live):
    if isinstance(game, split_lib.Split):
      return split_half_step(game, state, hp, t, players, salt, live)
    return (fused_half_step if fused else half_step)(game, state, hp, t, players, salt, live)

  def iteration(_, carry, live):
    game, state, hp = carry
    if shardings is not None:
      state = jax.lax.with_sharding_constraint(state, shardings)
    t = state.iteration.astype(hp['gamma'].dtype) + 1
    salt = 2 * state.iteration  # distinct random bits for every half step
    if alternating:
      for p in (0, 1):
        seen, state = (jax.lax.optimization_barrier((game, state)) if recompute
                       else (game, state))
        state = step(seen, state, hp, t, (p,), salt + p, live)
    else:
      state = half_step(game, state, hp, t, (0, 1), salt, live)
    return game, state.replace(iteration=state.iteration + 1), hp

  def run(game, state, n, hp):
    # A body made for this trace: JAX caches a loop body's traced jaxpr for
    # as long as the body function lives, and `iteration` lives as long as
    # the solver: its jaxpr would outlive `heap.forget_traces` (which frees
    # 92 MB on the flop config with it gone; tests/test_heap.py).
    # `unfused`'s always-true predicate: the loop body runs only if n >= 1.
    # Not the iteration's t >= 1: under `run_many`'s vmap t is batched, and
    # a cond on it a select (n too, where the instances' counts differ).
    live = n > 0
    body = lambda i, carry: iteration(i, carry, live)
    # Split passes carry a 16-bit state as its bits (`split.put`).
    bits = isinstance(game, split_lib.Split)
    convert = lambda st, f: with_leaves(st, tuple(map(f, leaves(st)))) if bits else st
    state = convert(state, split_lib.to_bits)
    state = jax.lax.fori_loop(0, n, body, (game, state, hp))[1]
    state = convert(state, split_lib.from_bits)
    if shardings is not None:
      state = jax.lax.with_sharding_constraint(state, shardings)
    return state

  return run


# Above this state size (one array, in the compute dtype), fused subgame runs
# recompute loop-invariant values instead of letting XLA hoist them (see
# Solver._jit_options): the turn config's 8.2 MB keeps them, the flop's 0.8 GB
# (1.3 GB without chance isomorphism) not.
_HOIST_BYTES = 1 << 28

# Above split.BIG_BYTES of state, subgames' half steps run split below the first
# deal, _SPLIT_CARDS cards at a time (`cfr_jax.holdem.split`): on the flop config
# XLA's temporaries fall from 2.06x the state to 0.09x (0.35x 4 cards at a
# time, no faster and compiling 2.5x longer: four programs, for shape classes
# of 13 and 23 cards). Small states run whole levels: the turn config's
# iterations are ~15% slower split 8 cards at a time (bench/RESULTS.md).
_SPLIT_CARDS = 1

# Algorithms `make_solver` hands to cfr_jax.neural (their state is networks,
# optimizer states and memories, not regret tables).
NEURAL_ALGORITHMS = ('deep-cfr', 'deepcfr')


def solver_kind(algorithm: str) -> str:
  """'sampled' (Monte Carlo CFR), 'neural' (Deep CFR) or 'tabular' (every
  other name; `make_solver` says whether it is known).

  Only tabular solvers have `run_many` (vmapped instances) and compact
  storage; sampled and neural ones split their batches over a mesh (neural
  ones on compiled games only); the launcher refuses the rest with one check.
  """
  if sampled_lib.canonical_name(algorithm) is not None:
    return 'sampled'
  if str(algorithm).strip().lower().replace('_', '-') in NEURAL_ALGORITHMS:
    return 'neural'
  return 'tabular'


# The random stream of a strategy sum rounded without its low part: apart
# from the regrets' (2 * salt) and last regrets' (2 * salt + 1).
_SUM_STREAM = 1 << 30


def make_solver(game: Game, algorithm: str = 'dcfr', *, alternating: bool = True,
                dtype: Any = 'float32', mesh: jax.sharding.Mesh | None = None,
                storage: Any = None, schedule: str | None = None,
                compensated: bool | None = None, subtrees: int | None = None,
                **hyperparameters) -> Solver:
  """A solver for `game`.

  algorithm: 'cfr', 'cfr+', 'linear_cfr', 'dcfr', 'dcfr+', 'pcfr+', 'pdcfr+' or
    'sapcfr+'; or a scheduled one by name: 'hs_dcfr', 'hs_pcfr+', 'hs_pdcfr+',
    'postflop_dcfr' (the same as `schedule='hs'` or `'postflop'` with the base
    algorithm); or 'deep-cfr' (`cfr_jax.neural.make_deep_cfr`: its settings as keyword
    arguments, `hidden=` the networks' layer widths). `game` may also be a
    generative env (`cfr_jax.envs.load_env`), for games that do not compile:
    then only 'deep-cfr' applies (`cfr_jax.neural.make_env_deep_cfr`, sampled
    traversals, progress measured by play).
  schedule: None (default: fixed hyperparameters), or a hyperparameter schedule
    (see `regret.SCHEDULES`): 'hs' (Zhang, McAleer & Sandholm 2024) for dcfr,
    pcfr+ and pdcfr+, its hyperparameters gamma (gamma_0, default 30) and
    horizon (the planned number of iterations, default 1000); 'postflop'
    (postflop-solver's DCFR) for dcfr, alpha, beta, gamma 1.5, 0, 3.
  hyperparameters: DCFR's alpha, beta, gamma (defaults 1.5, 0, 2); DCFR+'s
    alpha, gamma (1.5, 4); PDCFR+'s alpha, gamma (2.3, 5); SAPCFR+'s prediction
    (1/3: the step of PCFR+'s prediction, 1 / (1 + its fixed asymmetry 2)) and
    gamma (2); gamma, the averaging exponent, for every algorithm.
  dtype: 'float32' (default) or 'float64' (needs jax_enable_x64).
  mesh: shard the state's infoset axis over every device of this mesh (see
    `make_mesh`); None (default) keeps everything on the default device.
  storage: None (default: `dtype`) or 'bfloat16', compact storage that halves
    the state's memory (float32): regrets are rounded to bfloat16 after every
    update (stochastically: unbiased), and the average strategy's sum is kept
    as a bfloat16 high/low pair (about 16 significant bits). Arithmetic stays
    in `dtype`. It converges more slowly: see bench/scale.py.
  compensated: keep the average strategy's sum exact to rounding with a
    low-order array (`SolverState.strategy_sum_low`, one more array of the
    state's size). None (default): yes for tree games (Leduc's 1e5-iteration
    runs need it), no for hold'em subgames, whose few hundred iterations reach
    the same exploitability without it (bench/RESULTS.md) in a quarter less memory.
  subtrees: hold'em subgames that deal a card: how many cards' subtrees each
    half step passes over at a time (`cfr_jax.holdem.split`), which bounds its
    temporaries by that many cards' levels instead of whole levels. None
    (default): 1 on states over 256 MB (the flop config), whole levels below;
    0: whole levels. Alternating, unsharded runs only (others ignore it).

  Hold'em subgames have a lean state layout: `last_regrets` only for the
  predictive algorithms (pcfr+, pdcfr+, sapcfr+), and alternating updates run the
  level-fused half step (`subgame.fused_half_step`), which updates each
  level's rows in the tree pass instead of materialising whole-tree values.

  Sampled: 'es-mccfr' and 'os-mccfr' (external- and outcome-sampling Monte
  Carlo CFR, cfr_jax/sampled) return a `sampled.SampledSolver` with the same
  init/run/average_policy/describe; they take batch_size (trajectories per
  player per iteration, default 1024), weighting ('uniform', 'linear'
  (default) or 'discounted', the last with alpha, beta, gamma) and seed (the
  state's PRNG key); 'os-mccfr' also exploration (epsilon, default 0.6) and
  env (a generative game aligned with `game`; default its tree_env);
  'es-mccfr' also pooled (None: chosen per game; see sampled/external.py).
  """
  alternating = checked_bool(alternating, 'alternating')
  compensated = checked_bool(compensated, 'compensated', none=True)
  if solver_kind(algorithm) == 'sampled':
    if schedule is not None:
      raise ValueError(f'{algorithm} takes no schedule; choose a weighting= instead')
    return sampled_lib.make_sampled_solver(
        game, algorithm, alternating=alternating, dtype=dtype, mesh=mesh, storage=storage,
        compensated=compensated, **hyperparameters)
  from cfr_jax.envs.core import Env  # pylint: disable=g-import-not-at-top
  if isinstance(game, Env):
    if solver_kind(algorithm) != 'neural':
      raise ValueError(f'{getattr(game, "spec", type(game).__name__)!r} is a generative '
                       f'env (it does not compile): only deep-cfr trains on it, not '
                       f'{algorithm!r}')
    if not (alternating is True and mesh is None and str(jnp.dtype(dtype)) == 'float32'
            and storage is None and schedule is None and compensated is None):
      raise ValueError('deep-cfr runs in float32 on one device, without tabular options')
    from cfr_jax.neural import env_deep_cfr  # pylint: disable=g-import-not-at-top
    return env_deep_cfr.make_env_deep_cfr(game, **hyperparameters)
  if not isinstance(game, (Game, subgame_lib.Subgame)):
    raise TypeError(f'expected a Game from cfr_jax.load_game, got {type(game).__name__}')
  if solver_kind(algorithm) == 'neural':
    tabular = {'alternating': alternating is not True,
               'dtype': str(jnp.dtype(dtype)) != 'float32', 'storage': storage is not None,
               'schedule': schedule is not None, 'compensated': compensated is not None}
    if any(tabular.values()):
      raise ValueError(f'deep-cfr does not take {[k for k, v in tabular.items() if v]}: '
                       'tabular solvers\' options (Deep CFR runs its networks in float32, '
                       'alternating, without schedules)')
    from cfr_jax.neural import deep_cfr  # pylint: disable=g-import-not-at-top
    return deep_cfr.make_deep_cfr(game, mesh=mesh, **hyperparameters)
  name, named_schedule = regret_lib.parse_algorithm(algorithm)
  algo = regret_lib.ALGORITHMS[name]
  if named_schedule and schedule and named_schedule != schedule:
    raise ValueError(f'algorithm {algorithm!r} has schedule {named_schedule!r}; '
                     f'got schedule={schedule!r}')
  schedule = named_schedule or schedule or None
  defaults, fixed_hp = algo.defaults, algo.fixed
  if schedule is not None:
    sched = regret_lib.get_schedule(name, schedule)
    schedule = str(schedule).strip().lower()
    defaults, fixed_hp = sched.defaults, sched.fixed
  what = name + (f' with schedule {schedule}' if schedule else '')
  fixed = set(hyperparameters) & set(fixed_hp)
  if fixed:
    raise ValueError(f'{what} fixes {sorted(fixed)}'
                     + ('' if schedule else '; use "dcfr" to change them'))
  unknown = set(hyperparameters) - set(defaults)
  if unknown:
    raise ValueError(f'{what} takes hyperparameters {sorted(defaults)}; '
                     f'got unknown {sorted(unknown)}')
  hp = dict(defaults)
  for k, v in hyperparameters.items():
    hp[k] = checked_float(v, f'hyperparameter {k}')
  dtype = checked_dtype(dtype)
  checked_hyperparameters(hp, dtype)
  if storage is not None:
    storage = as_dtype(storage, 'storage must be bfloat16 (with dtype float32) or None')
    if storage == dtype:
      storage = None
    elif storage != jnp.bfloat16 or dtype != jnp.float32:
      raise ValueError(f'storage must be bfloat16 (with dtype float32), got {storage}')
  if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
    raise TypeError(f'mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}')
  if 'horizon' in hp and not hp['horizon'] >= 1:
    raise ValueError(f'horizon must be >= 1, got {hp["horizon"]}')
  if compensated is None:
    compensated = not isinstance(game, subgame_lib.Subgame)
  if subtrees is not None:
    if isinstance(subtrees, bool) or not isinstance(subtrees, (int, np.integer)) or subtrees < 0:
      raise ValueError(f'subtrees must be a number of cards >= 0 (0: off) or None, '
                       f'got {subtrees!r}')
    subtrees = int(subtrees)
  return Solver(game=game, algorithm=name, hyperparameters=hp,
                alternating=alternating, dtype=dtype, mesh=mesh, storage=storage,
                schedule=schedule, compensated=compensated, subtrees=subtrees)


def make_mesh(num_devices: int = 0, axis_name: str = 'infosets') -> jax.sharding.Mesh:
  """A 1-D mesh over the first `num_devices` of `jax.devices()` (0: all of them;
  with `jax.distributed`, the devices of every host)."""
  devices = jax.devices()
  n = checked_int64(0 if num_devices is None else num_devices, 'num_devices') or len(devices)
  if not 1 <= n <= len(devices):
    raise ValueError(f'asked for {num_devices} devices; {len(devices)} available')
  return jax.sharding.Mesh(np.asarray(devices[:n]), (axis_name,))
