"""Source trees on this machine and, for each file in them, the package it belongs to and that
package's license.

A tree knows how to find the owner of its files: Python distributions through their RECORD and
metadata, the standard library through its LICENSE.txt, Debian packages through dpkg's file lists
and /usr/share/doc/<package>/copyright, Node packages through package.json, and any other
directory (`--roots`) through the nearest LICENSE/COPYING file or package.json above each file.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import importlib.metadata
import json
import os
import re
import site
import sysconfig
from typing import Iterator, Optional

from starjax.data import licenses
from starjax.data.languages import language_of
from starjax.data.licenses import License

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".hg", ".svn"})
_LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|unlicense)([-._].*)?$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SourceFile:
  path: str  # absolute path on this machine
  language: str
  package: str  # becomes `max_stars_repo_name`
  repo_path: str  # path inside the package: `max_stars_repo_path`
  license: Optional[License]  # None: no license found (excluded, counted as license_unknown)


class SourceTree:
  """A directory of source files whose owners are found one way (see subclasses)."""
  kind = "generic"

  def __init__(self, root: str, exclude: tuple[str, ...] = ()):
    self.root = os.path.realpath(root)
    self.exclude = tuple(os.path.realpath(e) for e in exclude)

  def __repr__(self):
    return f"{type(self).__name__}({self.root!r})"

  def walk(self) -> Iterator[str]:
    """Absolute paths of files with a known language, sorted, without following symlinks.

    `node_modules` is pruned except when it is the tree itself: each tree owns its files.
    """
    for dirpath, dirnames, filenames in os.walk(self.root):
      dirnames[:] = sorted(
          d for d in dirnames
          if not d.startswith(".") and d not in _SKIP_DIRS - self._keep_dirs()
          and os.path.join(dirpath, d) not in self.exclude)
      for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        if language_of(name) and not os.path.islink(path):
          yield path

  def _keep_dirs(self) -> frozenset:
    return frozenset()

  def files(self) -> Iterator[SourceFile]:
    for path in self.walk():
      package, repo_path, license_ = self.owner(path)
      yield SourceFile(path, language_of(path), package, repo_path, license_)

  def owner(self, path: str) -> tuple[str, str, Optional[License]]:
    """(package, path inside it, license) from the nearest license file or package.json."""
    directory = os.path.dirname(path)
    while True:
      found = _directory_license(directory)
      if found is not None:
        return os.path.basename(directory), os.path.relpath(path, directory), found
      if directory == self.root or len(directory) <= len(self.root):
        break
      directory = os.path.dirname(directory)
    return os.path.basename(self.root), os.path.relpath(path, self.root), None


@functools.lru_cache(maxsize=None)
def _directory_license(directory: str) -> Optional[License]:
  """The license declared in `directory` itself (package.json or a LICENSE-like file)."""
  package_json = os.path.join(directory, "package.json")
  if os.path.isfile(package_json):
    found = _package_json_license(package_json)
    if found is not None:
      return found
  try:
    names = sorted(os.listdir(directory))
  except OSError:
    return None
  for name in names:
    if _LICENSE_FILE.match(name) and os.path.isfile(os.path.join(directory, name)):
      found = licenses.license_from_text(_read_text(os.path.join(directory, name)))
      if found is not None:
        return found
  return None


def _package_json_license(path: str) -> Optional[License]:
  try:
    with open(path, encoding="utf-8") as f:
      meta = json.load(f)
  except (OSError, ValueError):
    return None
  value = meta.get("license") if isinstance(meta, dict) else None
  if isinstance(value, dict):
    value = value.get("type")
  if not value and isinstance(meta, dict) and isinstance(meta.get("licenses"), list):
    names = [l.get("type") if isinstance(l, dict) else l for l in meta["licenses"]]
    value = " OR ".join(str(n) for n in names if n)
  return licenses.parse_expression(str(value)) if value else None


def _read_text(path: str, limit: int = 20000) -> str:
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return f.read(limit)
  except OSError:
    return ""


class NodeModulesTree(SourceTree):
  """A global node_modules directory: each file belongs to its nearest package.json."""
  kind = "node"

  def _keep_dirs(self) -> frozenset:
    return frozenset({"node_modules"})


class PythonStdlibTree(SourceTree):
  """The running interpreter's standard library (PSF license from its LICENSE.txt)."""
  kind = "python-stdlib"

  def owner(self, path):
    return "cpython", os.path.relpath(path, self.root), self._license()

  @functools.cache
  def _license(self) -> Optional[License]:
    return licenses.license_from_text(_read_text(os.path.join(self.root, "LICENSE.txt")))


class PythonSitePackagesTree(SourceTree):
  """A site-packages directory: files belong to the distribution whose RECORD lists them."""
  kind = "python-site"

  @functools.cached_property
  def _owners(self) -> dict[str, tuple[str, Optional[License]]]:
    """File path → (distribution name, license); metadata is parsed once per distribution."""
    owners = {}
    for dist in importlib.metadata.distributions(path=[self.root]):
      owner = (dist.metadata["Name"], _distribution_license(dist))
      for file in dist.files or ():
        owners[os.path.normpath(os.path.join(self.root, str(file)))] = owner
    return owners

  def owner(self, path):
    name, license_ = self._owners.get(os.path.normpath(path), ("unowned", None))
    return name, os.path.relpath(path, self.root), license_


def _distribution_license(dist: importlib.metadata.Distribution) -> Optional[License]:
  """License-Expression, then License, then classifiers, then the license files' text."""
  meta = dist.metadata
  expression = meta.get("License-Expression")
  if expression:
    parsed = licenses.parse_expression(expression)
    if parsed is not None:
      return parsed
  found = licenses.license_from_field(meta.get("License") or "")
  if found is None:
    found = licenses.license_from_classifiers(meta.get_all("Classifier") or ())
  if found is None:
    for name in meta.get_all("License-File") or ():
      for candidate in (dist.locate_file(name),
                        dist.locate_file(f"{dist._path.name}/licenses/{name}")  # noqa
                        if hasattr(dist, "_path") else None):
        if candidate and os.path.isfile(str(candidate)):
          found = licenses.license_from_text(_read_text(str(candidate)))
          if found:
            return found
  return found


class DebianTree(SourceTree):
  """Files installed by Debian packages: owner from dpkg, license from the copyright file."""
  kind = "debian"

  def owner(self, path):
    package = _dpkg_owners().get(path) or _dpkg_owners().get(os.path.realpath(path))
    if package is None:
      return super().owner(path)
    return package, os.path.relpath(path, self.root), _debian_license(package)


@functools.lru_cache(maxsize=1)
def _dpkg_owners() -> dict[str, str]:
  owners = {}
  for list_file in sorted(glob.glob("/var/lib/dpkg/info/*.list")):
    package = os.path.basename(list_file)[:-len(".list")].split(":")[0]
    try:
      with open(list_file, encoding="utf-8", errors="replace") as f:
        for line in f:
          owners.setdefault(line.rstrip("\n"), package)
    except OSError:
      continue
  return owners


@functools.lru_cache(maxsize=None)
def _debian_license(package: str) -> Optional[License]:
  return debian_copyright_license(_read_text(f"/usr/share/doc/{package}/copyright", 200000))


def debian_copyright_license(text: str) -> Optional[License]:
  """The license of the `Files: *` paragraph of a machine-readable (DEP-5) copyright file, else
  the license recognised in the copyright text; None if there is none."""
  if not text:
    return None
  if re.match(r"\s*Format:", text):
    paragraphs = re.split(r"\n\s*\n", text)
    for wanted in (r"^Files:\s*\*\s*$", r"^Files:"):
      for paragraph in paragraphs:
        if re.search(wanted, paragraph, re.MULTILINE):
          match = re.search(r"^License:\s*(.+)$", paragraph, re.MULTILINE)
          if match:
            return licenses.parse_expression(match.group(1).replace(",", " "))
  return licenses.license_from_text(text)


def system_trees() -> list[SourceTree]:
  """The source trees that exist on this machine, in a fixed order."""
  paths = sysconfig.get_paths()
  stdlib = paths["stdlib"]
  site_dirs = []
  for d in [*site.getsitepackages(), paths["purelib"], paths["platlib"],
            site.getusersitepackages(), "/usr/lib/python3/dist-packages"]:
    if os.path.isdir(d) and os.path.realpath(d) not in [os.path.realpath(s) for s in site_dirs]:
      site_dirs.append(d)
  trees: list[SourceTree] = []
  if os.path.isdir(stdlib):
    trees.append(PythonStdlibTree(stdlib, exclude=tuple(site_dirs)))
  trees += [PythonSitePackagesTree(d) for d in site_dirs]
  for pattern, tree_class in (
      ("/usr/lib/node_modules", NodeModulesTree), ("/usr/local/lib/node_modules", NodeModulesTree),
      ("/usr/share/go-*", DebianTree), ("/usr/lib/ruby", DebianTree),
      ("/usr/share/perl", DebianTree), ("/usr/share/perl5", DebianTree),
      ("/usr/share/lua", DebianTree), ("/usr/share/php", DebianTree),
      ("/usr/share/javascript", DebianTree), ("/usr/include", DebianTree),
      ("/usr/src", DebianTree), ("/usr/local/include", SourceTree),
      (os.path.expanduser("~/go/pkg/mod"), SourceTree),
      (os.path.expanduser("~/.cargo/registry/src"), SourceTree)):
    for root in sorted(glob.glob(pattern)):
      if os.path.isdir(root) and not os.path.islink(root):
        trees.append(tree_class(root))
  return trees
