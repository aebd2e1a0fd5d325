"""A small Stack-format root of synthetic code (with licenses) and its governance index, built
once per session."""

import pytest

from tests.data.governance.corpus import corpus_rows, write_root


@pytest.fixture(scope="session")
def governance_rows():
  return corpus_rows()


@pytest.fixture(scope="session")
def governance_root(tmp_path_factory, governance_rows):
  return write_root(tmp_path_factory.mktemp("governance_root"), governance_rows)


@pytest.fixture(scope="session")
def governance_index(tmp_path_factory, governance_root):
  """(index directory, manifest) of governance_root, at the default 0.1 % target."""
  from starjax.data.governance import index_build
  output = tmp_path_factory.mktemp("governance_index") / "index"
  options = index_build.index_options()
  manifest = index_build.build_index(str(governance_root), str(output), options)
  return str(output), manifest


@pytest.fixture(scope="session")
def opened_index(governance_index):
  from starjax.data.governance import index_dir
  index = index_dir.open_index(governance_index[0])
  yield index
  index.close()
