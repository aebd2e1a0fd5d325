"""Tests that need a tool from .ci/apt-packages.txt or .ci/npm-packages.txt (bubblewrap, a
compiler, an interpreter): skipped with what to install on a developer's machine, failed under
.ci/run, which installs every one and sets STARJAX_REQUIRE_TOOLCHAINS=1 — so CI never passes
by skipping."""

import os

import pytest


def missing(message: str) -> None:
  """Ends the test: a failure under .ci/run, else a skip that says what to install."""
  if os.environ.get("STARJAX_REQUIRE_TOOLCHAINS") == "1":
    pytest.fail(f"STARJAX_REQUIRE_TOOLCHAINS=1 but a tool is missing: {message}")
  pytest.skip(message)
