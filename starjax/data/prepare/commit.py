"""Where a `data prepare` run writes, and how its output appears all at once.

Everything is written to a hidden staging directory next to --output
(`.<name>.prepare-staging`); only when the manifest is written is the staging directory renamed
to --output (one rename). An interrupted run leaves only the staging directory, which no task
reads and the next run deletes. --output must be absent, empty, or the output of the very same
run (same input, config, opt-out list and code: then there is nothing to do); anything else is
an error and nothing in it is touched.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from typing import Optional

from starjax.data.errors import DataError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def staging_dir(output: str) -> str:
  output = os.path.abspath(output)
  return os.path.join(os.path.dirname(output), f".{os.path.basename(output)}.prepare-staging")


def existing_run(output: str, identity: str) -> Optional[dict]:
  """The manifest of the same run already in `output`, None if `output` is absent or empty.

  Raises DataError if `output` holds anything else (another run's data, or other files).
  """
  if not os.path.exists(output):
    return None
  if not os.path.isdir(output):
    raise DataError(f"--output={output}: exists and is not a directory; pass a new directory")
  entries = sorted(os.listdir(output))
  if not entries:
    return None
  path = os.path.join(output, MANIFEST)
  manifest = None
  if os.path.isfile(path):
    try:
      with open(path) as f:
        manifest = json.load(f)
    except ValueError:
      manifest = None
  if manifest and manifest.get("identity") == identity:
    return manifest
  if manifest:
    raise DataError(
        f"--output={output}: already holds another `data prepare` run (input "
        f"{manifest.get('input', {}).get('fingerprint', '?')[:12]}…, a different input, config, "
        "opt-out list or code version). Nothing was changed: pass a new --output, or delete "
        "that directory to replace it")
  raise DataError(f"--output={output}: not empty ({', '.join(entries[:3])}"
                  f"{', …' if len(entries) > 3 else ''}) and not a `data prepare` output. Nothing "
                  "was changed: pass a new or empty directory")


def fresh_staging(output: str) -> str:
  """An empty staging directory for `output` (a previous interrupted run's is removed)."""
  staging = staging_dir(output)
  if os.path.exists(staging):
    shutil.rmtree(staging)
  os.makedirs(staging)
  return staging


def file_digests(root: str, patterns: tuple[str, ...]) -> dict[str, str]:
  """{relative path: sha256} of the files under `root` matching the glob patterns, sorted."""
  out = {}
  for pattern in patterns:
    for path in glob.glob(os.path.join(root, pattern), recursive=True):
      if os.path.isfile(path):
        with open(path, "rb") as f:
          out[os.path.relpath(path, root)] = hashlib.file_digest(f, "sha256").hexdigest()
  return dict(sorted(out.items()))


def fingerprint(digests: dict[str, str]) -> str:
  h = hashlib.sha256()
  for relative, digest in sorted(digests.items()):
    h.update(f"{relative}\0{digest}\0".encode())
  return h.hexdigest()


def write_manifest(staging: str, manifest: dict) -> None:
  with open(os.path.join(staging, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
    f.write("\n")


def commit(staging: str, output: str) -> None:
  """Moves the finished staging directory to `output` (absent or empty) in one rename."""
  output = os.path.abspath(output)
  if os.path.isdir(output) and not os.listdir(output):
    os.rmdir(output)
  os.makedirs(os.path.dirname(output), exist_ok=True)
  os.rename(staging, output)
