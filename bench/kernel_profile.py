r"""Where a subgame chunk's time goes: XLA kernel time per line of cfr_jax's source.

    python bench/kernel_profile.py                      # the turn config, 20 iterations
    python bench/kernel_profile.py --config=holdem_river --iterations=200 --top=40

Runs one chunk under `jax.profiler`, reads the trace's per-kernel events
(XLA:CPU names every fused kernel it runs) and maps each kernel to the source
line that produced it through the compiled module's stack frames
(`FileLocations` / `StackFrames` in `compiled.as_text()`). Prints, per line
(innermost frame first), the kernel time per iteration summed over threads,
kernels run per iteration and the kernel kinds. The sum exceeds the wall time
when kernels run on both cores at once. No peer runs here: this splits our
own time (bench/RESULTS.md, "Each range is one span of the hands").
"""
import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

import jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this checkout's cfr_jax, not an installed one

import cfr_jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax.cli import train  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def source_lines(hlo: str, depth: int = 2) -> dict:
  """{instruction name: 'function:line < caller:line'} from an HLO module's
  text ('(no source line)' for instructions without a stack frame)."""
  tables = {'FunctionNames': {}, 'FileLocations': {}, 'StackFrames': {}}
  section = None
  for line in hlo.splitlines():
    text = line.strip()
    if text in tables:
      section = tables[text]
      continue
    match = re.match(r'(\d+) (.*)', text)
    if section is None or not match:
      section = None
      continue
    key, rest = int(match.group(1)), match.group(2)
    fields = dict(re.findall(r'(\w+)=(\d+)', rest))
    if section is tables['FileLocations']:
      rest = (int(fields['function_name_id']), fields['line'])
    elif section is tables['StackFrames']:
      rest = (int(fields['file_location_id']), int(fields.get('parent_frame_id', 1)))
    else:  # a function's name: its last component
      rest = rest.strip('"').split('.')[-1]
    section[key] = rest

  def chain(frame):
    out = []
    while frame and len(out) < depth:
      location, parent = tables['StackFrames'][frame]
      function, line = tables['FileLocations'][location]
      out.append(f"{tables['FunctionNames'][function]}:{line}")
      frame = parent - 1  # XLA prints a frame's parent as its id + 1 (1: no parent)
    return ' < '.join(out)
  lines = {name: '(no source line)' for name in re.findall(
      r'^\s*(?:ROOT )?%?(\S+) = ', hlo, re.M)}
  lines.update({m.group(1): chain(int(m.group(2))) for m in re.finditer(
      r'^\s*(?:ROOT )?%?(\S+) = .*?stack_frame_id=(\d+)', hlo, re.M)})
  return lines


def control_flow(hlo: str) -> set:
  """Names of an HLO module's while, conditional and call instructions: their
  trace events span the kernels they run, so counting them too would count
  those kernels twice."""
  return set(re.findall(r'^\s*(?:ROOT )?%?(\S+) = .* (?:while|conditional|call)\(', hlo, re.M))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='holdem_turn', help='a holdem_* config name')
  parser.add_argument('--algorithm', default='dcfr')
  parser.add_argument('--iterations', type=int, default=20)
  parser.add_argument('--top', type=int, default=25)
  parser.add_argument('--subtrees', type=int, default=None,
                      help='cards per batch of split passes (default: automatic; 0: whole levels)')
  args = parser.parse_args()
  config, _ = train.load_config(args.config)
  game = config_lib._load_game(config)  # pylint: disable=protected-access
  solver = cfr_jax.make_solver(game, args.algorithm, subtrees=args.subtrees)
  state = solver.init()
  n = args.iterations
  args_of = lambda state: (solver._passes, state, n, solver._hp)  # pylint: disable=protected-access
  # Compiled once: its text names the kernels, and it is what runs below.
  compiled = solver._run.lower(*args_of(state)).compile()  # pylint: disable=protected-access
  hlo = compiled.as_text()
  lines, nested = source_lines(hlo), control_flow(hlo)
  state = jax.block_until_ready(compiled(*args_of(state)))  # warm-up
  start = time.perf_counter()
  state = jax.block_until_ready(compiled(*args_of(state)))
  print(f'{args.config}: {(time.perf_counter() - start) / n * 1e3:.2f} ms per iteration (wall)')
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    jax.block_until_ready(compiled(*args_of(state)))
    jax.profiler.stop_trace()
    [path] = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True)
    with gzip.open(path) as f:
      events = json.load(f)['traceEvents']
  time_us, count = collections.Counter(), collections.Counter()
  kinds = collections.defaultdict(collections.Counter)
  for e in events:
    name = e.get('name', '')
    if e.get('ph') != 'X' or name not in lines or name in nested:
      continue
    key = lines[name]
    time_us[key] += e['dur']
    count[key] += 1
    kinds[key][re.sub(r'\.\d+$', '', name)] += e['dur']
  print(f'kernels: {sum(time_us.values()) / n / 1e3:.2f} ms per iteration (summed over '
        f'threads), {sum(count.values()) / n:.0f} per iteration')
  for key, us in time_us.most_common(args.top):
    print(f'{us / n / 1e3:7.2f} ms {count[key] / n:6.1f}x  {key:50s} '
          f'{", ".join(k for k, _ in kinds[key].most_common(2))}')


if __name__ == '__main__':
  main()
