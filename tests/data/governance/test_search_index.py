"""The full-text index: BM25 ranking, phrases, fields, the language filter, query escaping."""

import re

import pytest

from starjax.data.errors import DataError
from starjax.data.governance import search_index
from tests.data.governance.corpus import DISTINCTIVE


def test_a_distinctive_phrase_finds_its_document_first(opened_index):
  hits = opened_index.search.search(f'"{DISTINCTIVE}"')
  assert hits[0].path == "src/module_7.py"
  assert hits[0].repo == "owner7/python-project-7"
  assert hits[0].license == "ISC"  # conftest.LICENSES[7 % 4]
  assert "«" in hits[0].snippet


def test_distinctive_words_unquoted_also_rank_it_first(opened_index):
  hits = opened_index.search.search("quokka marmalade midnight")
  assert hits and hits[0].path == "src/module_7.py"


def test_a_phrase_needs_consecutive_words(opened_index):
  assert opened_index.search.search('"marmalade quokka"') == []
  assert opened_index.search.search("marmalade quokka")


def test_language_filter_and_fields(opened_index):
  assert opened_index.search.search("quokka", language="javascript") == []
  assert opened_index.search.search("quokka", language="Python")
  hits = opened_index.search.search('repo:"javascript-project-4"', top=5)
  assert [h.repo for h in hits] == ["owner4/javascript-project-4"]


def test_scores_are_ordered(opened_index, governance_rows):
  word = re.findall(r"\b[a-z_]{5,}\b", governance_rows["python"][0]["content"])[1]
  hits = opened_index.search.search(word, top=20)
  assert hits
  assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_code_punctuation_is_text_not_query_syntax():
  assert search_index.fts_query('foo.bar( AND "x y"') == '"foo.bar(" AND "AND" AND "x y"'
  assert search_index.fts_query("license:MIT path:src") == 'license : "MIT" AND path : "src"'
  assert search_index.fts_query("http://x") == '"http://x"'
  assert search_index.fts_query("() ;") == ""


def test_a_query_without_words_is_an_error(opened_index):
  with pytest.raises(DataError, match="no words"):
    opened_index.search.search("(( ))")
