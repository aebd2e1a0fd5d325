"""Hostile completions in every MultiPL-E language, in the real sandbox: compile steps that read
host files, compile-time bombs, fork and memory bombs, network attempts. Each is judged failed
with a reason, within the time limits, and leaves the host untouched (no connection, no
process, the secret unread).

The attacks are completions for HumanEval/0 (`has_close_elements`); none of them can pass its
tests, so a pass would be a bug of the judge, and the checks are on *how* each one fails.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import secrets
import socket
import tempfile
import threading

import pytest

from starjax.eval import execution
from starjax.eval.languages import get_language
from starjax.eval.sandbox import Limits
from tests.eval.conftest import (SANDBOX_BACKEND, backend_sandbox, sandbox_processes,
                                 wait_until_gone)
from tests.eval.languages import jobs as jobs_lib
from tests.eval.languages.conftest import skip_without_toolchain, toolchain_problem

pytestmark = pytest.mark.slow

LIMITS = Limits(output_mb=1.0, tmp_mb=16)  # default memory and processes: the JVM needs them
RUN_TIMEOUT, COMPILE_TIMEOUT = 4.0, 20.0
# A C preprocessor bomb: A40 expands to 2^40 tokens.
MACRO_BOMB = "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 41))


def attacks(secret: str, port: int) -> dict[str, dict[str, str]]:
  """ext → attack name → completion. Names: read_* (host files, at compile or load time),
  compile_bomb, fork_bomb, memory_bomb, network."""
  c_close = "    return false;\n}\n"
  c_reopen = "bool unused_() {\n    return false;"
  connect_c = (
      "#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n"
      "static int net_ = [] { int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{};\n"
      f"  a.sin_family = AF_INET; a.sin_port = htons({port}); a.sin_addr.s_addr = htonl(0x7f000001);\n"
      "  if (connect(s, (sockaddr*)&a, sizeof a) != 0) { perror(\"connect\"); exit(3); }\n"
      "  return 0; }();\n")
  return {
      "cpp": {
          "read_shadow": c_close + '#include "/etc/shadow"\n' + c_reopen,
          "read_secret": c_close + f'#include "{secret}"\n' + c_reopen,
          "compile_bomb": c_close + "#define A0 1,\n" + MACRO_BOMB + "int bomb_[] = {A40};\n"
                          + c_reopen,
          "fork_bomb": c_close + "#include <unistd.h>\n"
                       "static int bomb_ = [] { for (;;) fork(); return 0; }();\n" + c_reopen,
          "memory_bomb": "    std::vector<char> v(3UL << 30, 1);\n    return v[12345] == 1;",
          "network": c_close + connect_c + c_reopen,
      },
      "rs": {
          "read_shadow": '    include_str!("/etc/shadow").len() > 0',
          "read_secret": f'    include_str!("{secret}").len() > 0',
          "compile_bomb": "    false\n}\nmacro_rules! bomb { ($($t:tt)*) => { bomb!($($t)* $($t)*) }; }\n"
                          "fn boom_() { bomb!(x); }\nfn unused_() -> bool {\n    false",
          "fork_bomb": '    loop { let _ = std::process::Command::new("/proc/self/exe").spawn(); }',
          "memory_bomb": "    let v = vec![1u8; 3usize << 30];\n    v[12345] == 0",
          "network": f'    std::net::TcpStream::connect(("127.0.0.1", {port})).unwrap();\n    true',
      },
      "go": {
          "memory_bomb": "    v := make([]byte, 3<<30)\n    for i := range v {\n        v[i] = 1\n    }\n"
                         "    return v[12345] == 0",
          "fork_bomb": "    for {\n        go func() { select {} }()\n    }",
      },
      "java": {
          "read_shadow": "        try { return java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("
                         "\"/etc/shadow\")).length > 0; } catch (Exception e) { throw new "
                         "RuntimeException(e); }",
          "fork_bomb": "        while (true) { try { new ProcessBuilder(\"java\", \"-cp\", \".\", "
                       "\"Problem\").start(); } catch (Exception e) { } }",
          "memory_bomb": "        long[] a = new long[400_000_000];\n        return a[1] == 0;",
          "network": f"        try (java.net.Socket s = new java.net.Socket(\"127.0.0.1\", {port})) "
                     "{ return true; } catch (Exception e) { throw new RuntimeException(e); }",
      },
      "js": {
          "read_shadow": "  return require('fs').readFileSync('/etc/shadow').length > 0;\n}",
          "read_secret": f"  return require('fs').readFileSync({secret!r}).length > 0;\n}}",
          "fork_bomb": "  for (;;) { try { require('child_process').spawn(process.execPath, "
                       "[__filename]); } catch (e) {} }\n}",
          "memory_bomb": "  const a = [];\n  for (;;) a.push(new Array(1e6).fill(1));\n}",
          "network": "  require('child_process').execFileSync(process.execPath, ['-e', "
                     f"\"require('net').connect({port}, '127.0.0.1').on('connect', () => "
                     "process.exit(0)).on('error', e => { console.error(String(e)); "
                     "process.exit(3); })\"]);\n  return true;\n}",
      },
      "ts": {
          "read_shadow": "  return process.mainModule.require('fs').readFileSync('/etc/shadow')"
                         ".length > 0;\n}",
          "memory_bomb": "  const a: number[][] = [];\n  for (;;) a.push(new Array(1e6).fill(1));\n}",
      },
      "php": {
          "read_shadow": "    $s = file_get_contents('/etc/shadow');\n"
                         "    if ($s === false) throw new Exception('unreadable');\n    return true;\n}",
          "fork_bomb": "    while (true) { @proc_open(['php', __FILE__], [], $p); }\n}",
          "memory_bomb": "    $a = str_repeat('x', 3 << 30);\n    return strlen($a) > 0;\n}",
          "network": f"    $s = fsockopen('127.0.0.1', {port}, $e, $m, 1);\n"
                     "    if (!$s) throw new Exception($m);\n    return true;\n}",
      },
      "rb": {
          "read_shadow": "  true\nend\nFile.read('/etc/shadow')  # at load time\n",
          "read_secret": f"  true\nend\nFile.read({secret!r})\n",
          "fork_bomb": "  loop { fork rescue nil }\nend\n",
          "memory_bomb": "  'x' * (3 << 30)\n  true\nend\n",
          "network": f"  require 'socket'\n  TCPSocket.new('127.0.0.1', {port})\n  true\nend\n",
      },
      "lua": {
          "read_shadow": "  return io.open('/etc/shadow'):read('a') ~= nil\nend",
          "fork_bomb": "  while true do io.popen('lua5.4 main.lua') end\nend",
          "memory_bomb": "  local t = {}\n  for i = 1, 1e10 do t[i] = string.rep('x', 1e6) .. i end\n"
                         "  return true\nend",
      },
      "pl": {
          "read_shadow": "    BEGIN { open(my $f, '<', '/etc/shadow') or die \"BEGIN: $!\"; }\n"
                         "    return 1;\n}",
          "fork_bomb": "    fork while 1;\n}",
          "memory_bomb": "    my $x = 'x' x (3 << 30);\n    return 1;\n}",
          "network": "    require IO::Socket::INET;\n    IO::Socket::INET->new(PeerAddr => '127.0.0.1', "
                     f"PeerPort => {port}, Timeout => 1) or die \"connect: $!\";\n    return 1;\n}}",
      },
      "sh": {
          "read_shadow": "    cat /etc/shadow || exit 3",
          "read_secret": f"    cat {secret} || exit 3",
          "fork_bomb": "    bomb() { bomb | bomb & }; bomb",
          "memory_bomb": "    x=$(head -c 3000000000 /dev/zero | tr '\\0' x); echo ${#x}",
          "network": f"    exec 3<>/dev/tcp/127.0.0.1/{port} || exit 3",
      },
      "cs": {
          "read_shadow": "        return System.IO.File.ReadAllText(\"/etc/shadow\").Length > 0;",
          "fork_bomb": "        while (true) { try { System.Diagnostics.Process.Start(\"mono\", "
                       "\"main.exe\"); } catch { } }",
          "memory_bomb": "        var a = new System.Collections.Generic.List<byte[]>();\n"
                         "        while (true) a.Add(new byte[1 << 26]);",
          "network": f"        new System.Net.Sockets.TcpClient(\"127.0.0.1\", {port});\n"
                     "        return true;",
      },
  }


@dataclasses.dataclass
class Attack:
  ext: str
  name: str
  completion: str


@pytest.fixture(scope="module")
def attacked():
  """Runs every attack once in SANDBOX_BACKEND's sandbox (.ci/run runs this module under each):
  (verdicts by (ext, name), connections, secret, box)."""
  box = backend_sandbox(SANDBOX_BACKEND, LIMITS)
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen(16)
  connections = []
  def accept():
    try:
      while True:
        connections.append(server.accept()[0])
    except OSError:
      pass
  threading.Thread(target=accept, daemon=True).start()
  secret_text = f"starjax-secret-{secrets.token_hex(8)}"
  with tempfile.NamedTemporaryFile("w", prefix="starjax-secret-", suffix=".txt") as secret:
    secret.write(secret_text)
    secret.flush()
    todo = [Attack(ext, name, completion)
            for ext, named in attacks(secret.name, server.getsockname()[1]).items()
            if toolchain_problem(ext) is None for name, completion in named.items()]
    def judge(attack):
      return execution.check_completion(
          get_language(attack.ext), jobs_lib.translate(attack.ext, "HumanEval/0"),
          attack.completion, timeout=RUN_TIMEOUT, compile_timeout=COMPILE_TIMEOUT, sandbox=box)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
      verdicts = dict(zip([(a.ext, a.name) for a in todo], pool.map(judge, todo)))
  server.close()
  yield verdicts, connections, secret_text, box


def _params():
  return [pytest.param(ext, name, id=f"{ext}-{name}")
          for ext, named in attacks("/secret", 1).items() for name in named]


@pytest.mark.parametrize("ext, name", _params())
def test_hostile_program_fails_with_a_reason_and_leaves_the_host_alone(attacked, ext, name):
  skip_without_toolchain(ext)
  verdicts, connections, secret_text, box = attacked
  verdict = verdicts[(ext, name)]
  what = f"{ext} {name}: {verdict.result}\n{verdict.stderr[-800:]}"
  assert not verdict.passed, what
  assert verdict.result.startswith(("failed: ", "compile error: ", "timed out")), what
  assert len(verdict.result) > len("failed: "), what  # a reason, not just a label
  assert secret_text not in verdict.stdout + verdict.stderr, what
  # Generous: on a loaded machine (CI) a bomb slows everything; unbounded would be minutes.
  assert verdict.wall_time < COMPILE_TIMEOUT + RUN_TIMEOUT + 20, what
  if name == "read_shadow" and ext in ("cpp", "rs"):
    assert verdict.result.startswith("compile error: ") and "denied" in verdict.result, what
  if name == "read_secret" and ext in ("cpp", "rs"):
    assert verdict.result.startswith("compile error: "), what
  if name == "compile_bomb":
    assert verdict.result.startswith("compile error: "), what
  if name == "network":
    assert connections == [], what
  assert wait_until_gone(lambda: sandbox_processes(box)) == []
