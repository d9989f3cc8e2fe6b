"""The command-line entry points (installed as console scripts; see pyproject.toml).

    cfr-train   train.py    trains a config in chunks, resumably (`python -m launch.train`)
    cfr-status  status.py   one table row per run or instance
    cfr-plot    plot.py     exploitability against iterations and time
    cfr-query   query.py    a trained hold'em subgame's strategy at one betting line
    cfr-export  export.py   a trained run's average policy as .npz or .json
    python -m cfr_jax       solve.py  a quick solve in one process

Each module's `main()` is the program; the console scripts, `python -m
cfr_jax` and `launch/<name>.py` call it through `scripts.py`, which holds
stop signals from the process's first instant (while JAX is still being
imported), so `python -m launch.<name>` from the repository root works too.
The logic lives in the functions next to `main()`, importable without
defining any flag. This file and `scripts.py` import nothing heavy.
"""
import contextlib
import functools
import json
import os
import re
import signal
import sys
import threading

from cfr_jax import atomic

EXIT_USAGE, EXIT_INTERRUPTED = 1, 75  # as the launcher's (training.EXIT_*)
# --help and its spellings: the program's usage and its own flags (absl
# printed only "Try --helpfull" for the console scripts, whose flags are not
# in the __main__ module); --helpfull: absl's list of every flag.
SHORT_HELP = ('--help', '-help', '-h', '-?', '--helpshort', '-helpshort')
_HELP = SHORT_HELP + ('--helpfull', '-helpfull', '--helpxml')
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
  """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C raises
  KeyboardInterrupt (not one: cfr-query's prompt ends on Ctrl-C alone), so
  that `finally` blocks run: a file being written is removed."""


def say(text: str) -> None:
  """One line on stderr, if there still is one (a closed terminal: SIGHUP)."""
  with contextlib.suppress(OSError, ValueError):
    print(text, file=sys.stderr, flush=True)


class _Unread:
  """sys.stdout or sys.stderr, whose reader may go away: `cfr-train | head`,
  a `tee` killed, a job system closing the log pipe. A print then raised
  BrokenPipeError, and cfr-train stopped its run ("cannot write the run's
  files: Broken pipe ... free the space"), cfr-status printed a traceback.
  The first failed write points the descriptor at /dev/null instead (what
  is still buffered goes there too) and the program goes on; `note` is said
  once on the other stream, if it still has a reader."""

  def __init__(self, stream, name: str, note: str = ''):
    self._stream, self._name, self._note = stream, name, note

  def write(self, text):
    try:
      return self._stream.write(text)
    except OSError as e:
      self._gone(e)
      return len(text)

  def flush(self):
    try:
      self._stream.flush()
    except OSError as e:
      self._gone(e)

  def __getattr__(self, name):  # fileno, isatty, encoding, ...
    return getattr(self._stream, name)

  def _gone(self, error: OSError) -> None:
    try:
      null = os.open(os.devnull, os.O_WRONLY)
      try:
        os.dup2(null, self._stream.fileno())
      finally:
        os.close(null)
      with contextlib.suppress(OSError, ValueError):
        self._stream.flush()  # what was buffered, to /dev/null: nothing raises at exit
    except (OSError, ValueError):  # a stream without a descriptor: dropped
      self._stream = open(os.devnull, 'w', encoding='utf-8')  # pylint: disable=consider-using-with
    if self._note:
      other = sys.stderr if self._name == 'stdout' else sys.stdout
      with contextlib.suppress(OSError, ValueError):
        print(f'note: {self._name} closed: {self._note} ({error.strerror or error})',
              file=other, flush=True)
      self._note = ''


def outlive_readers(note: str = '') -> None:
  """Wraps sys.stdout and sys.stderr in `_Unread` (once): a program whose
  output nobody reads any more goes on to its end. note: what cfr-train says
  when its stdout goes (that the run goes on, and where to follow it)."""
  for name in ('stdout', 'stderr'):
    stream = getattr(sys, name)
    if stream is not None and not isinstance(stream, _Unread):
      setattr(sys, name, _Unread(stream, name, note))


_received = []  # the stop signals received, by name


def _raise(signum, frame) -> None:
  """A first stop signal: raised where the main thread is; a second one
  exits at once (after removing any file half written)."""
  if _importing(frame):  # raised there, it would be printed with its traceback
    _exit_now(signum, frame)  # (see exit_at_once_on_signals)
  _received.append(signal.Signals(signum).name)
  exit_at_once_on_signals()
  if signum == signal.SIGINT:
    raise KeyboardInterrupt
  raise Stopped(_received[-1])


def _importing(frame) -> bool:
  """Whether `frame` runs inside an import (matplotlib's, loaded by cfr-plot)."""
  while frame is not None:
    if frame.f_code.co_filename.startswith('<frozen importlib'):
      return True
    frame = frame.f_back
  return False


def _exit_now(signum, frame, note: str = '') -> None:
  del frame
  atomic.remove_partial()
  say(f'{signal.Signals(signum).name}: exiting{note}')
  os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access


def exit_at_once_on_signals(note: str = '', signals: tuple = _STOP_SIGNALS) -> None:
  """SIGINT, SIGTERM or SIGHUP (or `signals`): one line ('SIGTERM:
  exiting<note>') and exit 75 at once, wherever the program is (importing
  JAX, say: raised there, a KeyboardInterrupt is printed with its traceback
  by the extension being loaded, numpy's `import_array`, whoever catches
  it), after removing any file half written."""
  handler = functools.partial(_exit_now, note=note)
  for sig in signals:
    signal.signal(sig, handler)


@contextlib.contextmanager
def exit_on_signals():
  """SIGINT, SIGTERM or SIGHUP in the body: its `finally` blocks run, then
  one line ('SIGTERM: exiting') and exit 75, as cfr-train's, never a
  traceback (nor the shell's silent 143 for SIGTERM); a second signal exits
  at once. Whatever the body raises after a signal is the signal's doing
  (an extension being loaded turns it into an ImportError)."""
  del _received[:]
  main = threading.current_thread() is threading.main_thread()
  previous = {sig: signal.signal(sig, _raise) for sig in _STOP_SIGNALS} if main else {}
  try:
    yield
  except BaseException as e:  # pylint: disable=broad-except
    if isinstance(e, SystemExit) or not (_received or isinstance(e, KeyboardInterrupt)):
      raise
    say(f'{_received[0] if _received else "SIGINT"}: exiting')
    sys.exit(EXIT_INTERRUPTED)
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


def parse_flags(argv: list) -> list:
  """absl's parser, with a mistyped flag or value in one line (`error: ...`)
  and exit 1, where absl prints two lines ('FATAL Flags parsing error'), and
  --help exiting 0 (absl: 1), as cfr-train's does."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flags.FLAGS(argv)
  except SystemExit as e:  # absl's --help exits 1 after printing the usage
    if e.code == 1 and any(a.split('=')[0] in _HELP for a in argv[1:]):
      sys.exit(0)
    raise
  except flags.Error as e:
    message = (str(e).strip().splitlines() or [''])[0]
    print(f'error: {message.removeprefix("ERROR:: ")}', file=sys.stderr)
    sys.exit(EXIT_USAGE)


def path_typo(path: str) -> str | None:
  """Why `path` cannot be what was meant, or None: bytes that are not UTF-8,
  a control character (a script saved with Windows line endings passed
  'runs/a\\r', a new directory that the next, fixed command never resumed
  from), or a name in it that begins or ends with a space (taken as meant
  where the path exists)."""
  try:
    path.encode('utf-8')
  except UnicodeEncodeError:  # bytes that are no UTF-8 (argv's surrogate escapes)
    return (f'{path!r} is not UTF-8 text: checkpoints are written by tensorstore, which '
            'failed on it at the first save, a chunk in; give a UTF-8 name')
  bad = next((c for c in path if ord(c) < 32 or ord(c) == 127), None)
  if bad is not None:
    hint = ' (a script saved with Windows line endings?)' if bad == '\r' else ''
    return f'{path!r} holds the control character {bad!r}{hint}'
  parts = path.split(os.sep)
  if any(p != p.strip() for p in parts) and not os.path.exists(path):
    fixed = os.sep.join(p.strip() for p in parts)
    return f'{path!r}: a name in it begins or ends with a space; without: {fixed!r}'
  return None


def out_extension(out: str, formats, example: str, what: str = 'a file') -> str:
  """The extension of `--out=<out>` (lower case, no dot; '' if none) after
  checking it names a file that can be written; ValueError naming the value
  and what is expected else. formats: the extensions the tool writes (no
  dot); example: a file name to suggest; what: the kind of file, for messages.

  Every tool taking --out (cfr-plot, cfr-export) checks here, before any
  run is read (a flop run loads for minutes): a name ending in '.' made
  cfr-plot write 'x.png..png' (no extension: matplotlib's default appended),
  '.png' was read as a hidden file without an extension ('.png.png'), and
  cfr-export said '--out=.json: the file name must end in .npz or .json'."""
  directory, name = os.path.split(out)
  if not out.strip() or not name or os.path.isdir(out):
    raise ValueError(f'--out={out}: give {what} to write, e.g. --out={example}')
  problem = path_typo(out)
  if problem:
    raise ValueError(f'--out={out!r}: {problem.removeprefix(repr(out)).lstrip(": ")}')
  suggestion = os.path.join(directory, example)
  if name != name.rstrip(' .'):  # Windows drops these too: never what was meant
    trimmed = name.rstrip(' .')
    if trimmed:  # with an extension the tool writes ('x.' is not 'x.png' either)
      suggestion = os.path.join(directory, trimmed if os.path.splitext(trimmed)[1]
                                else trimmed + os.path.splitext(example)[1])
    raise ValueError(f'--out={out}: the file name ends in {name[len(trimmed):]!r}; '
                     f'give it without, e.g. --out={suggestion}')
  ext = os.path.splitext(name)[1][1:].lower()
  if not ext and name.startswith('.') and name.lstrip('.').lower() in formats:
    stem = os.path.splitext(example)[0]
    raise ValueError(f'--out={out}: {name} is an extension without a file name; '
                     f'e.g. --out={os.path.join(directory, stem + name)}')
  if directory and not os.path.isdir(directory):
    what = 'is not a directory' if os.path.exists(directory) else 'does not exist'
    raise ValueError(f'--out={out}: cannot write there: {directory} {what}')
  return ext


def one_workdir(argv: list, usage: str, flag: str, looks_like) -> str | None:
  """argv's one run directory, or None after printing why there is not one:
  `usage`, and where a word after it reads as the value of `flag` (looks_like
  says which: 'cfr-export runs/a p.json' for --out, 'cfr-query runs/a b10'
  for --node), the flag to give it with."""
  if len(argv) == 2 and argv[1].strip():
    return argv[1]
  extra = [a for a in argv[2:] if looks_like(a)]
  hint = f' ({extra[0]!r} goes in --{flag}={extra[0]})' if extra else (
      f' (got {len(argv) - 1}: {" ".join(argv[1:])})' if len(argv) > 2 else '')
  say(f'error: give one run directory{hint}: {usage}')
  return None


def first_time(path: str, seen: set) -> bool:
  """Whether `path` (by its real path) is not in `seen` yet; adds it: a run
  found under several of a tool's arguments is listed once."""
  real = os.path.realpath(path)
  if real in seen:
    return False
  seen.add(real)
  return True


_INSTANCE = re.compile(r'instance_\d+')
# Per instance by construction, so never what tells the instances apart.
_PER_INSTANCE = ('mirror_to',)


def _instance_configs(parent: str) -> dict | None:
  """{instance_<k>: its config.json as a dict} under `parent`, or None where
  one cannot be read."""
  configs = {}
  try:
    for sibling in os.listdir(parent or '.'):
      if _INSTANCE.fullmatch(sibling):
        with open(os.path.join(parent, sibling, 'config.json')) as f:
          configs[sibling] = json.load(f)
  except (OSError, ValueError):
    return None
  return configs if all(isinstance(c, dict) for c in configs.values()) else None


def absent(paths) -> str:
  """'<path> does not exist' for each of `paths` (or why it cannot be meant):
  cfr-status and cfr-plot said "no progress.json under" a mistyped path."""
  return '; '.join(path_typo(p) or f'{p} does not exist' for p in paths)


def failed_instances(roots) -> list[tuple[str, str]]:
  """[(instance directory, why)] under `roots` for each instance of a
  launcher (instance_<k>) that failed before it ran: a configuration error
  found in its own process (a sweep over games, one unknown) leaves its
  config.json and a log.txt ending in 'error: ...', but no progress.json or
  metrics.jsonl, and cfr-status and cfr-plot left it out without a word."""
  out, seen = [], set()
  for root in roots:
    if not os.path.isdir(root):
      continue
    for dirpath, dirnames, filenames in os.walk(root):
      dirnames[:] = sorted(d for d in dirnames if d not in ('checkpoints', 'tensorboard'))
      if (not _INSTANCE.fullmatch(os.path.basename(os.path.normpath(dirpath))) or
          'progress.json' in filenames or 'config.json' not in filenames or
          not first_time(dirpath, seen)):
        continue
      try:
        with open(os.path.join(dirpath, 'log.txt'), errors='replace') as f:
          errors = [line.strip() for line in f if line.startswith('error: ')]
      except OSError:
        errors = []
      if errors:  # (none: it is still starting)
        out.append((dirpath, errors[-1].removeprefix('error: ')))
  return out


def instance_label(workdir: str, read: dict | None = None) -> str:
  """What sets instance `workdir` (a launcher's `<workdir>/instance_<k>`) apart
  from its siblings, from their config.json files: the swept field
  ('algorithm=cfr+'), else the seed ('seed=1') of config.num_instances copies;
  '' for a single run or where the configs cannot be read. cfr-status and
  cfr-plot named instances only instance_0, instance_1, .... read: a dict the
  caller keeps across its runs ({parent: its instances' configs}), so that a
  sweep's N rows read its N files once, not N times each."""
  parent, name = os.path.split(os.path.normpath(workdir))
  if not _INSTANCE.fullmatch(name):
    return ''
  read = {} if read is None else read
  if parent not in read:
    read[parent] = _instance_configs(parent)
  configs = read[parent]
  if not configs or name not in configs or len(configs) < 2:
    return ''
  keys = sorted({k for c in configs.values() for k in c} - set(_PER_INSTANCE))
  differ = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True)
                                    for c in configs.values()}) > 1]
  shown = [k for k in differ if k != 'seed'] or differ  # a sweep's seeds differ too
  own = configs[name]
  return ' '.join(f'{k}={own.get(k)}' for k in shown)


def run(main) -> None:
  """app.run(main) for cfr-query, cfr-export, cfr-status, cfr-plot and
  `python -m cfr_jax`: flag mistakes in one line (`parse_flags`), --help the
  usage of main's module (`usage`), and a stop signal (while JAX loads a
  run, say) one line and exit 75 (`exit_on_signals`)."""
  from absl import app  # pylint: disable=g-import-not-at-top
  outlive_readers()  # `cfr-status runs | head`: no traceback, exit 0
  module = sys.modules.get(getattr(main, '__module__', None) or '')

  def parse(argv):
    if module is not None and any(a.split('=')[0] in SHORT_HELP for a in argv[1:]):
      print(usage(module))
      sys.exit(0)
    return parse_flags(argv)
  with exit_on_signals():
    app.run(main, flags_parser=parse)


def usage(module) -> str:
  """A program's --help: its module docstring (what it does, examples) and
  the flags its module defined, each with its meaning and default."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  own = flags.FLAGS.get_flags_for_module(module.__name__)
  lines = [(module.__doc__ or '').strip(), '', f'{_program_name(module)} flags:']
  for flag in sorted(own, key=lambda f: f.name):
    text = flag.help.split(';\n')[0]  # a multi flag's "repeat this option" note: ours says it
    value = flag.default
    if isinstance(value, (list, tuple)):
      value = ','.join(map(str, value))
    elif isinstance(value, bool):
      value = str(value).lower()
    default = '' if value in (None, '') else f' (default: {value})'
    lines.append(f'  --{flag.name}: {text}{default}')
  if not own:
    lines.append('  (none besides absl\'s)')
  lines.append("  --helpfull: this, and every absl flag")
  return '\n'.join(lines)


def _program_name(module) -> str:
  """How the program was started: 'cfr-query', 'python -m launch.query',
  'python -m cfr_jax'."""
  path = sys.argv[0] if sys.argv and sys.argv[0] else ''
  stem, ext = os.path.splitext(os.path.basename(path))
  if ext != '.py':
    return stem or module.__name__
  package = os.path.basename(os.path.dirname(os.path.abspath(path)))
  return f'python -m {package}' + ('' if stem == '__main__' else f'.{stem}')
