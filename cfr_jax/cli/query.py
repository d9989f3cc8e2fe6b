r"""Prints a trained hold'em subgame's strategy at one betting line.

    cfr-query runs/holdem_river --node=b10
    cfr-query runs/holdem_turn --node="kb10c/7h/" --summary
    cfr-query runs/holdem_flop --node=- --node=k --node="kb120c/Ad/" --summary
    cfr-query runs/holdem_flop --stdin --summary     # lines typed or piped in

(or `python -m launch.query ...` from the repository root.)

The line is the actions so far ('k' check, 'c' call, 'f' fold, 'b<chips>'
bet or raise by that many chips over the opponent's bet, 'a' all-in) and
'/<card>/' for each dealt card; '-' or '' is the root. Case and spaces do
not matter ('KB10C/7H/' is 'kb10c/7h/'). Every hand that
reaches the node is printed with its action probabilities and expected
value (chips won, net, from the subgame's start); --summary prints only
the range's action frequencies. --node may be given several times: the run
is loaded once (on the flop config that is most of a query's time) and
every line is checked before any is computed; one --node may also list
several, separated by commas. With --stdin, lines are read
from standard input, one per line, after any --node lines, and each is
answered as it arrives (a prompt where the input is a terminal; a mistyped
line prints its error and the next is read; 'q' or the end of the input
ends): load a solved flop once, then walk its tree. The Python API:
`training.load_run` and `Solver.node_report` (or
`cfr_jax.holdem.subgame.node_report` with a policy).
"""
from __future__ import annotations

import os
import re
import sys

from absl import flags
from absl import logging

from cfr_jax import cli
from cfr_jax import training  # its names load JAX when first used: --help does not
from cfr_jax.holdem import lines as lines_lib


def format_report(report: 'subgame.NodeReport', summary: bool) -> str:
  head = f"{'hand':<6} {'reach':>7}" + ''.join(f' {a:>8}' for a in report.actions) + '       EV'
  lines = [f'node {report.history!r}: player {report.player} to act, '
           f'{len(report.hands)} hands; EV {report.node_ev:+.3f} chips', head]
  rows = [] if summary else zip(report.hands, report.reach, report.probs, report.ev)
  for hand, reach, probs, ev in rows:
    lines.append(f'{hand:<6} {reach:7.4f}' + ''.join(f' {p:8.3f}' for p in probs)
                 + f' {ev:+8.3f}')
  lines.append(f"{'range':<6} {report.reach.sum():7.2f}"
               + ''.join(f' {p:8.3f}' for p in report.frequencies) + f' {report.node_ev:+8.3f}')
  return '\n'.join(lines)


def _lines(text: str) -> list:
  """The betting lines `text` names, in the tree's spelling: one, or several
  separated by commas (no line holds one: --node=b10,k said "no decision node
  at betting line 'b10,k'")."""
  return [lines_lib.canonical_line(t) for t in text.split(',')]


def _looks_like_a_line(word: str) -> bool:
  """Whether a stray argument reads as a betting line ('b10', 'kk/7h/'), not a path."""
  return not os.path.exists(word) and bool(re.fullmatch(
      r'-|[kcfab0-9.]+(/\w\w/[kcfab0-9.]*)*/?', lines_lib.canonical_line(word)))


def _prompted(stream):
  """The lines of `stream`, each asked for with a prompt where it is a terminal."""
  while True:
    if stream.isatty():
      print('line> ', end='', file=sys.stderr, flush=True)
    line = stream.readline()
    if not line:
      return
    yield line


def _main(argv, nodes, summary: bool, lines=None) -> int:
  """nodes: a betting line, or a list of them (reported in order); lines:
  further lines to answer as they are read (--stdin), or None."""
  logging.set_verbosity(logging.WARNING)
  if cli.one_workdir(argv, 'cfr-query <workdir> --node="<betting line>" [--node=...] '
                     '[--summary] [--stdin]', 'node', _looks_like_a_line) is None:
    return training.EXIT_USAGE
  # As the tree spells lines: --node=B10 or kb10c/7H/ named no node.
  nodes = [n for text in ([nodes] if isinstance(nodes, str) else nodes) for n in _lines(text)]
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  try:
    # Only the average is read: the regrets (half of a flop state's 0.9 GB)
    # are not loaded.
    solver, state = training.load_run(argv[1], compilation_cache=True,
                                      skip=training.AVERAGE_ONLY)
    if not isinstance(solver.game, subgame.Subgame):
      name = solver.describe()['game'] if solver.game is None else solver.game.name
      raise training.ConfigError(f'{argv[1]} is a {name} run; cfr-query '
                                 'reads hold\'em subgames (config.game=holdem)')
    for node in nodes:  # a mistyped line fails now, not after the others' passes
      subgame.locate(solver.game, node)
    print(f'{solver.game.name}, iteration {int(state.iteration)}')
    for k, node in enumerate(nodes):
      print(('\n' if k else '') + format_report(solver.node_report(state, node), summary),
            flush=True)
  except (training.ConfigError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return training.EXIT_USAGE
  try:
    for line in lines or ():
      line = line.strip()
      if line.lower() in ('q', 'quit', 'exit'):
        break
      if not line:  # (the root is '-')
        continue
      for node in _lines(line):
        try:
          print('\n' + format_report(solver.node_report(state, node), summary), flush=True)
        except ValueError as e:  # a mistyped line: say so, read the next
          print(f'error: {e}', file=sys.stderr, flush=True)
  except KeyboardInterrupt:  # Ctrl-C at the prompt ends the session
    print(file=sys.stderr)
  return 0


def main() -> None:
  """The `cfr-query` console script."""
  node = flags.DEFINE_multi_string('node', ['-'], 'Betting line of a decision node '
                                   '(repeat the flag, or separate lines by commas, for several; '
                                   'any case).')
  summary = flags.DEFINE_bool('summary', False, 'Only the range summary, not every hand.')
  stdin = flags.DEFINE_bool('stdin', False, 'Then read lines from standard input, one per '
                            'line, answering each as it arrives (without --node, only those).')
  cli.run(lambda argv: _main(
      argv, node.value if flags.FLAGS['node'].present or not stdin.value else [],
      summary.value, _prompted(sys.stdin) if stdin.value else None))


if __name__ == '__main__':
  main()
