"""Speed of cfr_jax against OpenSpiel's CFR solvers, measured in the same run.

    python bench/speed.py                       # full run (~5-10 min on 2 CPU cores)
    python bench/speed.py --quick               # smoke run (< 2 min)
    python bench/speed.py --out=bench/RESULTS.md
    python bench/speed.py --sections=sizes \\
        --sizes='leduc(ranks=13),leduc(ranks=14,suits=4)'   # bigger games, e.g. on a GPU

Sections:
  throughput  iterations/s on Kuhn and Leduc for each of our algorithms (float32)
              and for OpenSpiel's C++ CFR+ / CFR, OpenSpiel's JAX CFR (CFR+) and,
              on Kuhn, OpenSpiel's Python CFR+, with ratios ours / peer.
  f64         the same for our algorithms in float64 (a subprocess: x64 is global).
  sizes       one fresh subprocess per game: build time, compile time, iterations/s,
              history-updates/s and peak memory per history.

Timing: each solver is warmed up first (its compile is reported separately),
then the iteration count is calibrated so that one measurement lasts at least
`--min_time` seconds, and the median of `--repeats` measurements is reported.
Every measurement blocks on the solver's result arrays. Our solver restarts
from a fresh state for every measurement (no recompilation: `n` is traced).
"""
from __future__ import annotations

import datetime
import functools
import gc
import json
import math
import os
import platform
import re
import statistics
import shlex
import subprocess
import sys
import time
from typing import Callable

from absl import app
from absl import flags
from absl import logging

ALGORITHMS = ('cfr', 'cfr+', 'linear_cfr', 'dcfr', 'pcfr+', 'pdcfr+')
DEFAULT_SIZES = ('leduc', 'leduc(ranks=5)', 'leduc(ranks=8)', 'leduc(ranks=13)',
                 'openspiel:liars_dice')
QUICK_SIZES = ('leduc', 'leduc(ranks=5)')
# Added to the default series on an accelerator: 9,984,833 histories at
# ranks=13, suits=4, so one rank more is the smallest Leduc past 10M.
ACCELERATOR_SIZES = ('leduc(ranks=13,suits=4)', 'leduc(ranks=14,suits=4)')
OPENSPIEL_NAMES = {'kuhn': 'kuhn_poker', 'leduc': 'leduc_poker'}
_JSON_TAG = '@@speed.py@@ '

_QUICK = flags.DEFINE_bool('quick', False, 'Smoke run: short timings, small size series.')
_OUT = flags.DEFINE_string('out', None, 'Markdown file whose section (see --label) is '
                           'replaced, or appended if absent.')
_LABEL = flags.DEFINE_string('label', None, 'Section label in --out; default: the JAX '
                             'backend and mode, e.g. "cpu, full".')
_SECTIONS = flags.DEFINE_list('sections', ['throughput', 'f64', 'sizes'],
                              'Which parts to run: throughput, f64, sizes.')
_GAMES = flags.DEFINE_string('games', 'kuhn,leduc', 'Games of the throughput sections '
                             '(comma-separated; commas inside parentheses stay).')
_ALGORITHMS = flags.DEFINE_list('algorithms', list(ALGORITHMS), 'Our algorithms to time.')
_F64_ALGORITHMS = flags.DEFINE_list('f64_algorithms', None, 'Algorithms timed in float64; '
                                    'default: all of --algorithms (dcfr with --quick).')
_PEERS = flags.DEFINE_bool('peers', True, 'Time OpenSpiel solvers (when installed).')
_SIZES = flags.DEFINE_string('sizes', None, 'Games of the size series, e.g. '
                             '"leduc(ranks=13),leduc(ranks=13,suits=4)"; default: '
                             + ','.join(DEFAULT_SIZES) + ' (with --quick: '
                             + ','.join(QUICK_SIZES) + '), plus '
                             + ','.join(ACCELERATOR_SIZES) + ' off CPU.')
_SIZE_ALGORITHM = flags.DEFINE_string('size_algorithm', 'dcfr', 'Algorithm of the size series.')
_SIZE_DTYPE = flags.DEFINE_enum('size_dtype', 'float32', ['float32', 'float64'],
                                'Precision of the size series.')
_MIN_TIME = flags.DEFINE_float('min_time', None, 'Seconds per measurement; default 1.0 '
                               '(0.2 with --quick).')
_REPEATS = flags.DEFINE_integer('repeats', None, 'Measurements per timing (median); '
                                'default 5 (3 with --quick).', lower_bound=1)
_SUBPROCESS_TIMEOUT = flags.DEFINE_integer('subprocess_timeout', 1800,
                                           'Seconds allowed to each subprocess.')
# Internal: run one part in this (fresh) process and print its result as JSON.
_WORKER = flags.DEFINE_enum('worker', None, ['throughput', 'size'], 'Internal.')
_WORKER_DTYPE = flags.DEFINE_enum('worker_dtype', 'float32', ['float32', 'float64'],
                                  'Internal.')


# ----------------------------------------------------------------------------
# Measuring.


def split_specs(text: str | None) -> list[str]:
  """Splits game specs on the commas outside parentheses."""
  specs, depth, current = [], 0, ''
  for ch in text or '':
    depth += {'(': 1, ')': -1}.get(ch, 0)
    if ch == ',' and depth == 0:
      specs.append(current)
      current = ''
    else:
      current += ch
  return [s.strip() for s in specs + [current] if s.strip()]


def _time_run(solver, n):
  """Seconds for n iterations from a fresh state (compiled already)."""
  import jax  # pylint: disable=g-import-not-at-top
  state = solver.init()
  jax.block_until_ready(state)
  start = time.perf_counter()
  state = solver.run(state, n)
  jax.block_until_ready(state)
  return time.perf_counter() - start


def measure(run: Callable[[int], float], min_time: float, repeats: int) -> dict:
  """Median iterations/s of `run(n)`, which does n iterations and returns seconds.

  The iteration count is grown until one call lasts about `min_time` seconds.
  """
  n, seconds = 1, run(1)
  while seconds < min_time / 4 and n < 2**30:
    n *= int(min(64, max(2, min_time / 4 / max(seconds, 1e-6))))
    seconds = run(n)
  n = max(1, math.ceil(n * min_time / max(seconds, 1e-9)))
  rates = sorted(n / run(n) for _ in range(repeats))
  median = statistics.median(rates)
  load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
  return {'its': median, 'n': n, 'repeats': repeats,
          'spread': (rates[-1] - rates[0]) / median, 'load': load}


def _timed(fn: Callable[[], object]) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def bench_ours(spec: str, algorithm: str, dtype: str, min_time: float,
               repeats: int) -> dict:
  """Build, compile and throughput of one of our solvers on one game."""
  import jax  # pylint: disable=g-import-not-at-top
  import cfr_jax  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  game = cfr_jax.load_game(spec)
  build = time.perf_counter() - start
  solver = cfr_jax.make_solver(game, algorithm=algorithm, dtype=dtype)
  compile_s = _timed(lambda: jax.block_until_ready(solver.run(solver.init(), 1)))

  result = measure(functools.partial(_time_run, solver), min_time, repeats)
  result.update(solver=f'cfr_jax {algorithm}', game=spec, dtype=dtype, build_s=build,
                compile_s=compile_s, histories=game.num_nodes,
                infosets=game.num_infosets)
  return result


def bench_peers(spec: str, min_time: float, repeats: int) -> list[dict]:
  """OpenSpiel's solvers on one game (those that are installed)."""
  name = OPENSPIEL_NAMES.get(spec)
  if name is None:
    return []
  try:
    import pyspiel  # pylint: disable=g-import-not-at-top
  except ImportError:
    print('OpenSpiel is not installed: peers skipped.')
    return []
  game = pyspiel.load_game(name)
  results = []

  def add(label, make, step, block, dtype, compiles):
    start = time.perf_counter()
    solver = make()
    build = time.perf_counter() - start
    warm = _timed(lambda: (step(solver, 1), block(solver)))

    def run(n):
      start = time.perf_counter()
      step(solver, n)
      block(solver)
      return time.perf_counter() - start

    result = measure(run, min_time, repeats)
    result.update(solver=label, game=spec, dtype=dtype, build_s=build,
                  compile_s=warm if compiles else None)
    results.append(result)

  def loop(solver, n):
    for _ in range(n):
      solver.evaluate_and_update_policy()

  nothing = lambda solver: None
  add('OpenSpiel C++ CFR+', lambda: pyspiel.CFRPlusSolver(game), loop, nothing, 'float64',
      False)
  add('OpenSpiel C++ CFR', lambda: pyspiel.CFRSolver(game), loop, nothing, 'float64', False)
  try:
    import jax  # pylint: disable=g-import-not-at-top
    from open_spiel.python.jax.cfr import jax_cfr  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    print(f'OpenSpiel JAX CFR unavailable ({e}): skipped.')
  else:
    # JaxCFR(game) builds its arrays; the first step compiles `jit_step` (the
    # player and averaging weight are traced, so later steps reuse it). Its
    # `multiple_steps` dispatches two jitted calls per iteration from Python.
    add('OpenSpiel JAX CFR+', lambda: jax_cfr.JaxCFR(game),
        lambda s, n: s.multiple_steps(n),
        lambda s: jax.block_until_ready((s.regrets, s.averages)),
        'float64' if jax.config.jax_enable_x64 else 'float32', True)
  if spec == 'kuhn':
    from open_spiel.python.algorithms import cfr as py_cfr  # pylint: disable=g-import-not-at-top
    add('OpenSpiel Python CFR+', lambda: py_cfr.CFRPlusSolver(game), loop, nothing,
        'float64', False)
  for r in results:
    r.update(histories=None, infosets=None)
  return results


def _vm_kib(field: str) -> int | None:
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith(field + ':'):
          return int(line.split()[1])
  except OSError:
    pass
  return None


def _reset_peak_rss() -> bool:
  """Resets VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False


def bench_size(spec: str, algorithm: str, dtype: str, min_time: float,
               repeats: int) -> dict:
  """Build, compile, throughput and peak memory of one game (a fresh process)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import cfr_jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  jnp.zeros(()).block_until_ready()  # backend up before the baseline
  gc.collect()
  base_kib = _vm_kib('VmRSS')
  _reset_peak_rss()
  start = time.perf_counter()
  game = cfr_jax.load_game(spec)
  build = time.perf_counter() - start
  build_peak_kib = _vm_kib('VmHWM')
  gc.collect()
  _reset_peak_rss()
  solver = cfr_jax.make_solver(game, algorithm=algorithm, dtype=dtype)
  compile_s = _timed(lambda: jax.block_until_ready(solver.run(solver.init(), 1)))
  compile_peak_kib = _vm_kib('VmHWM')
  gc.collect()
  reset = _reset_peak_rss()

  result = measure(functools.partial(_time_run, solver), min_time, repeats)
  solve_peak_kib = _vm_kib('VmHWM')
  try:
    stats = device.memory_stats()
  except Exception:  # pylint: disable=broad-except
    stats = None
  if stats and 'peak_bytes_in_use' in stats:
    result['device_peak_bytes'] = stats['peak_bytes_in_use']
  itemsize = jnp.dtype(dtype).itemsize

  def nbytes(tree):  # as stored on the device, floats in `dtype`
    return sum(x.size * (itemsize if jnp.issubdtype(x.dtype, jnp.floating)
                         else jnp.dtype(x.dtype).itemsize)
               for x in jax.tree.leaves(tree) if hasattr(x, 'dtype'))

  delta = lambda kib: (None if base_kib is None or kib is None
                       else (kib - base_kib) * 1024)
  result.update(
      solver=f'cfr_jax {algorithm}', game=spec, dtype=dtype, build_s=build,
      compile_s=compile_s, histories=game.num_nodes, infosets=game.num_infosets,
      actions=game.num_actions,
      array_bytes=nbytes(game) + nbytes(solver.abstract_state()),
      build_peak_bytes=delta(build_peak_kib), compile_peak_bytes=delta(compile_peak_kib),
      solve_peak_bytes=delta(solve_peak_kib) if reset else None)
  return result


def _run_worker(extra_flags: list[str]) -> list[dict]:
  """Runs this script with `extra_flags` in a fresh process; its JSON results."""
  cmd = [sys.executable, os.path.abspath(__file__)] + extra_flags
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=_SUBPROCESS_TIMEOUT.value, check=False)
  except subprocess.TimeoutExpired:
    print(f'  subprocess timed out: {" ".join(extra_flags)}')
    return []
  results = [json.loads(line[len(_JSON_TAG):]) for line in proc.stdout.splitlines()
             if line.startswith(_JSON_TAG)]
  if proc.returncode != 0 or not results:
    tail = '\n    '.join(proc.stderr.strip().splitlines()[-8:])
    print(f'  subprocess failed (exit {proc.returncode}): {" ".join(extra_flags)}\n    {tail}')
  return results


# ----------------------------------------------------------------------------
# Reporting.


def machine() -> dict:
  """CPU, memory, Python/JAX/OpenSpiel versions and the JAX device."""
  import jax  # pylint: disable=g-import-not-at-top
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      names = re.findall(r'^model name\s*:\s*(.*)$', f.read(), re.M)
    cpu = names[0].strip() if names else cpu
  except OSError:
    pass
  mem = None
  try:
    with open('/proc/meminfo') as f:
      mem = int(re.search(r'MemTotal:\s*(\d+)', f.read()).group(1)) * 1024
  except (OSError, AttributeError):
    pass
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    openspiel = metadata.version('open_spiel')
  except Exception:  # pylint: disable=broad-except
    openspiel = None
  device = jax.devices()[0]
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return {
      'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
      'cpu': cpu, 'cores': cores, 'memory_gib': mem and mem / 2**30,
      'python': platform.python_version(), 'jax': jax.__version__,
      'backend': jax.default_backend(), 'device': f'{device.platform}: {device.device_kind}',
      'devices': jax.device_count(), 'openspiel': openspiel,
      'load': os.getloadavg() if hasattr(os, 'getloadavg') else None,
  }


def _fmt(x, digits=3) -> str:
  """A number with `digits` significant digits, thousands separated."""
  if x is None:
    return '-'
  if isinstance(x, int) or (abs(x) >= 10**(digits - 1)):
    return f'{round(x):,}'
  return f'{x:.{digits}g}'


def _table(header: list[str], rows: list[list[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' if i == 0 else '---:' for i in range(len(header))) + '|']
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines)


def throughput_table(spec: str, results: list[dict]) -> str:
  """One game's solvers: compile, it/s, ms/it, ratios ours / peers."""
  rows_here = [r for r in results if r['game'] == spec]
  peers = {r['solver']: r['its'] for r in rows_here if not r['solver'].startswith('cfr_jax')}
  ref = [p for p in ('OpenSpiel C++ CFR+', 'OpenSpiel C++ CFR', 'OpenSpiel JAX CFR+')
         if p in peers]
  histories = next((r['histories'] for r in rows_here if r.get('histories')), None)
  header = (['solver', 'dtype', 'compile s', 'it/s', 'ms/it', 'spread', 'hist-upd/s']
            + [f'÷ {p.replace("OpenSpiel ", "OS ")}' for p in ref])
  rows = []
  for r in rows_here:
    ours = r['solver'].startswith('cfr_jax')
    rows.append([
        r['solver'], r['dtype'], _fmt(r.get('compile_s')), _fmt(r['its']),
        _fmt(1e3 / r['its']), f'{100 * r["spread"]:.0f}%',
        f'{histories * r["its"]:.2e}' if histories else '-'
    ] + [f'{r["its"] / peers[p]:.2f}×' if ours else '' for p in ref])
  return (f'**{spec}** ({_fmt(histories) if histories else "?"} histories)\n\n'
          + _table(header, rows))


def sizes_table(results: list[dict]) -> str:
  """The size series."""
  header = ['game', 'histories', 'infosets', 'actions', 'build s', 'compile s', 'it/s',
            'ms/it', 'hist-upd/s', 'arrays B/hist', 'solve RSS MB', 'solve RSS B/hist',
            'build RSS MB', 'compile RSS MB']
  device = any('device_peak_bytes' in r for r in results)
  if device:
    header.append('device peak B/hist')
  rows = []
  for r in results:
    h = r['histories']
    per = lambda key: _fmt(r[key] / h) if r.get(key) is not None else '-'
    mib = lambda key: _fmt(r[key] / 2**20) if r.get(key) is not None else '-'
    row = [f'`{r["game"]}`', _fmt(h), _fmt(r['infosets']), str(r['actions']),
           _fmt(r['build_s']), _fmt(r['compile_s']), _fmt(r['its']), _fmt(1e3 / r['its']),
           f'{h * r["its"]:.2e}', per('array_bytes'), mib('solve_peak_bytes'),
           per('solve_peak_bytes'),
           mib('build_peak_bytes'), mib('compile_peak_bytes')]
    if device:
      row.append(per('device_peak_bytes'))
    rows.append(row)
  text = _table(header, rows)
  ranked = sorted((r for r in results if r.get('solve_peak_bytes') is not None),
                  key=lambda r: r['histories'])
  leduc = [r for r in ranked if r['game'].startswith('leduc')]
  ranked = leduc if len(leduc) >= 2 else ranked  # one family: same tree shape
  if len(ranked) >= 2 and ranked[-1]['histories'] > ranked[-2]['histories']:
    a, b = ranked[-2], ranked[-1]
    slope = ((b['solve_peak_bytes'] - a['solve_peak_bytes'])
             / (b['histories'] - a['histories']))
    text += (f'\n\nMarginal solve RSS between `{a["game"]}` and `{b["game"]}`: '
             f'{_fmt(slope)} B/history.')
  return text


def targets_table(results: list[dict], sizes: list[dict], backend: str) -> str:
  """The project's speed targets against what this run measured (not asserted)."""
  leduc = {r['solver']: r['its'] for r in results
           if r['game'] == 'leduc' and r['dtype'] == 'float32'}
  ours = {k[len('cfr_jax '):]: v for k, v in leduc.items() if k.startswith('cfr_jax')}
  rows = []
  if ours:
    lo, hi = min(ours, key=ours.get), max(ours, key=ours.get)
    verdict = ('met by all' if ours[lo] >= 1e4 else
               'met by some' if ours[hi] >= 1e4 else 'not met')
    rows.append(['Leduc ≥ 10,000 it/s, float32, this machine',
                 f'{_fmt(ours[lo])} ({lo}) … {_fmt(ours[hi])} ({hi})', verdict])
    peer = leduc.get('OpenSpiel JAX CFR+')
    if peer:
      like = ours.get('cfr+')
      worst = ours[lo] / peer
      text = (f'cfr+ {like / peer:.1f}×; ' if like else '') + f'worst ({lo}) {worst:.1f}×'
      rows.append(['≥ 10× OpenSpiel JAX CFR per iteration (Leduc, same run)', text,
                   'met' if worst >= 10 else ('met by cfr+' if like and like / peer >= 10
                                              else 'not met')])
  big = [s for s in sizes if s['histories'] >= 1e7]
  if big:
    best = max(big, key=lambda s: s['histories'] * s['its'])
    rate = best['histories'] * best['its']
    rows.append(['GPU: ≥ 1e9 history-updates/s on ≥ 10M histories',
                 f'{rate:.2e} on `{best["game"]}` ({backend})',
                 ('met' if rate >= 1e9 else 'not met') if backend == 'gpu'
                 else 'not a GPU run'])
  else:
    best = max(sizes, key=lambda s: s['histories'], default=None)
    rows.append(['GPU: ≥ 1e9 history-updates/s on ≥ 10M histories',
                 f'largest game measured: {_fmt(best["histories"])} histories, '
                 f'{best["histories"] * best["its"]:.2e}/s ({backend})' if best else '-',
                 'not measured (needs a ≥ 10M-history game' +
                 ('' if backend == 'gpu' else ' on a GPU') + ')'])
  return _table(['target', 'measured', 'verdict'], rows)


def report(info: dict, command: str, mode: str, results: list[dict], sizes: list[dict],
           settings: str) -> str:
  """The Markdown report of one run."""
  load = info['load']
  parts = [
      f'- date: {info["date"]}',
      f'- command: `{command}` ({mode}; {settings})',
      f'- CPU: {info["cpu"]}, {info["cores"]} cores available'
      + (f', {info["memory_gib"]:.0f} GiB RAM' if info['memory_gib'] else ''),
      f'- JAX {info["jax"]}, backend {info["backend"]}, device {info["device"]}'
      f' (×{info["devices"]}); Python {info["python"]}; OpenSpiel {info["openspiel"] or "-"}',
  ]
  if load:
    parts.append(f'- load average at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}'
                 + (f'; at end: {info["load_end"][0]:.2f}' if info.get('load_end') else ''))
  text = '\n'.join(parts) + '\n'
  games = list(dict.fromkeys(r['game'] for r in results))
  if games:
    text += ('\n### Iterations/s (alternating updates; ratios = ours ÷ peer, same run)\n\n'
             + '\n\n'.join(throughput_table(g, results) for g in games) + '\n')
  if sizes:
    algo = sizes[0]['solver'].replace('cfr_jax ', '')
    text += (f'\n### Size series ({algo}, {sizes[0]["dtype"]}, one fresh process per game)\n\n'
             + sizes_table(sizes) + '\n\n'
             'arrays = game arrays + solver state as stored on the device (exact); '
             'solve RSS = peak resident memory while iterating, over the pre-build '
             'baseline (peak reset after compiling), so it includes the host copy of '
             "the game, the compiled program, XLA's buffers and allocator slack; build / "
             'compile RSS = peaks of the game compiler and of XLA over the same '
             'baseline.' + (' device peak = `memory_stats()["peak_bytes_in_use"]`.'
                           if any('device_peak_bytes' in r for r in sizes) else '')
             + '\n')
  text += '\n### Targets (reported, not asserted)\n\n' + targets_table(
      results, sizes, info['backend']) + '\n'
  return text


def write_section(path: str, label: str, body: str) -> None:
  """Replaces the `label` section of `path` (or appends it)."""
  begin, end = f'<!-- speed.py begin: {label} -->', f'<!-- speed.py end: {label} -->'
  section = f'{begin}\n## Run: {label}\n\n{body}{end}\n'
  old = ''
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
  pattern = re.compile(re.escape(begin) + r'.*?' + re.escape(end) + r'\n?', re.S)
  if pattern.search(old):
    new = pattern.sub(lambda _: section, old)
  else:
    new = (old.rstrip('\n') + '\n\n' if old.strip() else '') + section
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(new)
  os.replace(tmp, path)


# ----------------------------------------------------------------------------
# Main.


def _emit(result: dict) -> None:
  print(_JSON_TAG + json.dumps(result), flush=True)


def _progress(r: dict) -> None:
  extra = f', compile {r["compile_s"]:.2f} s' if r.get('compile_s') is not None else ''
  extra += f', load {r["load"]:.1f}' if r.get('load') is not None else ''
  print(f'  {r["game"]:<28} {r["solver"]:<24} {r["dtype"]:<8} {r["its"]:>12,.0f} it/s '
        f'(n={r["n"]:,}, spread {100 * r["spread"]:.0f}%{extra})', flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)
  quick = _QUICK.value
  min_time = _MIN_TIME.value or (0.2 if quick else 1.0)
  repeats = _REPEATS.value or (3 if quick else 5)

  if _WORKER.value:
    if _WORKER_DTYPE.value == 'float64':
      import jax  # pylint: disable=g-import-not-at-top
      jax.config.update('jax_enable_x64', True)
    if _WORKER.value == 'size':
      for spec in split_specs(_SIZES.value):
        _emit(bench_size(spec, _SIZE_ALGORITHM.value, _WORKER_DTYPE.value, min_time,
                         repeats))
    else:
      for spec in split_specs(_GAMES.value):
        for algorithm in _ALGORITHMS.value:
          _emit(bench_ours(spec, algorithm, _WORKER_DTYPE.value, min_time, repeats))
    return 0

  unknown = set(_SECTIONS.value) - {'throughput', 'f64', 'sizes'}
  if unknown:
    raise app.UsageError(f'unknown sections {sorted(unknown)}')
  command = 'python bench/speed.py ' + shlex.join(sys.argv[1:])
  info = machine()
  print('# cfr_jax speed benchmark\n')
  for key in ('date', 'cpu', 'cores', 'memory_gib', 'python', 'jax', 'backend', 'device',
              'devices', 'openspiel', 'load'):
    value = info[key]
    if key == 'memory_gib' and value:
      value = f'{value:.1f}'
    print(f'{key:>10}: {value}')
  print(f'{"timing":>10}: median of {repeats} x >= {min_time:g} s, compile excluded\n',
        flush=True)

  common = [f'--min_time={min_time}', f'--repeats={repeats}']
  results, sizes = [], []
  start = time.perf_counter()
  if 'throughput' in _SECTIONS.value:
    print('throughput, float32 (this process):')
    for spec in split_specs(_GAMES.value):
      for algorithm in _ALGORITHMS.value:
        results.append(bench_ours(spec, algorithm, 'float32', min_time, repeats))
        _progress(results[-1])
      if _PEERS.value:
        for r in bench_peers(spec, min_time, repeats):
          results.append(r)
          _progress(r)
  if 'f64' in _SECTIONS.value:
    algorithms = _F64_ALGORITHMS.value or (['dcfr'] if quick else _ALGORITHMS.value)
    print('throughput, float64 (subprocess with jax_enable_x64):', flush=True)
    for r in _run_worker(['--worker=throughput', '--worker_dtype=float64',
                          f'--games={_GAMES.value}',
                          '--algorithms=' + ','.join(algorithms)] + common):
      results.append(r)
      _progress(r)
  if 'sizes' in _SECTIONS.value:
    specs = split_specs(_SIZES.value)
    if not specs:
      specs = list(QUICK_SIZES if quick else DEFAULT_SIZES)
      if info['backend'] != 'cpu' and not quick:
        specs += ACCELERATOR_SIZES
    print(f'size series ({_SIZE_ALGORITHM.value}, {_SIZE_DTYPE.value}, one subprocess '
          'per game):', flush=True)
    for spec in specs:
      for r in _run_worker(['--worker=size', f'--worker_dtype={_SIZE_DTYPE.value}',
                            f'--size_algorithm={_SIZE_ALGORITHM.value}',
                            '--sizes=' + spec] + common):
        sizes.append(r)
        _progress(r)
  # Sort our rows first, peers after, per game, as measured.
  order = {g: i for i, g in enumerate(split_specs(_GAMES.value))}
  results.sort(key=lambda r: (order.get(r['game'], 99), not r['solver'].startswith('cfr_jax'),
                              r['dtype'] if r['solver'].startswith('cfr_jax') else ''))
  info['load_end'] = os.getloadavg() if hasattr(os, 'getloadavg') else None
  mode = 'quick' if quick else 'full'
  settings = f'median of {repeats} × ≥ {min_time:g} s, wall {time.perf_counter() - start:.0f} s'
  text = report(info, command, mode, results, sizes, settings)
  print('\n' + text)
  if _OUT.value:
    label = _LABEL.value or f'{info["backend"]}, {mode}'
    write_section(_OUT.value, label, text)
    print(f'wrote section "{label}" of {_OUT.value}')
  return 0


if __name__ == '__main__':
  app.run(main)
