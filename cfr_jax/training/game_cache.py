"""Built games kept on disk: a flop subgame's tree takes 8-17 s to build (2
cores), which every start paid again: a resume, a query, an export.

A game is stored pickled under a key of everything that determines it: its
spec, this package's source (any change to the code builds afresh) and the
versions of the libraries the build reads (JAX, NumPy, the hand evaluator).
Only games whose build took `MIN_BUILD_SECONDS` or more are kept, the `KEEP`
most recently used; a file that does not load is rebuilt and replaced. The
directory is the persistent compilation cache's `games/` (the launcher's
`config.compilation_cache`; 'none' turns both off).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import pickle
import time
from typing import Any, Callable

import jax

from cfr_jax import atomic

MIN_BUILD_SECONDS = 2.0
KEEP = 8
_SUFFIX = '.game.pkl'

# What each `load_or_build` with a directory did, in order: ('loaded' or
# 'kept' or 'built', the directory). The launcher clears it before building
# and says after whether its game was built or loaded (`built_text`).
outcomes: list = []


@functools.cache
def _code_digest() -> str:
  """sha256 of every source file of the cfr_jax package."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  digest = hashlib.sha256()
  for dirpath, dirnames, files in os.walk(root):
    dirnames.sort()
    for name in sorted(f for f in files if f.endswith('.py')):
      path = os.path.join(dirpath, name)
      digest.update(os.path.relpath(path, root).encode() + b'\0')
      with open(path, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()


def _version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def key(spec: Any) -> str:
  """The cache key of the game a (dataclass) spec builds here."""
  text = json.dumps({
      'spec': dataclasses.asdict(spec), 'code': _code_digest(),
      'x64': bool(jax.config.jax_enable_x64),
      'versions': {p: _version(p) for p in ('jax', 'jaxlib', 'numpy', 'phevaluator')},
  }, sort_keys=True, default=repr)
  return hashlib.sha256(text.encode()).hexdigest()[:40]


def load_or_build(spec: Any, build: Callable[[], Any], directory: str | None) -> Any:
  """build(), or the game it built before for `spec`, from `directory` (None:
  always build). Never fails for the cache's sake: an unreadable or unwritable
  cache only costs the build (with a note)."""
  if directory is None:
    return build()
  path = os.path.join(directory, key(spec) + _SUFFIX)
  try:
    with open(path, 'rb') as f:
      game = pickle.load(f)
    os.utime(path)  # recently used: kept longest
    outcomes.append(('loaded', directory))
    return game
  except FileNotFoundError:
    pass
  except Exception as e:  # pylint: disable=broad-except
    print(f'note: building the game again: its saved copy {path} does not load '
          f'({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ""})', flush=True)
  start = time.monotonic()
  game = build()
  kept = time.monotonic() - start >= MIN_BUILD_SECONDS and _store(game, path)
  outcomes.append(('kept' if kept else 'built', directory))
  return game


def built_text(seconds: float) -> str:
  """'built in 8.4 s (kept in <dir>)', 'loaded from the game cache in 0.7 s
  (<dir>)' or 'built in 0.1 s', from the `outcomes` since it was cleared."""
  kept = [d for how, d in outcomes if how == 'kept']
  if outcomes and all(how == 'loaded' for how, _ in outcomes):
    return f'loaded from the game cache in {seconds:.1f} s ({outcomes[0][1]})'
  return f'built in {seconds:.1f} s' + (f' (kept in {kept[0]})' if kept else '')


def _store(game: Any, path: str) -> bool:
  """Writes the game beside `path` and renames it there (a reader never sees
  a partial file), then drops all but the `KEEP` most recently used; whether
  it was written."""
  directory = os.path.dirname(path)
  kept = True
  try:
    os.makedirs(directory, exist_ok=True)
    with atomic.replacing(path) as part, open(part, 'wb') as f:
      pickle.dump(game, f, protocol=pickle.HIGHEST_PROTOCOL)
  except Exception as e:  # pylint: disable=broad-except
    print(f'note: the built game is not kept for later starts ({e.__class__.__name__}: '
          f'{getattr(e, "strerror", None) or e})', flush=True)
    kept = False
  used = {}
  for name in os.listdir(directory) if os.path.isdir(directory) else ():
    if name.endswith(_SUFFIX):
      with contextlib.suppress(OSError):  # (another process may remove it first)
        used[name] = os.path.getmtime(os.path.join(directory, name))
  for name in sorted(used, key=used.get, reverse=True)[KEEP:]:
    with contextlib.suppress(OSError):
      os.remove(os.path.join(directory, name))
  return kept
