"""A resilient checkpoint store over Orbax: lenient verification, ordered fallback.

Runs last hours or days on preemptible machines, so losing progress is the failure
to avoid above all. `CheckpointStore.restore` therefore gathers every step directory
from the primary directory and from extra locations (a CI cache, local scratch, a
downloaded artifacts folder), verifies each leniently and tries them best first:

* *unusable* (empty, temporary, truncated or random array files, wrong shapes or
  dtypes, unreadable) is rejected with its reason and the next candidate is tried;
* *minor* issues (checksum mismatch, missing optional metadata) are warnings: the
  candidate stays in the running;
* a *foreign* fingerprint (another game, bucket table, algorithm, ...) is refused
  and never loaded, but left where it is: it is a good checkpoint of another run;
* a checkpoint whose identity cannot be established (an older-format one whose
  metadata files are both lost) is refused too, and also left in place;
* a loaded state that fails the caller's sanity check (`restore(check=...)`:
  non-finite values, ...) is rejected and the next candidate is tried.

Only when every candidate fails does it start fresh, and it says so loudly.

On-disk layout (one Orbax `CheckpointManager` step directory per saved iteration):

  <directory>/<iteration>/state/   {'state': the state pytree, 'fingerprint': uint8[64]}
                                   (Orbax StandardSave: OCDBT + zstd). The fingerprint
                                   inside the arrays is what proves a checkpoint's
                                   identity when both metadata copies are lost.
  <directory>/<iteration>/meta/    JSON metadata: fingerprint, checksums, versions, ...
  <directory>/<iteration>/_CHECKPOINT_METADATA   Orbax's; its custom_metadata repeats
                                   the fingerprint so it survives a lost `meta/`
  <directory>/foreign/<fp>/<iteration>/  another run's step that stood where this
                                   run saves the same step: moved here, and searched
                                   on every restore (so that run still finds it)
  <directory>/rejected/            truly unusable or temporary step directories that
                                   blocked a save, moved aside (never deleted, never
                                   searched again)

Format 1 (before the fingerprint moved into the arrays) kept the bare state
pytree in `state/`; such checkpoints still restore, identified by their metadata.

Discovery scans step directories itself and restores each one directly, so nothing
depends on Orbax's bookkeeping (a corrupt `metrics` file, a stale "latest" step).
The store assumes a single writer per primary directory.

Under `jax.distributed` (several processes, one shared directory) `save` and
`restore` are collective: every process calls them, and Orbax has each write or
read its own shards. Process 0 alone moves, removes and copies directories, with
barriers around it, and its choice of candidate is the one every process tries.
"""

import dataclasses
import datetime
import functools
import gc
import hashlib
import importlib.metadata
import json
import logging as std_logging
import math
import os
import re
import shutil
import socket
import sys
import time
import warnings
from typing import Any, Iterable, Optional, Sequence

from absl import logging
from etils import epath
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts

from cfr_jax import heap

# Bump when the layout or the meaning of the metadata changes; it is part of every
# fingerprint, so checkpoints of another format version are refused as foreign.
FORMAT_VERSION = 1

_STATE_ITEM = "state"
_META_ITEM = "meta"
_REJECTED_DIR = "rejected"
_FOREIGN_DIR = "foreign"
_FINGERPRINT_LEAF = "fingerprint"
_STATE_LEAF = "state"
_ORBAX_STEP_METADATA = "_CHECKPOINT_METADATA"
_TMP_MARK = ".orbax-checkpoint-tmp"
_CUSTOM_KEY = "cfr_jax"
_STEP_RE = re.compile(r"^\d+$")


class _UnretrievedReadFailures(std_logging.Filter):
  """Drops asyncio's "<kind> exception was never retrieved" for Orbax's
  sibling reads of an array file that failed (tensorstore/OCDBT errors):
  the failure was caught, reported and acted on; the siblings' copies only
  print a traceback each when they are garbage-collected. The kind is
  whichever future held the copy: a Task, a Future or `asyncio.gather`'s
  _GatheringFuture (about one failed restore in eight ends with the last).
  The error is tensorstore's ValueError, or Orbax's plain Exception
  ("Encountered error while reading array index ...") raised from it: an
  `async_deserialize` task held the latter in ~1 fallback in 13 under load."""

  def filter(self, record):
    exc = record.exc_info[1] if record.exc_info else None
    first = record.getMessage().split("\n", 1)[0]
    return not (first.endswith("exception was never retrieved") and _read_failure(exc))


def _read_failure(exc) -> bool:
  """Whether `exc` is a failed tensorstore read, or Orbax's wrapper of one."""
  if (type(exc) is Exception and "reading array index" in str(exc)  # pylint: disable=unidiomatic-typecheck
      and exc.__cause__ is not None):
    exc = exc.__cause__
  return (isinstance(exc, ValueError)
          and any(k in str(exc) for k in ("OCDBT", "zarr", "tensorstore")))


def _abandoned_orbax_read(args) -> bool:
  """Whether an unraisable exception is one of Orbax's per-array read
  coroutines re-raising its read error as it is closed: the sibling reads of
  a failed restore are dropped un-awaited, and each prints a ~60-line
  tensorstore traceback when the garbage collector closes it."""
  code = getattr(args.object, "cr_code", None)  # coroutine objects only
  return (code is not None and f"{os.sep}orbax{os.sep}" in code.co_filename
          and "reading array index" in str(args.exc_value))


# What Python warns when a coroutine of Orbax's per-array reads that a failed
# restore never started is collected (seen in 1 of 3 CI runs of the truncated-
# file fallback test).
_UNSTARTED_READ = r"coroutine '_read_array_index_and_device_put' was never awaited"


def _quiet_closed_loops():
  """Silences the after-effects of a failed Orbax read, which are stray
  tracebacks, not errors: the "Event loop is closed" that tensorstore
  callbacks raise after Orbax closed the event loop of the failed read
  (printed as unraisable, sometimes long after), Orbax's abandoned read
  coroutines (`_abandoned_orbax_read`), the RuntimeWarning for its read
  coroutines that were never started (`_UNSTARTED_READ`), and asyncio's
  unretrieved sibling-task errors (`_UnretrievedReadFailures`). The failure
  itself was caught and reported. Every other error and warning still
  reaches its handler."""
  asyncio_log = std_logging.getLogger("asyncio")
  if not any(isinstance(f, _UnretrievedReadFailures) for f in asyncio_log.filters):
    asyncio_log.addFilter(_UnretrievedReadFailures())
  if not any(f[1] is not None and f[1].pattern == _UNSTARTED_READ for f in warnings.filters):
    warnings.filterwarnings("ignore", message=_UNSTARTED_READ, category=RuntimeWarning)
  previous = sys.unraisablehook
  if getattr(previous, "_cfr_jax_quiet", False):
    return

  def hook(args):
    if isinstance(args.exc_value, RuntimeError) and str(args.exc_value) == (
        "Event loop is closed") or _abandoned_orbax_read(args):
      return
    previous(args)
  hook._cfr_jax_quiet = True  # pylint: disable=protected-access
  sys.unraisablehook = hook


def _fingerprint_array(fingerprint: str) -> np.ndarray:
  """The fingerprint as the uint8[64] array saved beside the state."""
  data = fingerprint.encode("ascii")[:64].ljust(64, b"\0")
  return np.frombuffer(data, np.uint8).copy()


def _fingerprint_text(array: Any) -> str:
  return bytes(np.asarray(array, np.uint8)).rstrip(b"\0").decode("ascii", "replace")


class CheckpointError(Exception):
  """Base class of the errors raised by this module."""


class CheckpointWriteError(CheckpointError, OSError):
  """A checkpoint could not be written (read-only or full disk, ...).

  The message is one line; existing checkpoints were not touched.
  """


def _json_default(obj: Any) -> Any:
  """Makes numpy values, dtypes and pytrees of arrays JSON-serialisable."""
  if isinstance(obj, np.generic):
    return obj.item()
  if isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
    return np.dtype(obj).name
  if hasattr(obj, "shape") and hasattr(obj, "dtype"):
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
      return obj.item()
    return {"shape": list(obj.shape), "dtype": np.dtype(obj.dtype).name}
  leaves = jax.tree_util.tree_flatten_with_path(obj)[0]
  if leaves and not (len(leaves) == 1 and leaves[0][1] is obj):
    # A pytree (e.g. an abstract SolverState): describe it leaf by leaf.
    return {_leaf_name(path): _json_default(leaf) for path, leaf in leaves}
  raise TypeError(f"fingerprint component of type {type(obj).__name__} is not "
                  "JSON-serialisable; pass a content hash or a plain description")


def make_fingerprint(**components: Any) -> str:
  """Returns a stable sha256 hex digest of what gives a checkpoint its meaning.

  Pass everything that changes the meaning of the saved arrays: game definition,
  card abstraction (bucket counts and the bucket tables' content hash), algorithm
  and the hyperparameters that change the state (e.g. DCFR's alpha/beta/gamma),
  and shapes/dtypes (a pytree of arrays or `jax.ShapeDtypeStruct`s is described
  leaf by leaf). `FORMAT_VERSION` is included automatically.

  Example: `make_fingerprint(game="leduc", buckets=None, algorithm="dcfr",
  alpha=1.5, beta=0.0, gamma=2.0, state=abstract_state)`.
  """
  payload = {"format_version": FORMAT_VERSION, **components}
  text = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                    ensure_ascii=True, allow_nan=False, default=_json_default)
  return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclasses.dataclass
class CandidateRecord:
  """What happened to one step directory during `restore`.

  status: "restored" (loaded cleanly), "warned" (loaded despite minor issues),
    "rejected" (unusable), "foreign" (other fingerprint, never loaded),
    "unverified" (identity cannot be established, never loaded) or
    "skipped_not_tried" (a better candidate loaded first).
  reasons: why it was rejected/refused, and any warnings.
  """
  path: str
  location: str
  iteration: Optional[int]
  status: str = "skipped_not_tried"
  reasons: list = dataclasses.field(default_factory=list)
  exploitability: Optional[float] = None
  # Internal bookkeeping for ordering; not part of the report's contract.
  warnings: list = dataclasses.field(default_factory=list, repr=False)
  fingerprint_known: bool = dataclasses.field(default=False, repr=False)
  metadata: Optional[dict] = dataclasses.field(default=None, repr=False)
  location_index: int = dataclasses.field(default=0, repr=False)
  # False when the rejection depends on the caller's abstract state (shapes,
  # dtypes): such a directory may be fine for another caller, so it is never
  # moved aside.
  broken: bool = dataclasses.field(default=False, repr=False)
  # 2: {'state', 'fingerprint'} in the state item; 1: the bare state (format 1).
  layout: int = dataclasses.field(default=2, repr=False)
  fingerprint: Optional[str] = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class RestoreReport:
  """Which checkpoint `restore` used and every candidate it considered, best first."""
  restored_from: Optional[str]
  iteration: Optional[int]
  metadata: Optional[dict]
  candidates: list
  started_fresh: bool

  @property
  def rejected(self) -> list:
    """[(path, reason)] for every rejected or foreign candidate."""
    return [(c.path, "; ".join(c.reasons)) for c in self.candidates
            if c.status in ("rejected", "foreign", "unverified")]

  @property
  def warnings(self) -> list:
    """[(path, warning)] for every minor issue seen, loaded or not."""
    return [(c.path, w) for c in self.candidates for w in c.warnings]


def _leaf_name(path: Sequence[Any]) -> str:
  """'regrets' for SolverState.regrets and for Orbax's {'regrets': ...} alike."""
  parts = []
  for key in path:
    for attr in ("name", "key", "idx"):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
    else:
      parts.append(str(key))
  return ".".join(parts)


def _named_leaves(tree: Any) -> dict:
  return {_leaf_name(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def leaf_names(tree: Any) -> list:
  """The names `CheckpointStore.restore(skip=...)` takes for `tree`'s leaves."""
  return list(_named_leaves(tree))


def _sha256(array: Any) -> Optional[str]:
  """The bytes' digest; None for an array spread over processes (no host holds
  it whole, and gathering it to hash it would cost a full copy per save)."""
  if not getattr(array, "is_fully_addressable", True):
    return None
  host = np.ascontiguousarray(np.asarray(jax.device_get(array)))
  return "sha256:" + hashlib.sha256(host.reshape(-1).view(np.uint8)).hexdigest()


# ----------------------------------------------------------------------------
# Several processes (jax.distributed). With one process these are no-ops.


def _multiprocess() -> bool:
  return jax.process_count() > 1


def _primary() -> bool:
  """Whether this process is the one that changes the file system (process 0)."""
  return jax.process_index() == 0


def _barrier(name: str):
  if _multiprocess():
    multihost_utils.sync_global_devices(f"cfr_jax.checkpoint.{name}")


def _everywhere(flag: bool) -> bool:
  """True when `flag` holds on every process."""
  if not _multiprocess():
    return bool(flag)
  return bool(np.all(multihost_utils.process_allgather(np.int32(bool(flag)))))


def _from_primary(values: np.ndarray) -> np.ndarray:
  """Process 0's int32 `values` (same shape everywhere), on every process."""
  if not _multiprocess():
    return values
  return np.asarray(multihost_utils.broadcast_one_to_all(values))


def reached_preemption(step: int) -> bool:
  """Orbax's preemption check: True on every process at the same `step` after
  any process of a `jax.distributed` job received a preemption notice
  (SIGTERM, caught by JAX's preemption service). Call it with a counter that
  grows by one per call, at the same points on every process; always False
  with one process."""
  return _multiprocess() and bool(ocp.multihost.reached_preemption(int(step)))


def _library_versions() -> dict:
  versions = {"python": sys.version.split()[0]}
  for dist in ("jax", "jaxlib", "orbax-checkpoint", "numpy", "flax", "cfr_jax"):
    try:
      versions[dist] = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
      versions[dist] = None
  return versions


def _one_line(exc: BaseException, limit: int = 300) -> str:
  text = (str(exc).strip().splitlines() or [""])[0]
  text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
  return text if len(text) <= limit else text[:limit] + "..."


def _root_cause(exc: BaseException) -> str:
  """The innermost error, on one line: Orbax wraps tensorstore's precise reason
  ("OUT_OF_RANGE: ... byte range ...", "ZSTD_decompressStream() failed") in a
  generic message followed by a multi-line spec dump."""
  seen = []
  while exc is not None and exc not in seen and len(seen) < 10:
    seen.append(exc)
    exc = exc.__cause__ or exc.__context__
  text = _one_line(seen[-1], limit=10_000)
  text = re.sub(r' in OCDBT database at local file "[^"]*"', "", text)
  return text if len(text) <= 300 else text[:300] + "..."


def _write_failure(step: int, directory: str, exc: BaseException) -> "CheckpointWriteError":
  """One line that leads with the OS reason (Orbax buries it in tensorstore text)."""
  code = getattr(exc, "errno", None)
  if not code:
    found = re.search(r"os_error_code='?(\d+)", str(exc))
    code = int(found.group(1)) if found else None
  reason = os.strerror(code) if code else None
  detail = _root_cause(exc)
  message = f"cannot write checkpoint {step} to {directory}: " + (
      f"{reason} ({detail})" if reason and not isinstance(exc, OSError) else
      reason or detail)
  error = CheckpointWriteError(message)
  error.errno = code
  return error


def abstract(tree: Any) -> Any:
  """Concrete arrays or ShapeDtypeStructs -> ShapeDtypeStructs with a sharding
  (theirs, or this process's first device): what a restore produces."""
  default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def to_abstract(x):
    sharding = getattr(x, "sharding", None) or default
    return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding)
  return jax.tree.map(to_abstract, tree)


# Arrays above this many bytes are read one per Orbax restore (`_read_arrays`).
READ_ALONE_BYTES = 1 << 26
# Big arrays are read back (`CheckpointStore.reads_back_as`) and restored
# (`_read_in_slices`) this many bytes at a time.
READ_BACK_BYTES = 1 << 24


def _nbytes(tree: Any) -> int:
  """The bytes of a tree of arrays or ShapeDtypeStructs."""
  return sum(int(np.prod(np.shape(x))) * np.dtype(x.dtype).itemsize
             for x in jax.tree.leaves(tree))


# A save's chunks and data files (bench/RESULTS.md, "A save holds no copy of
# the state"). Orbax's defaults (one chunk per array, one data file for all)
# made TensorStore hold every array's compressed copy until the save
# committed: +0.85 GB at each save of a flop state (0.92 GB), whatever the
# limit on bytes in flight. In 4 MiB chunks and 16 MiB files it holds a few
# files' worth (+0.05-0.14 GB there) and writes no more bytes. Compression
# stays on: a corrupted chunk then fails to decode and is refused (fallback),
# where raw floats would load as garbage with only a checksum warning.
_WRITE_CHUNK_BYTES = 4 << 20
_DATA_FILE_BYTES = 16 << 20


def _save_args(item: Any) -> ocp.args.PyTreeSave:
  return ocp.args.PyTreeSave(
      item, save_args=jax.tree.map(
          lambda _: ocp.SaveArgs(chunk_byte_size=_WRITE_CHUNK_BYTES), item),
      ocdbt_target_data_file_size=_DATA_FILE_BYTES)


def _open_array(state_dir, name: str):
  """The TensorStore of array `name` in an Orbax state item (OCDBT, zarr)."""
  kvstore = {"driver": "ocdbt", "base": {  # a spec, not a URL: any path works
      "driver": "file", "path": os.path.join(os.path.abspath(state_dir), "")}}
  return ts.open({"driver": "zarr", "kvstore": {**kvstore, "path": name}},
                 open=True, read=True).result()


def _row_slices(stored) -> Optional[list]:
  """[(lo, hi)] row ranges of a stored array ([n, ...], n > 0), all one size:
  whole chunks along the first axis, ~READ_BACK_BYTES each, the last one
  overlapping the one before (one shape: one program for `_write_rows`).
  None if a chunk alone is over READ_BACK_BYTES (one chunk per array, as
  written before `_save_args`): reading a slice would decode the whole array."""
  n = int(stored.shape[0])
  chunk = max(int(stored.chunk_layout.read_chunk.shape[0]), 1)
  row_bytes = max(int(np.prod(stored.shape[1:])) * stored.dtype.numpy_dtype.itemsize, 1)
  if min(chunk, n) * row_bytes > READ_BACK_BYTES:
    return None
  rows = min(READ_BACK_BYTES // row_bytes // chunk * chunk, n)
  return [(min(lo, n - rows), min(lo, n - rows) + rows) for lo in range(0, n, rows)]


@functools.partial(jax.jit, donate_argnums=0)
def _write_rows(out: jax.Array, piece: jax.Array, start: jax.Array) -> jax.Array:
  return jax.lax.dynamic_update_slice_in_dim(out, piece, start, axis=0)  # in place


def _read_in_slices(state_dir, name: str, target) -> Optional[jax.Array]:
  """Array `name`, read ~READ_BACK_BYTES at a time into a device array updated
  in place: the array plus two slices at once, where Orbax holds the array
  twice (its host buffer, then the device copy). None where this does not
  apply (a sharded target, chunks bigger than a slice: checkpoints written
  before `_save_args`), or the array cannot be opened: Orbax reads it then."""
  sharding = getattr(target, "sharding", None)
  if not np.shape(target) or not isinstance(sharding, jax.sharding.SingleDeviceSharding):
    return None
  try:
    stored = _open_array(state_dir, name)
  except ValueError:
    return None
  if (tuple(stored.shape) != tuple(target.shape) or stored.dtype.numpy_dtype != target.dtype
      or stored.shape[0] >= 2**31):  # int32 starts
    return None
  slices = _row_slices(stored)
  if slices is None:
    return None
  out = jnp.zeros(target.shape, target.dtype, device=sharding)
  for lo, hi in slices:
    piece = jax.device_put(stored[lo:hi].read().result(), sharding)
    out = _write_rows(out, piece, np.int32(lo))
  return jax.block_until_ready(out)


def _read_arrays(state_dir, target: Any, skip: frozenset = frozenset()) -> Any:
  """`ocp.StandardCheckpointer().restore(state_dir, target)`, the arrays
  over READ_ALONE_BYTES one restore at a time; the leaves named in `skip`
  are not read (None in the result).

  Orbax reads each array into a host buffer, then copies it to the device:
  read together, a flop state's arrays held twice the state at once (its
  0.92 GB and as much in buffers; bench/RESULTS.md, "A checkpoint's arrays
  read one at a time"). Each big array is read alone, a slice at a time
  where it can be (`_read_in_slices`), else by Orbax (the others are
  `ocp.PLACEHOLDER`s, not read) and its buffer freed before the next.
  """
  leaves, treedef = jax.tree.flatten(target)
  names = list(_named_leaves(target))
  read = [i for i, name in enumerate(names) if name not in skip]
  alone = [i for i in read if _nbytes(leaves[i]) > READ_ALONE_BYTES]
  rest = [i for i in read if i not in alone]
  groups = [[i] for i in alone] + ([rest] if rest else [])
  if len(groups) <= 1 and len(read) == len(leaves):
    with ocp.StandardCheckpointer() as checkpointer:
      state = jax.block_until_ready(checkpointer.restore(state_dir, target))
    _release_buffers(target)
    return state
  args = jax.tree.leaves(ocp.checkpoint_utils.construct_restore_args(target))
  out = [None] * len(leaves)
  for group in groups:
    if len(group) == 1 and group[0] in alone:
      out[group[0]] = _read_in_slices(state_dir, names[group[0]], leaves[group[0]])
      if out[group[0]] is not None:
        _release_buffers(leaves[group[0]])  # TensorStore's slices
        continue
    pick = lambda values, group=group: treedef.unflatten(
        [v if i in group else ocp.PLACEHOLDER for i, v in enumerate(values)])
    with ocp.PyTreeCheckpointer() as checkpointer:
      read = checkpointer.restore(state_dir, args=ocp.args.PyTreeRestore(
          item=pick(leaves), restore_args=pick(args)))
    read = jax.tree.leaves(read, is_leaf=lambda x: x is ocp.PLACEHOLDER)
    for i in group:
      out[i] = jax.block_until_ready(read[i])
    del read
    _release_buffers([leaves[i] for i in group])
  return treedef.unflatten(out)


def _release_buffers(arrays: Any) -> None:
  """Returns the host buffers of a restore or save of `arrays` to the system:
  freed with Orbax's reference cycles, they would stay in glibc's heap. Small
  states skip the full collection (the launcher saves after every chunk)."""
  if _nbytes(arrays) > READ_ALONE_BYTES:
    gc.collect()
    heap.release_free_memory()


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
  """Bit for bit, so NaN payloads and -0.0 count too."""
  a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
  return a.shape == b.shape and np.array_equal(a.reshape(-1).view(np.uint8),
                                               b.reshape(-1).view(np.uint8))


def _read_json(path: str) -> Optional[dict]:
  with open(path, "rb") as f:
    value = json.loads(f.read())
  return value if isinstance(value, dict) else None


def _is_tmp(name: str) -> bool:
  return _TMP_MARK in name


class CheckpointStore:
  """Saves and restores a pytree of arrays (e.g. `SolverState`) resiliently.

  Usage:
    with CheckpointStore(workdir + "/checkpoints", extra_locations=[cache_dir],
                         fingerprint=make_fingerprint(...)) as store:
      state, report = store.restore(abstract_state)
      state = solver.init() if state is None else state
      ...
      store.save(state, iteration, {"elapsed_seconds": t, "exploitability": e})

  Args:
    directory: the primary directory (relative paths are resolved); saves go here.
    extra_locations: directories searched on restore, in order of preference after
      the primary. They are only read: never modified, never deleted from.
    fingerprint: `make_fingerprint(...)` of this run; other fingerprints are refused.
    mirror_to: optional directory every verified save is also copied to. It is
      searched on restore too; retention there removes only this fingerprint's
      step directories.
    max_to_keep: how many newest checkpoints to keep (None keeps all; at least 1).
    keep_best: additionally keep this many with the lowest recorded exploitability.
  """

  def __init__(self, directory: str, extra_locations: Iterable[str] = (), *,
               fingerprint: str, mirror_to: Optional[str] = None,
               max_to_keep: Optional[int] = 3, keep_best: int = 1):
    if not isinstance(fingerprint, str) or not fingerprint:
      raise ValueError("fingerprint must be a non-empty string (see make_fingerprint)")
    if max_to_keep is not None and max_to_keep < 1:
      raise ValueError("max_to_keep must be at least 1 (the newest is never evicted)")
    self.directory = os.path.abspath(os.fspath(directory))
    self.mirror_to = os.path.abspath(os.fspath(mirror_to)) if mirror_to else None
    if self.mirror_to == self.directory:
      raise ValueError("mirror_to must differ from the primary directory")
    extras = [os.path.abspath(os.fspath(p)) for p in extra_locations]
    if self.mirror_to:
      extras.append(self.mirror_to)
    self.extra_locations = tuple(
        p for i, p in enumerate(extras) if p != self.directory and p not in extras[:i])
    self.fingerprint = fingerprint
    self.max_to_keep = max_to_keep
    self.keep_best = keep_best
    # Primary step directories that restore found unusable or foreign; the next
    # save moves them aside so that they neither block Orbax nor get retried.
    self._to_quarantine = set()

  # ----------------------------------------------------------------- restore

  def restore(self, abstract_state: Any, check=None, skip: Iterable[str] = ()) -> tuple:
    """Restores the best usable checkpoint.

    Args:
      abstract_state: a pytree of `jax.ShapeDtypeStruct`s or arrays giving the
        expected structure, shapes and dtypes (and shardings).
      check: optional `check(state, iteration) -> None or reason`, run on each
        loaded state: a reason rejects the candidate (as unusable) and the next
        one is tried. It is what catches the damage a checksum mismatch only
        hints at (the mismatch alone is a minor issue).
      skip: names of leaves (as the metadata's `arrays` names them, e.g.
        'regrets') checked like the others but not read: None in the state,
        for readers that never use them (a flop's query reads its strategy
        sums alone: half the state). A candidate's verdict then rests on the
        leaves read.

    Returns:
      (state, report): the restored pytree, or None when every candidate failed
      (then `report.started_fresh` is True), and a `RestoreReport`.
    """
    _quiet_closed_loops()
    target = abstract(abstract_state)
    records = []
    for index, location in enumerate((self.directory,) + self.extra_locations):
      records.extend(self._discover(location, index, target))
      # Other runs' steps moved aside by a save of the same step number.
      foreign = os.path.join(location, _FOREIGN_DIR)
      for name in sorted(os.listdir(foreign)) if os.path.isdir(foreign) else ():
        records.extend(self._discover(os.path.join(foreign, name), index, target))

    viable = sorted((r for r in records if r.status == "skipped_not_tried"),
                    key=self._quality_key)
    logging.info("checkpoint restore: %d candidate(s) in %d location(s), %d viable",
                 len(records), 1 + len(self.extra_locations), len(viable))
    multiprocess = _multiprocess()
    if multiprocess:
      viable = self._agree_on_candidates(records, viable)
    state, chosen = None, None
    for i, record in enumerate(viable, 1):
      logging.info("attempting %d/%d: %s (iteration %d)", i, len(viable),
                   record.path, record.iteration)
      # Loading is collective: every process tries the same candidate, or none.
      if multiprocess and not _everywhere(record.status == "skipped_not_tried"):
        if record.status == "skipped_not_tried":
          self._reject(record, "unusable on another process", broken=False)
        continue
      state = self._load(record, target, frozenset(skip))
      if state is not None and check is not None:
        why = check(state, record.iteration)
        if why:
          self._reject(record, f"loaded, but {why}")
          state = None
      if multiprocess and not _everywhere(state is not None):
        if state is not None:
          state = None
          self._reject(record, "failed to load on another process", broken=False)
        continue
      if state is not None:
        chosen = record
        break

    for record in records:
      if record.broken and record.location == self.directory:
        self._to_quarantine.add(record.path)
    tried_or_viable = {id(r) for r in viable}
    ordered = viable + [r for r in records if id(r) not in tried_or_viable]
    if chosen is None:
      (logging.warning if records else logging.info)(
          "no usable checkpoint among %d candidate(s) (%d rejected): starting fresh",
          len(records), len([r for r in records if r.status != "skipped_not_tried"]))
      return None, RestoreReport(None, None, None, ordered, True)
    logging.info("restored iteration %d from %s%s", chosen.iteration, chosen.path,
                 " with warnings: " + "; ".join(chosen.warnings) if chosen.warnings else "")
    return state, RestoreReport(chosen.path, chosen.iteration, chosen.metadata,
                                ordered, False)

  def load(self, path: str, abstract_state: Any) -> Any:
    """Loads the one step directory `path` (e.g. what `save` just returned),
    verified like a restore candidate; raises CheckpointError if it does not
    load. Unlike `restore` it scans nothing else, so it repeats no warning
    about the other candidates."""
    _quiet_closed_loops()
    target = abstract(abstract_state)
    path = os.path.abspath(path)
    record = self._inspect(path, os.path.dirname(path), 0, target)
    state = None
    if record.status == "skipped_not_tried":
      state = self._load(record, target)
    if state is None:
      raise CheckpointError(f"checkpoint {path} does not load: {'; '.join(record.reasons)}")
    return state

  def reads_back_as(self, path: str, state: Any) -> Optional[bool]:
    """Whether the step directory `path` (what `save` just returned) reads
    back, array by array, byte for byte as `state`; None where it cannot tell
    here (several processes: no host holds the arrays whole).

    A check that the save loads without loading a second state beside the
    one in memory: it reads `READ_BACK_BYTES` at a time through TensorStore,
    which Orbax reads with too (bench/RESULTS.md, "A save holds no copy of the
    state"). The structure, shapes and dtypes were checked by `save` already.
    A state sharded over several devices of this process is gathered to host.
    """
    if _multiprocess():
      return None
    for name, leaf in _named_leaves({_STATE_LEAF: state}).items():
      want = np.asarray(jax.device_get(leaf))  # a view on CPU
      try:
        stored = _open_array(os.path.join(path, _STATE_ITEM), name)
        if tuple(stored.shape) != want.shape or stored.dtype.numpy_dtype != want.dtype:
          return False
        if want.ndim == 0:
          if not _same_bytes(stored.read().result(), want):
            return False
          continue
        for lo, hi in _row_slices(stored) or [(0, want.shape[0])]:
          if not _same_bytes(stored[lo:hi].read().result(), want[lo:hi]):
            return False
      except ValueError as e:  # TensorStore's errors: missing, undecodable
        logging.warning("checkpoint %s: %s does not read back: %s", path, name,
                        _one_line(e))
        return False
    return True

  def _agree_on_candidates(self, records: list, viable: list) -> list:
    """Process 0's ordered candidates, as this process's records.

    Every process sees the same shared directories, but a save or removal in
    flight can make them disagree; they must try the same candidates in the
    same order, since each load is collective.
    """
    ours = np.asarray([(r.location_index, r.iteration) for r in viable],
                      np.int32).reshape(-1, 2)
    count = int(_from_primary(np.int32(len(ours))))
    agreed = _from_primary(ours if _primary() else np.zeros((count, 2), np.int32)) if (
        count) else ours[:0]
    locations = (self.directory,) + self.extra_locations
    by_key = {(r.location_index, r.iteration): r for r in viable}
    out = []
    for index, iteration in agreed.tolist():
      record = by_key.get((index, iteration))
      if record is None:
        record = CandidateRecord(os.path.join(locations[index], str(iteration)),
                                 locations[index], iteration, location_index=index)
        self._reject(record, "not visible from this process", broken=False)
        records.append(record)
      out.append(record)
    return out

  @staticmethod
  def _quality_key(r: CandidateRecord) -> tuple:
    # Candidates whose fingerprint cannot be checked at all (both metadata copies
    # lost) are tried only after every verified one: a foreign state must never be
    # loaded silently, but it beats starting fresh.
    exploitability = r.exploitability if r.exploitability is not None else math.inf
    return (not r.fingerprint_known, -r.iteration, exploitability,
            bool(r.warnings), r.location_index)

  def _discover(self, location: str, index: int, target: Any) -> list:
    """Lists and pre-verifies (without reading arrays) the steps in `location`."""
    try:
      names = sorted(os.listdir(location))
    except FileNotFoundError:
      logging.info("checkpoint location %s does not exist", location)
      return []
    except OSError as e:
      logging.warning("cannot list checkpoint location %s: %s", location, e)
      return []
    records = []
    for name in names:
      path = os.path.join(location, name)
      if _is_tmp(name):
        step = re.match(r"^(\d+)", name)
        record = CandidateRecord(path, location, int(step.group(1)) if step else None,
                                 location_index=index)
        self._reject(record, "temporary directory of an unfinished Orbax save")
      elif _STEP_RE.match(name):
        record = self._inspect(path, location, index, target)
      else:
        continue
      records.append(record)
    return records

  def _reject(self, record: CandidateRecord, reason: str, status="rejected",
              broken=True):
    record.status = status
    record.broken = broken
    record.reasons.append(reason)
    logging.warning("%s checkpoint %s: %s",
                    "refusing foreign" if status == "foreign" else "rejected",
                    record.path, reason)

  def _warn(self, record: CandidateRecord, warning: str):
    record.warnings.append(warning)
    record.reasons.append(warning)
    logging.warning("checkpoint %s: %s", record.path, warning)

  def _inspect(self, path: str, location: str, index: int,
               target: Any) -> CandidateRecord:
    """Checks everything but the array bytes; sets status/reasons/warnings."""
    record = CandidateRecord(path, location, int(os.path.basename(path)),
                             location_index=index)
    if not os.path.isdir(path):
      self._reject(record, "not a directory")
      return record
    if not os.listdir(path):
      self._reject(record, "empty directory")
      return record
    state_dir = os.path.join(path, _STATE_ITEM)
    if not os.path.isdir(state_dir):
      self._reject(record, f"no '{_STATE_ITEM}' item")
      return record

    # Fingerprint: ours in meta/, with a copy in Orbax's step metadata.
    meta = None
    try:
      meta = ocp.JsonCheckpointHandler().restore(epath.Path(path) / _META_ITEM)
      if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    except Exception as e:  # pylint: disable=broad-except
      meta = None
      self._warn(record, f"metadata missing or unreadable ({_one_line(e)})")
    custom = {}
    try:
      step_meta = _read_json(os.path.join(path, _ORBAX_STEP_METADATA)) or {}
      custom = (step_meta.get("custom_metadata") or {}).get(_CUSTOM_KEY) or {}
    except Exception as e:  # pylint: disable=broad-except
      self._warn(record, f"Orbax step metadata missing or unreadable ({_one_line(e)})")
    fingerprints = {f for f in ((meta or {}).get("fingerprint"), custom.get("fingerprint"))
                    if f is not None}
    record.metadata = meta  # a foreign record keeps it too: callers may say what differs
    record.fingerprint = sorted(fingerprints)[0] if fingerprints else None
    if fingerprints - {self.fingerprint}:
      self._reject(record, f"fingerprint {sorted(fingerprints)[0][:12]}... does not "
                   f"match this run's {self.fingerprint[:12]}...", status="foreign",
                   broken=False)
      return record
    record.fingerprint_known = bool(fingerprints)
    if meta is not None:
      if meta.get("iteration") not in (None, record.iteration):
        self._warn(record, f"metadata says iteration {meta.get('iteration')}, "
                   f"directory says {record.iteration}")
      exploitability = meta.get("exploitability")
      if isinstance(exploitability, (int, float)) and math.isfinite(exploitability):
        record.exploitability = float(exploitability)
      if not meta.get("arrays"):
        self._warn(record, "no per-array checksums recorded")

    # Structure, shapes and dtypes as Orbax recorded them (Orbax casts dtypes
    # silently on restore, so this is the only dtype check we get).
    try:
      stored = ocp.StandardCheckpointHandler().metadata(epath.Path(state_dir))
      stored = _named_leaves(getattr(stored, "tree", stored))
    except Exception as e:  # pylint: disable=broad-except
      self._reject(record, f"array metadata unreadable ({_one_line(e)})")
      return record
    expected = _named_leaves(target)
    wrapped = {f"{_STATE_LEAF}.{k}" for k in expected} | {_FINGERPRINT_LEAF}
    if set(stored) == wrapped:
      record.layout = 2
    elif set(stored) == set(expected):
      record.layout = 1
    else:
      self._reject(record, f"structure differs: stored leaves {sorted(stored)}, "
                   f"expected {sorted(expected)}", broken=False)
      return record
    if not fingerprints:
      if record.layout == 1:
        self._reject(record, "its identity cannot be established: both metadata copies "
                     "are unreadable and this format-1 checkpoint keeps no fingerprint in "
                     "its arrays; left in place, never loaded", status="unverified",
                     broken=False)
        return record
      record.fingerprint_known = True  # the arrays carry it; checked on load
      self._warn(record, "metadata lost: identity taken from the fingerprint saved in "
                 "the arrays")
    for name, want in expected.items():
      got = stored[name if record.layout == 1 else f"{_STATE_LEAF}.{name}"]
      got_shape, got_dtype = tuple(getattr(got, "shape", ())), getattr(got, "dtype", None)
      if got_shape != tuple(want.shape):
        self._reject(record, f"wrong shape for {name}: stored {got_shape}, "
                     f"expected {tuple(want.shape)}", broken=False)
        return record
      if got_dtype is not None and np.dtype(got_dtype) != np.dtype(want.dtype):
        self._reject(record, f"wrong dtype for {name}: stored {np.dtype(got_dtype)}, "
                     f"expected {np.dtype(want.dtype)}", broken=False)
        return record
    return record

  def _load(self, record: CandidateRecord, target: Any,
            skip: frozenset = frozenset()) -> Optional[Any]:
    """Reads the arrays (not those named in `skip`); returns None (and
    rejects) if unusable."""
    state_dir = epath.Path(record.path) / _STATE_ITEM
    try:
      if record.layout == 1:
        state = _read_arrays(state_dir, target, skip)
      else:
        saved = _read_arrays(state_dir, {
            _STATE_LEAF: target, _FINGERPRINT_LEAF: np.zeros(64, np.uint8)},
                             frozenset(f"{_STATE_LEAF}.{name}" for name in skip))
        state = saved[_STATE_LEAF]
      jax.block_until_ready(state)
    except Exception as e:  # pylint: disable=broad-except
      empty = [os.path.relpath(os.path.join(d, f), record.path)
               for d, _, files in os.walk(state_dir) for f in files
               if os.path.getsize(os.path.join(d, f)) == 0]
      hint = f" (zero-byte files: {', '.join(empty)})" if empty else ""
      self._reject(record, f"unreadable: {_root_cause(e)}{hint}")
      return None
    if record.layout == 2:
      proven = record.fingerprint = _fingerprint_text(saved[_FINGERPRINT_LEAF])
      if proven != self.fingerprint:
        self._reject(record, f"the fingerprint saved in its arrays ({proven[:12]}...) does "
                     f"not match this run's {self.fingerprint[:12]}...", status="foreign",
                     broken=False)
        return None
    recorded = (record.metadata or {}).get("arrays") or {}
    bad = []
    for name, leaf in _named_leaves(state).items():
      # None on either side: an array spread over processes (see _sha256).
      want = recorded[name].get("checksum", "") if name in recorded else None
      got = None if want is None else _sha256(leaf)
      if got is not None and want != got:
        bad.append(name)
    if bad:
      self._warn(record, f"checksum mismatch in {', '.join(sorted(bad))}: "
                 "loaded anyway (minor issue)")
    record.status = "warned" if record.warnings else "restored"
    return state

  # -------------------------------------------------------------------- save

  def save(self, state: Any, iteration: int, metadata: Optional[dict] = None) -> str:
    """Saves `state` as step `iteration`; returns the step directory.

    Blocks until the checkpoint is committed and verified. `metadata` is a JSON
    object recorded alongside (e.g. elapsed_seconds, exploitability); the store
    adds the fingerprint, iteration, per-array checksums, library versions, wall
    time and format version.

    Raises:
      CheckpointWriteError: the primary directory cannot be written (read-only,
        full, not a directory); existing checkpoints are left untouched.
    """
    step = int(iteration)
    if step < 0:
      raise ValueError(f"iteration must be non-negative, got {iteration}")
    self._check_writable(step)  # every process: each writes its own shards
    if _primary():
      self._clear_the_way(step, state)
    self._to_quarantine.clear()
    _barrier(f"cleared.{step}")

    leaves = _named_leaves(state)
    # Round-trip through JSON now, so bad metadata is a TypeError, not a failed write.
    meta = json.loads(json.dumps(dict(metadata or {}), default=_json_default))
    meta.update(
        fingerprint=self.fingerprint,
        iteration=step,
        format_version=FORMAT_VERSION,
        state_layout=2,
        wall_time=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        library_versions=_library_versions(),
        arrays={name: {"shape": list(np.shape(leaf)), "dtype": np.dtype(leaf.dtype).name,
                       "checksum": _sha256(leaf)} for name, leaf in leaves.items()})
    custom = {_CUSTOM_KEY: {"fingerprint": self.fingerprint, "iteration": step,
                            "format_version": FORMAT_VERSION}}
    step_dir = os.path.join(self.directory, str(step))
    before = set(os.listdir(self.directory))
    try:
      with ocp.CheckpointManager(self.directory, options=self._manager_options()) as m:
        # force=True: Orbax would otherwise skip a step at or below the one it
        # believes is latest (e.g. a higher valid step after a fallback).
        m.save(step, args=ocp.args.Composite(**{
            _STATE_ITEM: _save_args({
                _STATE_LEAF: state,
                _FINGERPRINT_LEAF: _fingerprint_array(self.fingerprint)}),
            _META_ITEM: ocp.args.JsonSave(meta)}), custom_metadata=custom, force=True)
        m.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      if _primary():
        self._remove_partial(step, before)
      raise _write_failure(step, self.directory, e) from e
    finally:
      _release_buffers(state)  # TensorStore's copies of what it wrote
    failure = None
    if _primary():
      try:
        self._verify_saved(step_dir, state)
      except CheckpointWriteError as e:
        failure = e
    if not _from_primary(np.int32(failure is None)):
      raise failure or CheckpointWriteError(
          f"checkpoint {step_dir} failed verification after save (on process 0)")
    logging.info("saved checkpoint %s", step_dir)
    if _primary():
      self._apply_retention(self.directory, step)
      if self.mirror_to:
        self._mirror(step_dir, step, state)
    _barrier(f"saved.{step}")
    return step_dir

  @staticmethod
  def _manager_options() -> ocp.CheckpointManagerOptions:
    return ocp.CheckpointManagerOptions(
        max_to_keep=None,  # retention is ours: newest K plus best, never the newest
        create=True,
        enable_async_checkpointing=False,
        # Skip reading every step's metadata/metrics on construction: a corrupt
        # metrics file would otherwise make the constructor raise.
        lightweight_initialize=True,
        prevent_write_metrics=True,
        cleanup_tmp_directories=False)

  def _check_writable(self, step: int):
    """Fails fast, with one line, before Orbax starts writing anything."""
    # Host name too: processes of a multi-host job share the directory, not pids.
    probe = os.path.join(self.directory,
                         f".write_probe.{socket.gethostname()}.{os.getpid()}")
    try:
      os.makedirs(self.directory, exist_ok=True)
      fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
      try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
      finally:
        os.close(fd)
    except OSError as e:
      raise _write_failure(step, self.directory, e) from e
    finally:
      try:
        os.remove(probe)
      except OSError:
        pass

  def _establish_identity(self, record: CandidateRecord, target: Any):
    """Reads the fingerprint from the arrays when no metadata copy has it, so
    that a step about to be replaced is known as ours or another run's."""
    if record.status == "skipped_not_tried" and record.fingerprint is None:
      self._load(record, target)  # sets status "foreign" (or "rejected") if not ours

  @staticmethod
  def _set_aside(path: str, fingerprint: Optional[str]):
    """Moves another run's step directory to `foreign/<fingerprint>/` next to
    it, where every restore still finds it (its own run resumes from there)."""
    folder = os.path.join(os.path.dirname(path), _FOREIGN_DIR,
                          (fingerprint or "unverified")[:16])
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, os.path.basename(path))
    if os.path.lexists(dest):  # an older copy of the same step: keep the newer
      CheckpointStore._quarantine(dest, "superseded by a newer step of the same run")
    os.rename(path, dest)
    logging.info("moved another run's checkpoint %s to %s", path, dest)

  @staticmethod
  def _quarantine(path: str, why: str):
    """Moves a step directory aside, into `rejected/` next to it (never deletes)."""
    rejected = os.path.join(os.path.dirname(path), _REJECTED_DIR)
    os.makedirs(rejected, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    dest = os.path.join(rejected, f"{os.path.basename(path)}.{stamp}")
    n = 0
    while os.path.exists(dest):
      n += 1
      dest = os.path.join(rejected, f"{os.path.basename(path)}.{stamp}.{n}")
    os.rename(path, dest)
    logging.warning("moved %s aside to %s (%s)", path, dest, why)

  def _clear_the_way(self, step: int, state: Any):
    """Moves aside what would block or confuse a save of `step` in the primary."""
    target = abstract(state)
    for path in sorted(self._to_quarantine):
      if os.path.lexists(path):
        self._quarantine(path, "rejected during restore")
    self._to_quarantine.clear()
    for name in os.listdir(self.directory):
      path = os.path.join(self.directory, name)
      if _is_tmp(name):
        self._quarantine(path, "temporary directory of an unfinished save")
      elif _STEP_RE.match(name) and int(name) >= step:
        record = self._inspect(path, self.directory, 0, target)
        if int(name) == step:
          self._establish_identity(record, target)
        if record.broken:
          self._quarantine(path, "; ".join(record.reasons))
        elif int(name) == step and record.status in ("foreign", "unverified"):
          self._set_aside(path, record.fingerprint)
        elif int(name) == step:
          self._quarantine(path, "superseded by a new save of the same step")

  def _remove_partial(self, step: int, before: set):
    """Removes only what this failed save created (its temporary directories)."""
    try:
      for name in set(os.listdir(self.directory)) - before:
        if name == str(step) or (_is_tmp(name) and name.startswith(f"{step}.")):
          shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
    except OSError:
      pass

  def _verify_saved(self, step_dir: str, state: Any):
    record = self._inspect(step_dir, self.directory, 0, abstract(state))
    problems = list(record.reasons)
    for d, _, files in os.walk(os.path.join(step_dir, _STATE_ITEM)):
      problems += [f"zero-byte file {f}" for f in files
                   if os.path.getsize(os.path.join(d, f)) == 0]
    if record.status != "skipped_not_tried" or problems:
      if os.path.isdir(step_dir):
        self._quarantine(step_dir, "failed verification after save")
      raise CheckpointWriteError(
          f"checkpoint {step_dir} failed verification after save: {'; '.join(problems)}")

  def _own_steps(self, location: str) -> dict:
    """{step: exploitability or None} for this fingerprint's steps in `location`."""
    own = {}
    for name in os.listdir(location):
      if not _STEP_RE.match(name):
        continue
      try:
        meta = _read_json(os.path.join(location, name, _META_ITEM, "metadata")) or {}
      except (OSError, ValueError):
        continue
      if meta.get("fingerprint") == self.fingerprint:
        e = meta.get("exploitability")
        own[int(name)] = float(e) if isinstance(e, (int, float)) and math.isfinite(e) else None
    return own

  def _apply_retention(self, location: str, just_saved: int):
    """Keeps the newest `max_to_keep`, the `keep_best` lowest-exploitability steps
    and the step just saved (even if higher steps exist); removes only steps with
    this store's fingerprint."""
    if self.max_to_keep is None:
      return
    own = self._own_steps(location)
    keep = set(sorted(own)[-self.max_to_keep:]) | {just_saved}
    scored = sorted((e, -s) for s, e in own.items() if e is not None)
    keep |= {-s for _, s in scored[:self.keep_best]}
    for s in sorted(set(own) - keep):
      shutil.rmtree(os.path.join(location, str(s)), ignore_errors=True)
      logging.info("retention: removed checkpoint %d from %s", s, location)

  def _mirror(self, step_dir: str, step: int, state: Any):
    """Copies a verified step to `mirror_to` atomically; failures only log."""
    name = os.path.basename(step_dir)
    final = os.path.join(self.mirror_to, name)
    tmp = os.path.join(self.mirror_to, f"{name}{_TMP_MARK}-mirror-{os.getpid()}")
    try:
      os.makedirs(self.mirror_to, exist_ok=True)
      shutil.rmtree(tmp, ignore_errors=True)
      shutil.copytree(step_dir, tmp)
      if os.path.lexists(final):
        old = self._inspect(final, self.mirror_to, 0, abstract(state))
        self._establish_identity(old, abstract(state))
        if old.status in ("foreign", "unverified"):
          self._set_aside(final, old.fingerprint)
        else:
          self._quarantine(final, "superseded by a new save of the same step")
      os.rename(tmp, final)
      self._apply_retention(self.mirror_to, step)
    except OSError as e:
      shutil.rmtree(tmp, ignore_errors=True)
      logging.error("mirroring %s to %s failed: %s", step_dir, self.mirror_to, e)

  # --------------------------------------------------------------- lifecycle

  def close(self):
    """Nothing is held between calls (saves are synchronous); kept for symmetry."""

  def __enter__(self) -> "CheckpointStore":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
