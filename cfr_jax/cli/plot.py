"""Exploitability against iterations and against time, log scales, for one or more runs.

    cfr-plot runs/leduc_dcfr runs/leduc_pcfr --out=compare.png   (or python -m launch.plot ...)

Reads each workdir's metrics.jsonl (instances' too); needs matplotlib
(pip install "cfr_jax[plot]").
"""
import json
import math
import os
import sys

from absl import flags
from absl import logging

from cfr_jax import cli


def read_curve(workdir: str, skipped=None, played=None):
  """[(iteration, elapsed seconds, exploitability)] from a run's metrics.jsonl.

  Lines that are not a JSON object with numbers where they belong (cut by a
  kill or a full disk, non-UTF-8 bytes, edited by hand) are skipped and
  counted in `skipped` (a list, one entry per line) when given. played: a
  list that gets an entry per head-to-head record (a generative-env run's
  'vs_uniform', measured by play where no exploitability is), when given.
  """
  points = {}
  with open(os.path.join(workdir, 'metrics.jsonl'), 'rb') as f:
    for number, raw in enumerate(f, 1):
      try:
        m = json.loads(raw.decode('utf-8'))
        it, value = m['iteration'], m.get('exploitability')
        if value is None:
          if played is not None and 'vs_uniform' in m:
            played.append(number)
          continue
        elapsed = m.get('elapsed_seconds')
        # Finite numbers: JSON's NaN and 1e400 (inf) parse, and one on a log
        # axis made matplotlib raise (a traceback) when nothing else was plotted.
        if not all(_finite(x) for x in (it, value)) or not (elapsed is None or
                                                             _finite(elapsed)):
          raise ValueError('not finite numbers')
      except (ValueError, KeyError, TypeError, AttributeError):  # UnicodeDecodeError too
        if skipped is not None:
          skipped.append(number)
        continue
      points[it] = (it, elapsed, value)
  return [points[k] for k in sorted(points)]


def _finite(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _runs(roots, missing):
  """The directories under `roots` holding a metrics.jsonl, each once (a run
  under two roots was two curves); roots with none are appended to `missing`."""
  seen = set()
  for root in roots:
    found = False
    for dirpath, dirnames, filenames in os.walk(root):
      dirnames[:] = sorted(d for d in dirnames if d not in ('checkpoints', 'tensorboard'))
      if 'metrics.jsonl' in filenames:
        found = True
        if cli.first_time(dirpath, seen):
          yield dirpath
    if not found:
      missing.append(root)


def _main(argv, out: str) -> int:
  logging.set_verbosity(logging.WARNING)
  roots = argv[1:]
  if not roots:
    print('error: give one or more run directories', file=sys.stderr)
    return 1
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    print('error: cfr-plot needs matplotlib: pip install "cfr_jax[plot]"', file=sys.stderr)
    return 1
  # The format comes from the file name: refuse one matplotlib cannot write
  # before reading any run (savefig would raise only at the end).
  fig, (by_it, by_time) = plt.subplots(1, 2, figsize=(11, 4.2))
  formats = fig.canvas.get_supported_filetypes()
  try:
    ext = cli.out_extension(out, formats, 'exploitability.png', 'an image file')
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  if not ext:  # matplotlib would write <out>.png: say so
    ext = matplotlib.rcParams['savefig.format']
    out = f'{out}.{ext}'
  if ext not in formats:
    print(f'error: --out={out}: cannot write .{ext} files; give one of '
          f'{", ".join("." + f for f in sorted(formats))}', file=sys.stderr)
    return 1
  for root in roots:  # 'cfr-plot runs/a a.png' wrote exploitability.png, noting a.png held no run
    if not os.path.exists(root) and os.path.splitext(root)[1][1:].lower() in formats:
      print(f'error: {root} does not exist: to name the image, give --out={root}',
            file=sys.stderr)
      return 1
  # A generative-env run's results are no curve here, nor is an exactly solved
  # game's (exploitability 0: a log axis has no 0): say so, never leave a run
  # out of the figure in silence.
  by_play_why = ('measured by play (vs_uniform: its game does not compile), not by '
                 'exploitability: cfr-status shows its last result, metrics.jsonl every one')
  solved_why = 'its exploitability is 0 at every evaluation (solved exactly; a log axis has no 0)'
  absent = [r for r in roots if not os.path.lexists(r)]
  if len(absent) == len(roots):  # (was "no metrics.jsonl under runs/typo")
    print(f'error: {cli.absent(absent)}', file=sys.stderr)
    return 1
  plotted, missing, undrawn, read = 0, [], [], {}
  # An instance that failed before it ran has no metrics.jsonl: said, with why.
  failed = cli.failed_instances(roots)
  undrawn += [(d, f'it failed before it ran: {why} (its log.txt)') for d, why in failed]
  for run in _runs(roots, missing):
    skipped, played = [], []
    try:
      # What a log axis shows: an iteration 0 or an exploitability of 0 alone
      # made matplotlib raise.
      points = read_curve(run, skipped, played)
      curve = [p for p in points if p[0] > 0 and p[2] > 0]
    except OSError as e:
      print(f'error: cannot read {os.path.join(run, "metrics.jsonl")}: {e.strerror or e}',
            file=sys.stderr)
      return 1
    if skipped:
      print(f'note: skipped {len(skipped)} unreadable line(s) of '
            f'{os.path.join(run, "metrics.jsonl")} (first: line {skipped[0]})')
    if not curve:
      if played:
        undrawn.append((run, by_play_why))
      elif any(p[0] > 0 for p in points):  # evaluated after iteration 0: every value was 0
        undrawn.append((run, solved_why))
      continue
    # Drawable text: a directory name that is not UTF-8 (its bytes escaped
    # by Python) made the legend's font raise a traceback.
    label = os.fsencode(os.path.relpath(run)).decode('utf-8', 'replace')
    if setting := cli.instance_label(run, read):  # 'sweep/instance_1 algorithm=dcfr'
      label = f'{label} {setting}'
    by_it.plot([p[0] for p in curve], [p[2] for p in curve], marker='.', label=label)
    timed = [p for p in curve if p[1] is not None and p[1] > 0]
    by_time.plot([p[1] for p in timed], [p[2] for p in timed], marker='.', label=label)
    plotted += 1
  if not plotted:
    why = ''.join(f'; {run}: {reason}' for run, reason in undrawn)
    print(f'error: no exploitability metrics under {" ".join(roots)}{why}', file=sys.stderr)
    return 1
  for run, reason in undrawn:
    print(f'note: {run} is not drawn: {reason}', file=sys.stderr)
  for root in missing:  # a mistyped path among several is said, not left out in silence
    if root in absent:
      print(f'note: {cli.absent([root])}', file=sys.stderr)
    elif not any(d.startswith(root) for d, _ in failed):
      print(f'note: no metrics.jsonl under {cli.path_typo(root) or root}', file=sys.stderr)
  for ax, xlabel in ((by_it, 'iterations'), (by_time, 'seconds (cumulative)')):
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel(xlabel)
    ax.set_ylabel('exploitability (chips)')
    ax.grid(True, which='both', alpha=0.3)
  by_it.legend(fontsize=8)
  fig.tight_layout()
  try:
    fig.savefig(out, dpi=120)
  except OSError as e:
    print(f'error: cannot write {out}: {e.strerror or e}', file=sys.stderr)
    return 1
  except (RuntimeError, ValueError, ImportError) as e:  # a format needing what is missing:
    # .pgf without LaTeX was a traceback ("'xelatex' not found; install it ...")
    why = (str(e).strip().splitlines() or [type(e).__name__])[0]
    print(f'error: cannot write {out}: {why}', file=sys.stderr)
    return 1
  print(f'wrote {out} ({plotted} run(s))')
  return 0


def main() -> None:
  """The `cfr-plot` console script."""
  out = flags.DEFINE_string('out', 'exploitability.png', 'Image file to write; its '
                            'extension picks the format (.png, .svg, .pdf, ...).')
  cli.run(lambda argv: _main(argv, out.value))


if __name__ == '__main__':
  main()
