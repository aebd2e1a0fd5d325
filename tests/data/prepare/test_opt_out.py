"""Opt-out lists: usernames and repositories, text or BigCode's JSON, case-insensitive."""

import hashlib
import json

import pytest

from starjax.data.errors import DataError
from starjax.data.prepare import opt_out


def test_text_list_matches_owners_and_repositories_case_insensitively(tmp_path):
  path = tmp_path / "opt_out.txt"
  path.write_text("# requests\nOctoCat\nacme/Secret-Repo\n\n")
  listed = opt_out.load(str(path))
  assert listed.reason("octocat/hello") == "owner octocat"
  assert listed.reason("ACME/secret-repo") == "repository acme/secret-repo"
  assert listed.reason("acme/public") is None
  assert listed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_bigcode_json_opts_out_users_and_their_listed_repositories(tmp_path):
  path = tmp_path / "opt_out.json"
  path.write_text(json.dumps({"alice": ["bob/shared"], "carol": []}))
  listed = opt_out.load(str(path))
  assert listed.reason("Alice/x") == "owner alice"
  assert listed.reason("bob/shared") == "repository bob/shared"
  assert listed.reason("bob/other") is None and len(listed) == 3


def test_unreadable_or_malformed_lists_are_errors_naming_the_file(tmp_path):
  with pytest.raises(DataError, match="--opt_out=.*missing.txt: cannot read it"):
    opt_out.load(str(tmp_path / "missing.txt"))
  bad = tmp_path / "bad.txt"
  bad.write_text("a/b/c\n")
  with pytest.raises(DataError, match="bad.txt:1: 'a/b/c' is neither"):
    opt_out.load(str(bad))
  binary = tmp_path / "bin.txt"
  binary.write_bytes(b"\xff\xfe\x00")
  with pytest.raises(DataError, match="not UTF-8"):
    opt_out.load(str(binary))
