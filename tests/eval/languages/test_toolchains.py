"""Each language names the packages of its tools, so a missing one skips with what to install."""

from __future__ import annotations

import pytest

from starjax.eval.languages import get_language, java, lua
from tests.eval.languages.conftest import skip_without_toolchain, toolchain_problem
from tests.eval.languages.jobs import MULTIPLE_EXTS

CI_FILES = (".ci/apt-packages.txt", ".ci/npm-packages.txt")


def listed_in_ci() -> set[str]:
  names = set()
  for path in CI_FILES:
    with open(path) as f:
      names |= {line.strip().split("@")[0] for line in f
                if line.strip() and not line.startswith("#")}
  return names


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_every_tool_comes_from_a_package_ci_installs(ext):
  listed = listed_in_ci()
  tools = dict(get_language(ext).toolchain)
  if ext == "java":
    tools[java.JAVATUPLES_JAR] = java.JAVATUPLES_PACKAGE
  for tool, package in tools.items():
    name = package[len("npm:"):] if package.startswith("npm:") else package
    assert name in listed, f"{ext}: {tool} comes from {package}, which .ci/ does not install"


def test_a_missing_tool_skips_naming_its_package(monkeypatch):
  monkeypatch.setattr(lua.Lua, "toolchain", {"lua-that-is-not-installed": "lua9.9"})
  problem = toolchain_problem("lua")
  assert problem is not None and "lua9.9" in problem and "lua-that-is-not-installed" in problem


def test_a_missing_tool_fails_where_every_toolchain_is_required(monkeypatch):
  monkeypatch.setattr(lua.Lua, "toolchain", {"lua-that-is-not-installed": "lua9.9"})
  monkeypatch.setenv("STARJAX_REQUIRE_TOOLCHAINS", "1")
  with pytest.raises(pytest.fail.Exception, match="lua9.9"):
    skip_without_toolchain("lua")
  monkeypatch.setenv("STARJAX_REQUIRE_TOOLCHAINS", "0")
  with pytest.raises(pytest.skip.Exception, match="lua9.9"):
    skip_without_toolchain("lua")


def test_javatuples_jar_is_a_tool_too(monkeypatch):
  monkeypatch.setattr(java, "JAVATUPLES_JAR", "/nonexistent/javatuples.jar")
  assert get_language("java").missing_tools() == {
      "/nonexistent/javatuples.jar": "libjavatuples-java"}
