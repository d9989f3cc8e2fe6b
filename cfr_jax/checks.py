"""Checks every solver kind (tabular, sampled, neural) makes of its inputs."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# States count iterations in int32 (x64 is off by default).
MAX_ITERATION = int(np.iinfo(np.int32).max)


def is_bool(value) -> bool:
  """Whether `value` is a bool (Python's or numpy's, or an array of them):
  bool is an int subclass, so int(True) == True, and a flag passed where a
  count or a number goes (`run(state, True)`) would count as 1 in silence."""
  dtype = getattr(value, 'dtype', None)  # a jax array's, without a transfer
  try:
    return np.dtype(dtype if dtype is not None else np.asarray(value).dtype) == np.bool_
  except (TypeError, ValueError):  # a ragged list, ...
    return False


def checked_bool(value, name: str, none: bool = False):
  """`value` as a bool (numpy's too), or None where `none` allows it;
  ValueError naming it else: bool('no') is True, so alternating='no' ran
  alternating updates in silence."""
  if value is None and none:
    return None
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  raise ValueError(f'{name} must be True or False{" (or None)" if none else ""}, '
                   f'got {value!r}')


def checked_float(value, name: str) -> float:
  """`value` as a float; ValueError naming it for a bool (alpha=True ran with
  1.0) or anything float() does not take."""
  try:
    if not is_bool(value):
      return float(value)
  except (TypeError, ValueError):
    pass
  raise ValueError(f'{name} must be a number, got {value!r}')


def checked_count(iteration, num_iterations) -> int:
  """`num_iterations` as an int, after checking that running that many more
  from `iteration` is possible: ValueError if negative, OverflowError if the
  counter would pass MAX_ITERATION."""
  try:
    n = int(num_iterations)
    whole = n == num_iterations and not is_bool(num_iterations)
  except (TypeError, ValueError, OverflowError):
    whole = False
  if not whole:  # int(2.5) would run 2 in silence
    raise ValueError(f'num_iterations must be a whole number, got {num_iterations!r}')
  if n < 0:
    raise ValueError(f'num_iterations must be >= 0, got {num_iterations}')
  if int(iteration) + n > MAX_ITERATION:
    raise OverflowError(f'iteration counter would pass {MAX_ITERATION}')
  return n


def checked_hyperparameters(hp: dict, dtype=None) -> dict:
  """`hp` ({name: number or array}) after checking every value is finite,
  and in `dtype` too where given: a NaN or infinite alpha would run and fill
  the state with NaN, and gamma=1e39 (infinite in float32) made every
  strategy sum NaN and the average uniform, an exploitability in silence."""
  largest = None if dtype is None else float(jnp.finfo(dtype).max)
  for k, v in hp.items():
    if is_bool(v):
      raise ValueError(f'hyperparameter {k} must be a number, got {v!r}')
    x = np.asarray(v, np.float64)
    if not np.isfinite(x).all():
      raise ValueError(f'hyperparameter {k} must be finite, got {v!r}')
    if largest is not None and (np.abs(x) > largest).any():
      raise ValueError(f'hyperparameter {k} must be finite in {jnp.dtype(dtype).name} '
                       f'(at most {largest:.4g} in size), got {v!r}')
  return hp


def as_dtype(dtype, expected: str):
  """jnp.dtype(dtype), or a ValueError saying `expected`: None is float64 to
  numpy (dtype=None said "float64 needs jax_enable_x64"), and 'bf16' a
  TypeError ("data type 'bf16' not understood")."""
  try:
    if dtype is None:
      raise TypeError
    return jnp.dtype(dtype)
  except TypeError:
    raise ValueError(f'{expected}, got {dtype!r}') from None


def check_policy_shape(game, probs) -> None:
  """ValueError unless `probs` is a table [infosets, actions] of `game`."""
  if np.shape(probs) != (game.num_infosets, game.num_actions):
    raise ValueError(f'policy has shape {np.shape(probs)}, game {game.name} needs '
                     f'{(game.num_infosets, game.num_actions)}')


def check_distributions(game, probs, block: int = 1 << 20, legal=None) -> None:
  """ValueError naming the first row of the array `probs` that is no
  probability distribution over its infoset's legal actions (NaN, negative,
  or not summing to 1): each was an exploitability or value computed in
  silence (Kuhn's all-3.0 table: 7.5 chips, a NaN table: nan), and a
  node report showed such a row's numbers as a strategy. On the host,
  a block of rows at a time (no device program to compile). legal: [I, A]
  the mask to read (default `game.legal`; `game` may then be a `GameInfo`,
  for its name)."""
  legal = np.asarray(game.legal if legal is None else legal)
  probs = np.asarray(probs)
  slack = 1e-3 if probs.dtype.itemsize >= 4 else 2e-2  # bfloat16 keeps ~3 digits
  for lo in range(0, len(probs), block):
    p = probs[lo:lo + block].astype(np.float64)
    mine = np.where(legal[lo:lo + block], p, 0.0)
    bad = (~np.isfinite(p).all(1) | (mine < -1e-6).any(1)
           | ~(np.abs(mine.sum(1) - 1) <= slack))
    if bad.any():
      row = lo + int(np.argmax(bad))
      values = ', '.join(f'{x:.4g}' for x in probs[row][legal[row]])
      raise ValueError(f'policy row {row} of {game.name} is not a probability distribution '
                       f'over its legal actions: [{values}] (each >= 0, summing to 1)')


def check_policy_game(game, info) -> None:
  """ValueError unless `info` (a TabularPolicy's `GameInfo`) describes the
  rows of `game`: the same object, or (a policy made for a rebuilt game, or
  loaded for one) the same infoset keys, in the same order, over the same
  action slots and card buckets. A policy of another game with as many rows
  and actions was scored as if it were this game's (the river subgame of
  board As 9s 8h 3d 2c, scored on Ks 9s 8h 3d 2c: 45 of 117 rows other hands).
  Cheap for a game's own policies (identity); a rebuilt game's keys are
  compared as lists, or as their compact parts (hold'em, `same_as`)."""
  mine = game.info
  if info is mine:
    return
  why = _rows_differ(info, mine)
  if why:
    theirs = f'another {info.name}' if info.name == mine.name else info.name
    raise ValueError(f'this policy is of {theirs}, not of {mine.name} (its infoset rows '
                     f'differ: {why}); evaluate it on the game it was made for')


def _rows_differ(a, b) -> str | None:
  """What makes the rows of GameInfos a and b differ, or None if nothing."""
  buckets = [x.spec.get('buckets') if isinstance(x.spec, dict) else None for x in (a, b)]
  if buckets[0] != buckets[1]:  # 'line|b3' names another set of hands in another table
    return 'their card buckets differ'
  ka, kb = a.infoset_keys, b.infoset_keys
  if len(ka) != len(kb):
    return f'{len(ka):,} infosets there, {len(kb):,} here'
  if list(a.action_labels) != list(b.action_labels):
    return f'action slots {list(a.action_labels)} there, {list(b.action_labels)} here'
  same = getattr(ka, 'same_as', None)
  if ka is kb or (same(kb) if same is not None else
                  (ka == kb if isinstance(ka, list) and isinstance(kb, list)
                   else all(x == y for x, y in zip(ka, kb)))):
    return None
  # Error path only: the first rows that differ (a bounded scan).
  for i in range(min(len(ka), 100_000)):
    if ka[i] != kb[i]:
      return f'row {i} is {ka[i]!r} there, {kb[i]!r} here'
  return 'their infoset keys differ'


def checked_dtype(dtype):
  """`dtype` as a jnp.dtype: float32, or float64 where x64 is enabled; ValueError else."""
  dtype = as_dtype(dtype, 'dtype must be float32 or float64')
  if dtype not in (jnp.float32, jnp.float64):
    raise ValueError(f'dtype must be float32 or float64, got {dtype}')
  if dtype == jnp.float64 and not jax.config.jax_enable_x64:
    raise ValueError('float64 needs jax_enable_x64: call '
                     'jax.config.update("jax_enable_x64", True) at start-up')
  return dtype


# Whole-number settings (PRNG seeds above all) become int64 on their way in:
# jax.random.PRNGKey(2**63) raised "OverflowError: Python int too large to
# convert to C long" from inside JAX.
MIN_INT64, MAX_INT64 = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def checked_int64(value, name: str = 'seed') -> int:
  """`value` as an int, after checking it is a whole number that fits int64:
  ValueError naming it else (int(1.5) would seed with 1 in silence)."""
  try:
    whole = not is_bool(value) and int(value) == value
  except (TypeError, ValueError, OverflowError):
    whole = False
  if not whole:
    raise ValueError(f'{name} must be a whole number, got {value!r}')
  if not MIN_INT64 <= int(value) <= MAX_INT64:
    raise ValueError(f'{name} must be between {MIN_INT64:,} and {MAX_INT64:,} (int64), '
                     f'got {int(value):,}')
  return int(value)


# A PRNG key is made from 32 bits of its seed (jax.random.PRNGKey without
# jax_enable_x64 keeps seed mod 2**32): seeds 5 and 2**32 + 5, or -1 and
# 2**32 - 1, drew the same numbers in silence.
MAX_SEED = 2**32 - 1


def checked_seed(value, name: str = 'seed') -> int:
  """`value` as an int, after checking it is a whole number in 0 ...
  MAX_SEED, the range a PRNG key is made from: ValueError naming it else."""
  seed = checked_int64(value, name)
  if not 0 <= seed <= MAX_SEED:
    raise ValueError(f'{name} must be between 0 and {MAX_SEED:,} (a PRNG key is made from '
                     f'32 bits of it: larger or negative seeds repeat smaller ones), '
                     f'got {seed:,}')
  return seed


def checked_state(solver, state, batched: bool = False, reads: tuple | None = None):
  """`state`, after checking it is a state `solver` made (its `init`, `run`
  or a restore of its `abstract_state`): the same class, and every array of
  the same shape and dtype. A state of another game or of a solver with
  other settings otherwise failed deep inside a jitted call ("vmap got
  inconsistent sizes", "Incompatible shapes for broadcasting"), or, where the
  shapes happened to fit (a SampledState given to a tabular solver), ran in
  silence. TypeError for another kind of object, ValueError naming the first
  array that differs or that an earlier `run` used up (donated). batched:
  `run_many`'s states, with a leading [N] axis. reads: the fields the caller
  reads (None: all); the others may be None (a state restored without them,
  `training.AVERAGE_ONLY`)."""
  expected = solver.__dict__.get('_state_spec')
  if expected is None:  # a trace of init's shapes: once per solver
    expected = solver.abstract_state()
    solver.__dict__['_state_spec'] = expected
  owner = f'{type(solver).__name__} of {_game_name(solver)}'
  if type(state) is not type(expected):  # pylint: disable=unidiomatic-typecheck
    raise TypeError(f'this {owner} takes the {type(expected).__name__} its init() or run() '
                    f'returns, got {type(state).__name__}')
  mine, theirs = getattr(expected, 'owner', ''), getattr(state, 'owner', '')
  if mine and theirs and mine != theirs:  # same shapes, another game or algorithm
    raise ValueError(f'this state is of {theirs}, not of this solver\'s {mine}: a state goes '
                     'on only with the solver that made it (to start one from another\'s '
                     'arrays, pass solver.init().replace(regrets=..., ...))')
  leaves = jax.tree_util.tree_flatten_with_path(state)[0]
  used = next((p for p, x in leaves if isinstance(x, jax.Array)
               and not isinstance(x, jax.core.Tracer) and x.is_deleted()), None)
  if used is not None:  # a RuntimeError deep in JAX ("Array has been deleted") otherwise
    raise ValueError(
        f'state{jax.tree_util.keystr(used)} was deleted: a state given to run() is used up '
        '(its arrays are donated, so that the iterations update them in place); go on from '
        'the state run() returned (state = solver.run(state, n)), or pass run() a copy to '
        'keep this one (jax.tree.map(jnp.copy, state))')
  if batched:
    sizes = {np.shape(x)[0] if np.ndim(x) else None for _, x in leaves}
    if None in sizes:  # "state.regrets is float32[2]; ... needs float32[12, 2]" otherwise
      raise ValueError('run_many takes states stacked with a leading instance axis '
                       '(stack_states([state, ...])), got one state: run() runs one')
    if len(sizes) > 1:
      raise ValueError(f'the stacked state\'s arrays hold {sorted(sizes)} instances: '
                       'stack whole states (stack_states)')
  spec = lambda x: (tuple(np.shape(x)),
                    np.dtype(x.dtype if hasattr(x, 'dtype') else np.result_type(x)))
  want = {jax.tree_util.keystr(p): spec(x)
          for p, x in jax.tree_util.tree_flatten_with_path(expected)[0]}
  got = {jax.tree_util.keystr(p): spec(x) for p, x in leaves}
  show = lambda s: f'{s[1].name}{list(s[0])}'
  hint = ': a state of another game, or of a solver with other settings?'
  for path in [*want, *(p for p in got if p not in want)]:  # in the state's field order
    field = path.lstrip('.').split('.')[0].split('[')[0]
    if path not in got and (reads is None or field in reads):
      if field in ('regrets', 'strategy_sum') and getattr(state, field) is None:  # no init
        raise ValueError(f'state.{field} is None: a state restored without it '  # makes one
                         '(training.load_run(..., skip=...)) serves only what does not read '
                         'it; restore it whole (no skip) for this')
      raise ValueError(f'state{path} is missing; this {owner} needs {show(want[path])}{hint}')
    if path not in want:
      raise ValueError(f'state{path} is {show(got[path])}; this {owner} keeps none{hint}')
    if path not in got:
      continue
    shape, dtype = got[path]
    if batched:
      shape = shape[1:]
    if (shape, dtype) != want[path]:
      raise ValueError(f'state{path} is {show((shape, dtype))}; this {owner} needs '
                       f'{show(want[path])}{hint}')
  return state


def _game_name(solver) -> str:
  game = getattr(solver, 'game', None)
  if game is None:
    game = getattr(solver, 'env', None)
  return getattr(game, 'name', None) or type(game).__name__
