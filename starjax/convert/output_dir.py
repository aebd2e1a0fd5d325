"""All-or-nothing output directories: write into a temporary sibling, rename at the end.

A conversion that fails halfway (a missing tensor, a full disk, Ctrl-C) leaves the output
path exactly as it was; a half-written checkpoint that loads would be worse than none.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import tempfile
from typing import Iterator, Sequence

from starjax.convert.errors import ConversionError


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


@contextlib.contextmanager
def atomic_directory(path: str, *, replace_files: Sequence[str] | None = None) -> Iterator[str]:
  """Yields a temporary directory next to `path` that becomes `path` if the block succeeds.

  replace_files: None requires `path` to be absent or empty, and the temporary directory is
    renamed onto it. Otherwise `path` may hold other files (a tokenizer, say): files matching
    these glob patterns are removed from it (a stale shard set must not mix with the new one),
    then the new files are moved in.
  On any exception the temporary directory is deleted and `path` is untouched.
  """
  path = os.path.abspath(path)
  if os.path.exists(path) and not os.path.isdir(path):
    raise ConversionError(f"{path} exists and is a file; give a directory")
  if replace_files is None and os.path.isdir(path) and os.listdir(path):
    raise ConversionError(f"{path} exists and is not empty; choose a new directory or remove "
                          f"it (nothing was written)")
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
  try:
    yield tmp
    if replace_files is None:
      if os.path.isdir(path):
        os.rmdir(path)  # empty, checked above
      os.replace(tmp, path)
    else:
      os.makedirs(path, exist_ok=True)
      for name in os.listdir(path):
        if any(fnmatch.fnmatch(name, pattern) for pattern in replace_files):
          os.remove(os.path.join(path, name))
      for name in os.listdir(tmp):
        os.replace(os.path.join(tmp, name), os.path.join(path, name))
      os.rmdir(tmp)
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
