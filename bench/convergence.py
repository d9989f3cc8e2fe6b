r"""Exploitability against iterations for every algorithm and schedule.

    python bench/convergence.py --games=kuhn,leduc                 # runs, adds to the JSON
    python bench/convergence.py --games=turn --entries=dcfr,postflop_dcfr --dtypes=float32
    python bench/convergence.py --fidelity                          # float32 vs float64 spread
    python bench/convergence.py --report --out=bench/RESULTS.md     # tables and plots

Each run appends its curves to --json (bench/convergence.json), keyed by
game, entry and dtype, so that games can be run separately; --report turns the
JSON into one table and one plot (bench/convergence/<game>.png) per game, the
ranking that chooses the default, and the float32 fidelity table.

Curves: the average strategy's exact exploitability (in chips; in % of the pot
for hold'em subgames) at log-spaced iterations 1, 2, 3, 5, 10, ... up to the
game's cap (every 10 iterations on hold'em subgames). A schedule with a horizon
(HS) runs with horizon = the cap; its value "at 1,000 with horizon 1,000" is a
separate run planned for 1,000 iterations, as the paper uses it.

Exploitability is evaluated in float64 whatever the solver's dtype (x64 is on
for the whole process; float32 solvers compute in float32).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys

import jax

jax.config.update('jax_enable_x64', True)
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, 'bench')]

import cfr_jax  # pylint: disable=g-import-not-at-top,wrong-import-position

# label -> (algorithm, schedule, hyperparameters)
ENTRIES = {
    'cfr': ('cfr', None, {}),
    'cfr+': ('cfr+', None, {}),
    'linear_cfr': ('linear_cfr', None, {}),
    'dcfr': ('dcfr', None, {}),
    'dcfr+': ('dcfr+', None, {}),
    'pcfr+': ('pcfr+', None, {}),
    'pdcfr+': ('pdcfr+', None, {}),
    'sapcfr+': ('sapcfr+', None, {}),
    'hs_dcfr(30)': ('dcfr', 'hs', {'gamma': 30}),
    'hs_dcfr(15)': ('dcfr', 'hs', {'gamma': 15}),
    'hs_pcfr+(30)': ('pcfr+', 'hs', {'gamma': 30}),
    'hs_pcfr+(15)': ('pcfr+', 'hs', {'gamma': 15}),
    'hs_pdcfr+(30)': ('pdcfr+', 'hs', {'gamma': 30}),
    'postflop_dcfr': ('dcfr', 'postflop', {}),
}
# name -> (spec or hold'em config, iteration cap, poker?)
GAMES = {
    'kuhn': ('kuhn', 10_000, True),
    'leduc': ('leduc', 10_000, True),
    'river': ('config:holdem_river', 2_000, True),
    'turn': ('config:holdem_turn', 300, True),
    'liars_dice_4': ('openspiel:liars_dice(dice_sides=4)', 10_000, False),
    'liars_dice': ('openspiel:liars_dice', 1_000, False),
    'goofspiel_4': ('openspiel:goofspiel(num_cards=4,imp_info=True)', 10_000, False),
}
POT_TARGETS = (0.5, 0.3, 0.1)  # % of the pot, hold'em subgames
FLOOR = 1e-7  # x the exploitability after one iteration: float32's resolution, ties below


def load(name):
  spec = GAMES[name][0]
  if spec.startswith('config:'):
    from cfr_jax import training  # pylint: disable=g-import-not-at-top
    config = __import__(f'configs.{spec[7:]}', fromlist=['get_config']).get_config()
    return training._load_game(config), float(config.holdem.pot)  # pylint: disable=protected-access
  return cfr_jax.load_game(spec), None


def checkpoints(cap, holdem):
  points = {m * 10**k for k in range(6) for m in (1, 2, 3, 5)}
  if holdem:
    points |= set(range(10, min(cap, 500) + 1, 10))
  return sorted(p for p in points if p <= cap)


def evaluate(game, solver, state, pot):
  policy = solver.average_policy(state)
  policy = cfr_jax.TabularPolicy(game.info, np.asarray(policy.probs, np.float64),
                                 np.asarray(game.legal))
  value = cfr_jax.exploitability(game, policy)
  return 100 * value / pot if pot else value


def make(game, entry, dtype, horizon=None, perturb=None, size=1e-12):
  algorithm, schedule, hp = ENTRIES[entry]
  hp = dict(hp)
  if schedule == 'hs':
    hp['horizon'] = horizon
  if perturb is not None:  # relative noise on the utilities: breaks exact ties
    info = copy.copy(game.info)  # the solver casts from the host float64 copies
    utility = np.asarray(info.float_arrays['utility'], np.float64)
    noise = np.random.default_rng(perturb).standard_normal(utility.shape)
    info.float_arrays = {**info.float_arrays, 'utility': utility * (1 + size * noise)}
    game = game.replace(info=info)
  return cfr_jax.make_solver(game, algorithm, dtype=dtype, schedule=schedule, **hp)


def curve(game, entry, dtype, points, pot, horizon):
  solver = make(game, entry, dtype, horizon)
  state, values = solver.init(), []
  for p in points:
    state = solver.run(state, p - int(state.iteration))
    values.append(evaluate(game, solver, state, pot))
  return values


def run_games(args, results):
  for name in args.games:
    game, pot = load(name)
    cap = min(GAMES[name][1], args.max_iterations or GAMES[name][1])
    points = checkpoints(cap, pot is not None)
    for dtype in args.dtypes:
      for entry in args.entries:
        values = curve(game, entry, dtype, points, pot, cap)
        record = {'points': points, 'values': values, 'cap': cap}
        if ENTRIES[entry][1] == 'hs' and cap > 1000:  # as planned for 1,000 iterations
          record['at_1000_horizon_1000'] = curve(game, entry, dtype, [1000], pot, 1000)[0]
        results.setdefault(name, {}).setdefault(entry, {})[dtype] = record
        at = {p: v for p, v in zip(points, values)}
        print(f'{name:13} {entry:14} {dtype}: ' + ', '.join(
            f'{p}: {at[p]:.3g}' for p in (10, 100, 1000, 10_000) if p in at), flush=True)
        save(args.json, results)


def run_fidelity(args, results):
  """float32 against float64 at 1,000 and 10,000 iterations, unperturbed and
  on `args.seeds` games whose utilities are multiplied by 1 + eps N(0, 1)
  (eps = args.perturbation), in both dtypes: how far tiny perturbations move
  the result, i.e. what "float32 tracks float64" can mean."""
  fid = results.setdefault(f'_fidelity_{args.perturbation:g}', {})
  for name in args.games:
    game, _ = load(name)
    for entry in args.entries:
      if entry in fid.get(name, {}) and not args.rerun:
        continue
      row = {}
      runs = [('float32', 'float32', None), ('float64', 'float64', None)]
      for dtype in args.dtypes:
        runs += [(f'{dtype}_seed{s}', dtype, s) for s in range(args.seeds)]
      for label, dtype, seed in runs:
        solver = make(game, entry, dtype, horizon=10_000, perturb=seed, size=args.perturbation)
        state = solver.run(solver.init(), 1000)
        a = evaluate(game, solver, state, None)
        state = solver.run(state, 9000)
        row[label] = [a, evaluate(game, solver, state, None)]
      fid.setdefault(name, {})[entry] = row
      summary = []
      for dtype in args.dtypes:
        v = np.array([x for k, x in row.items() if k.startswith(dtype + '_seed')])
        summary.append(f'{dtype[5:]}: {np.median(v[:, 0]):.3g} [{v[:, 0].min():.3g}..'
                       f'{v[:, 0].max():.3g}], {np.median(v[:, 1]):.3g} [{v[:, 1].min():.3g}..'
                       f'{v[:, 1].max():.3g}]')
      print(f'{name:6} {entry:14} f32 {row["float32"][0]:.3g} {row["float32"][1]:.3g}  '
            f'f64 {row["float64"][0]:.3g} {row["float64"][1]:.3g}  perturbed ' +
            '; '.join(summary), flush=True)
      save(args.json, results)


def save(path, results):
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(results, f, indent=1, sort_keys=True)
  os.replace(tmp, path)


# ----------------------------------------------------------------------------
# Report.


def _fmt(v):
  return '-' if v is None else '0' if v == 0 else f'{v:.3g}'


def value_at(record, point, planned=False):
  if record is None:
    return None
  if planned and point == 1000 and 'at_1000_horizon_1000' in record:
    return record['at_1000_horizon_1000']
  at = dict(zip(record['points'], record['values']))
  return at.get(point)


def reached(record, target):
  for p, v in zip(record['points'], record['values']):
    if v <= target:
      return p
  return None


def ranks(results, point, dtype='float32'):
  """{game: {entry: rank}} at `point` (planned horizons), 1 = best; values
  under FLOOR x the game's scale tie."""
  out = {}
  for name, entries in results.items():
    if name.startswith('_'):
      continue
    vals = {}
    for e, recs in entries.items():
      rec = recs.get(dtype)
      p = min(point, rec['cap']) if rec else None
      v = value_at(rec, p, planned=True) if rec else None
      if v is not None:
        vals[e] = v
    if not vals:
      continue
    scale = max(rec[dtype]['values'][0] for rec in entries.values() if dtype in rec)
    key = {e: max(v, FLOOR * scale) for e, v in vals.items()}
    out[name] = {e: 1 + sum(key[o] < key[e] for o in key) for e in key}
  return out


def report(results, plot_dir):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  os.makedirs(plot_dir, exist_ok=True)
  lines = []
  for name, (spec, _, poker) in GAMES.items():
    entries = results.get(name)
    if not entries:
      continue
    holdem = spec.startswith('config:')
    unit = '% of the pot' if holdem else 'chips'
    any_rec = next(iter(next(iter(entries.values())).values()))
    cap = any_rec['cap']
    cols = [p for p in (10, 100, 1000, 10_000) if p <= cap]
    if cap not in cols:
      cols.append(cap)
    dtypes = sorted({d for recs in entries.values() for d in recs})
    lines.append(f'### {name}: `{spec}` ({unit}; iterations capped at {cap:,})\n')
    head = ['entry'] + [f'{d[5:]}-bit @ {p:,}' for d in dtypes for p in cols]
    if cap > 1000:
      head.append('32-bit @ 1,000, HS horizon 1,000')
    if holdem:
      head += [f'32-bit: iterations to {t}%' for t in POT_TARGETS]
    lines.append('| ' + ' | '.join(head) + ' |')
    lines.append('|' + '---|' * len(head))
    for entry in ENTRIES:
      recs = entries.get(entry)
      if not recs:
        continue
      cells = [entry] + [_fmt(value_at(recs.get(d), p)) for d in dtypes for p in cols]
      if cap > 1000:
        cells.append(_fmt(recs.get('float32', {}).get('at_1000_horizon_1000')))
      if holdem:
        cells += [str(reached(recs['float32'], t) or f'> {cap}') for t in POT_TARGETS]
      lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append(f'\n![{name}](convergence/{name}.png)\n')
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (entry, recs) in enumerate(entries.items()):
      for d, rec in recs.items():
        pts = [(p, v) for p, v in zip(rec['points'], rec['values']) if v > 0]
        if pts:
          ax.loglog(*zip(*pts), linestyle='-' if d == 'float32' else ':',
                    color=f'C{k % 10}', marker='.' if k >= 10 else None,
                    label=f'{entry}' if d == 'float32' else None)
    ax.set_xlabel('iterations')
    ax.set_ylabel(f'exploitability ({unit})')
    ax.set_title(f'{name} (solid: float32, dotted: float64)')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(plot_dir, f'{name}.png'), dpi=90)
    plt.close(fig)

  # Ranking: worst-case rank over poker games first, then over all games.
  lines.append('### Ranking (float32; rank 1 = lowest exploitability)\n')
  lines.append('Values under 1e-7 x the exploitability after one iteration (float32\'s '
               'resolution) tie. "-": not run on that game (the turn ran a subset).\n')
  for point in (1000, 10_000):
    r = ranks(results, point)
    games = [g for g in GAMES if g in r]
    lines.append(f'At {point:,} iterations (or the game\'s cap; HS with horizon = that '
                 'count):\n')
    head = ['entry'] + games + ['worst, poker', 'worst, poker but Kuhn', 'worst, all']
    lines.append('| ' + ' | '.join(head) + ' |')
    lines.append('|' + '---|' * len(head))
    rows = []
    for entry in ENTRIES:
      cells = [r[g].get(entry) for g in games]
      if all(c is None for c in cells):
        continue
      poker = [c for g, c in zip(games, cells) if GAMES[g][2] and c is not None]
      no_kuhn = [c for g, c in zip(games, cells) if GAMES[g][2] and g != 'kuhn' and c is not None]
      every = [c for c in cells if c is not None]
      rows.append(((max(poker or [99]), max(no_kuhn or [99]), max(every)), entry, cells))
    for worst, entry, cells in sorted(rows):
      lines.append('| ' + ' | '.join([entry] + [str(c or '-') for c in cells]
                                      + [str(w) for w in worst]) + ' |')
    lines.append('')

  for key in sorted(k for k in results if k.startswith('_fidelity')):
    fid = results[key]
    eps = key[len('_fidelity_'):] or '1e-12'
    lines.append(f'### float32 against float64 (Kuhn, Leduc; perturbations {eps})\n')
    counts = sorted({sum(1 for k in r if 'seed' in k and k.startswith(d))
                     for e in fid.values() for r in e.values() for d in ('float32', 'float64', 's')}
                    - {0})
    lines.append(f'Unperturbed runs, then the same runs on {"-".join(map(str, counts))} games '
                 f'(per dtype) whose utilities are multiplied by 1 + {eps} N(0, 1), one seed '
                 'each: median [min..max]. "ratio": float32 / float64, unperturbed.\n')
    head = ['game', 'entry']
    groups = sorted({k.rsplit('seed', 1)[0] or 'float64_' for e in fid.values()
                     for r in e.values() for k in r if 'seed' in k})
    for point in ('1,000', '10,000'):
      head += [f'f32 @ {point}', f'f64 @ {point}', 'ratio']
      head += [f'perturbed {g[5:7]}-bit @ {point}' for g in groups]
    lines.append('| ' + ' | '.join(head) + ' |')
    lines.append('|' + '---|' * len(head))
    for name, entries in fid.items():
      for entry, row in entries.items():
        cells = [name, entry]
        for i in (0, 1):
          a, b = row['float32'][i], row['float64'][i]
          ratio = a / b if b > 0 else float('inf') if a > 0 else 1.0
          cells += [_fmt(a), _fmt(b), f'{ratio:.2f}' if math.isfinite(ratio) else 'inf']
          for g in groups:
            v = np.array([x[i] for k, x in row.items() if 'seed' in k
                          and (k.rsplit('seed', 1)[0] or 'float64_') == g])
            cells.append(f'{_fmt(np.median(v))} [{_fmt(v.min())}..{_fmt(v.max())}]'
                         if len(v) else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--games', default='kuhn,leduc')
  parser.add_argument('--entries', default=','.join(ENTRIES))
  parser.add_argument('--dtypes', default='float32,float64')
  parser.add_argument('--max_iterations', type=int, default=0, help='lower every cap')
  parser.add_argument('--fidelity', action='store_true',
                      help='float32 vs float64 (and perturbed float64) on Kuhn and Leduc')
  parser.add_argument('--seeds', type=int, default=6, help='perturbed runs per dtype')
  parser.add_argument('--perturbation', type=float, default=1e-7,
                      help='relative size of the utilities\' perturbation (--fidelity)')
  parser.add_argument('--rerun', action='store_true',
                      help='--fidelity: redo entries already in the JSON')
  parser.add_argument('--report', action='store_true')
  parser.add_argument('--json', default=os.path.join(REPO, 'bench', 'convergence.json'))
  parser.add_argument('--plots', default=os.path.join(REPO, 'bench', 'convergence'))
  parser.add_argument('--out', default=None, help='write the report into this Markdown file')
  args = parser.parse_args()
  args.games = [g for g in args.games.split(',') if g] if not args.report else []
  if args.fidelity:
    args.games = [g for g in args.games if g in ('kuhn', 'leduc')]
  for g in args.games:  # (a KeyError traceback)
    if g not in GAMES:
      parser.error(f'unknown game {g}; choose from {", ".join(GAMES)}')
  args.entries = args.entries.split(',')
  args.dtypes = args.dtypes.split(',')
  for e in args.entries:
    if e not in ENTRIES:
      parser.error(f'unknown entry {e}; choose from {", ".join(ENTRIES)}')
  results = {}
  if os.path.exists(args.json):
    with open(args.json) as f:
      results = json.load(f)
  if args.fidelity:
    run_fidelity(args, results)
  elif not args.report:
    run_games(args, results)
  if args.report:
    import speed  # pylint: disable=g-import-not-at-top
    info = speed.machine()
    body = (f"Machine: {info['cpu']}, {info['cores']} cores; JAX {info['jax']} on "
            f"{info['device']}; report written {info['date']}. Commands: see the text above.\n\n"
            + report(results, args.plots))
    print(body)
    if args.out:
      speed.write_section(args.out, 'convergence', body)


if __name__ == '__main__':
  main()
