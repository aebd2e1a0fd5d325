"""The JVM and node under the sandbox's default limits: they start and work, and a memory bomb
in them ends in their own out-of-memory error (the sandbox tells them the limit), not a crash.

Why it matters: an RLIMIT_AS at the memory limit keeps the JVM from starting at all (it reserves
1 GiB of class space and its heap up front); the sandbox limits private memory (RLIMIT_DATA) and
the tree's resident memory instead, and gives the runtimes JAVA_TOOL_OPTIONS / NODE_OPTIONS.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from starjax.eval.sandbox import Limits
from tests import toolchains
from tests.eval.conftest import SANDBOX_BACKEND, backend_sandbox


@pytest.fixture(scope="module")
def default_sandbox():
  return backend_sandbox(SANDBOX_BACKEND, Limits())


def run(box, files, *commands, timeout=30.0):
  workdir = tempfile.mkdtemp(prefix="starjax-test-runtime-")
  try:
    for name, text in files.items():
      with open(os.path.join(workdir, name), "w") as f:
        f.write(text)
      os.chmod(os.path.join(workdir, name), 0o644)
    outcomes = [box.run(command, workdir, timeout=timeout) for command in commands]
  finally:
    shutil.rmtree(workdir)
  return outcomes


JAVA = """
import java.util.ArrayList;
public class Main {
  public static void main(String[] args) {
    ArrayList<long[]> blocks = new ArrayList<>();
    int count = args[0].equals("bomb") ? 1 << 20 : 25;  // 8 MB each: 200 MB, or without end
    for (int i = 0; i < count; i++) blocks.add(new long[1 << 20]);
    System.out.println("ok " + blocks.size() + " max heap " + Runtime.getRuntime().maxMemory());
  }
}
"""

NODE = """
const blocks = [];
const count = process.argv[2] === "bomb" ? Infinity : 25;
for (let i = 0; i < count; i++) blocks.push(new Array(1 << 20).fill(i + 0.5));
console.log("ok", blocks.length);
"""


def test_jvm_runs_and_fails_cleanly_at_its_heap_limit(default_sandbox):
  if not (shutil.which("javac") and shutil.which("java")):
    toolchains.missing("no JDK: apt-get install openjdk-17-jdk-headless")
  built, works, bomb = run(default_sandbox, {"Main.java": JAVA}, ["javac", "Main.java"],
                           ["java", "-cp", ".", "Main", "ok"], ["java", "-cp", ".", "Main", "bomb"])
  assert built.exit_code == 0, built.stderr
  assert works.exit_code == 0 and works.stdout.startswith(b"ok 25 max heap "), works
  max_heap = int(works.stdout.split()[-1])
  assert max_heap <= Limits().memory_mb << 20  # sized from the limit, not the machine's memory
  assert bomb.exit_code not in (0, None) and b"java.lang.OutOfMemoryError" in bomb.stderr
  assert not bomb.memory_exceeded


def test_node_runs_and_fails_cleanly_at_its_heap_limit(default_sandbox):
  if not shutil.which("node"):
    toolchains.missing("no node: apt-get install nodejs")
  works, bomb = run(default_sandbox, {"main.js": NODE}, ["node", "main.js", "ok"],
                    ["node", "main.js", "bomb"])
  assert works.exit_code == 0 and works.stdout == b"ok 25\n", works
  assert bomb.exit_code not in (0, None) and b"heap out of memory" in bomb.stderr
