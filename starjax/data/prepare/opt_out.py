"""Opt-out requests: GitHub usernames and repositories whose files must not be trained on.

The --opt_out file lists, one per line, a username (`octocat`: every repository it owns) or a
repository (`octocat/hello-world`); blank lines and `#` comments are ignored. BigCode's JSON
form, `{"username": ["owner/repo", ...], ...}`, is accepted too: each username and each listed
repository is opted out. Matching is case-insensitive, on the owner of `max_stars_repo_name` and
on the whole `owner/repo`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Optional

from starjax.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class OptOutList:
  owners: frozenset[str]
  repositories: frozenset[str]
  sha256: Optional[str]  # of the file's bytes; None when no list was given

  def reason(self, repo: str) -> Optional[str]:
    """Why a file of repository `repo` (owner/name) is opted out, or None."""
    repo = repo.strip().lower()
    owner = repo.split("/", 1)[0]
    if repo in self.repositories:
      return f"repository {repo}"
    if owner and owner in self.owners:
      return f"owner {owner}"
    return None

  def __len__(self) -> int:
    return len(self.owners) + len(self.repositories)


EMPTY = OptOutList(frozenset(), frozenset(), None)


def load(path: Optional[str]) -> OptOutList:
  """Reads an opt-out list; EMPTY when `path` is None. DataError naming the file otherwise."""
  if path is None:
    return EMPTY
  try:
    with open(path, "rb") as f:
      data = f.read()
    text = data.decode("utf-8")
  except OSError as e:
    raise DataError(f"--opt_out={path}: cannot read it ({e.strerror or e}); pass a readable "
                    "file with one GitHub username or owner/repo per line") from e
  except UnicodeDecodeError as e:
    raise DataError(f"--opt_out={path}: not UTF-8 text ({e}); the list is one GitHub username "
                    "or owner/repo per line") from e
  owners, repositories = set(), set()
  if text.lstrip().startswith("{"):
    try:
      entries = json.loads(text)
    except ValueError as e:
      raise DataError(f"--opt_out={path}: invalid JSON ({e}); expected "
                      '{"username": ["owner/repo", ...]}') from e
    for user, repos in entries.items():
      owners.add(str(user).strip().lower())
      for repo in repos or ():
        repositories.add(str(repo).strip().lower())
  else:
    for number, line in enumerate(text.splitlines(), 1):
      entry = line.split("#", 1)[0].strip().lower()
      if not entry:
        continue
      if entry.count("/") > 1 or " " in entry:
        raise DataError(f"--opt_out={path}:{number}: {line.strip()!r} is neither a username "
                        "nor owner/repo")
      (repositories if "/" in entry else owners).add(entry)
  return OptOutList(frozenset(owners), frozenset(repositories), hashlib.sha256(data).hexdigest())
