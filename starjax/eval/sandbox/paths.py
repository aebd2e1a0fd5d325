"""Which host paths a sandbox sees: the read-only system, and the toolchains bound beside it."""

from __future__ import annotations

import functools
import os
import shutil
import sys

# Where the program's working directory appears inside the sandbox.
WORKDIR = "/sandbox"
# Host directories bound read-only into every sandbox, when present.
SYSTEM_DIRS = ("/usr", "/etc", "/opt")
# Top-level names that are symlinks into /usr on merged-/usr systems and directories elsewhere.
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@functools.lru_cache(maxsize=None)
def _system_roots() -> tuple[str, ...]:
  return SYSTEM_DIRS + tuple(os.path.realpath(p) for p in SYSTEM_LINKS if os.path.exists(p))


def under_system_dirs(path: str) -> bool:
  """Whether `path` is already visible in every sandbox (under /usr, /etc, /opt or a /lib link)."""
  real = os.path.realpath(path)
  return any(real == root or real.startswith(root.rstrip("/") + "/") for root in _system_roots())


def install_dir(binary: str) -> str | None:
  """The directory to bind for a toolchain binary found on the host PATH, or None if none is needed.

  `…/versions/3.11.7/bin/python3` → `…/versions/3.11.7` (the install prefix, which also holds
  its libraries); a binary outside a `bin/` directory → its own directory.
  """
  found = shutil.which(binary)
  if not found or under_system_dirs(found):
    return None
  folder = os.path.dirname(os.path.realpath(found))
  return os.path.dirname(folder) if os.path.basename(folder) == "bin" else folder


@functools.lru_cache(maxsize=None)
def interpreter_paths(executable: str = sys.executable) -> tuple[str, ...]:
  """Host paths a Python interpreter needs inside the sandbox: its prefixes (venv and base).

  Only this process's own prefixes are known; for another interpreter, its install prefix.
  """
  paths = {os.path.dirname(os.path.dirname(os.path.realpath(executable)))}
  if executable == sys.executable:
    paths |= {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
  return tuple(sorted(p for p in paths if not under_system_dirs(p)))


def bound_paths(extra: list[str] | tuple[str, ...]) -> list[str]:
  """The host paths to bind read-only besides the system: `extra`, real, minus those the system
  directories or another entry already cover; sorted."""
  paths = sorted({os.path.realpath(p) for p in extra})
  return [p for p in paths if not under_system_dirs(p)
          and not any(p.startswith(q + "/") for q in paths)]


def system_links() -> dict[str, str]:
  """Top-level link name → its target, for the SYSTEM_LINKS that are symlinks on this host."""
  return {link: os.readlink(link) for link in SYSTEM_LINKS if os.path.islink(link)}


def system_dirs() -> list[str]:
  """SYSTEM_DIRS and the SYSTEM_LINKS that are real directories here, those that exist."""
  return ([folder for folder in SYSTEM_DIRS if os.path.isdir(folder)] +
          [link for link in SYSTEM_LINKS if not os.path.islink(link) and os.path.isdir(link)])
