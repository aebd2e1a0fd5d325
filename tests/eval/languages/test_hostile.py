"""Hostile completions in every MultiPL-E language, in the real sandbox: compile steps that read
host files, compile-time bombs, fork and memory bombs, network attempts, writes to a host
directory. Each is judged failed with a reason, within the time limits, and
leaves the host untouched (no connection, no process, no file, the secret unread).

The attacks are completions for HumanEval/0 (`has_close_elements`); none of them can pass its
tests, so a pass would be a bug of the judge, and the checks are on *how* each one fails.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
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
# Languages whose programs take the longest (a JVM compiler, big compile steps): started first.
SLOW_FIRST = ("scala", "java", "cs", "cpp", "rs", "d")
# A C preprocessor bomb: A40 expands to 2^40 tokens.
MACRO_BOMB = "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 41))


def attacks(secret: str, port: int, host_dir: str) -> dict[str, dict[str, str]]:
  """ext → attack name → completion. Names: read_* (host files, at compile or load time),
  compile_bomb, fork_bomb, memory_bomb, network, write_outside (a file in host_dir), and for
  Scala, whose every program costs a JVM compile, runtime_attacks (read, connect and write, then
  a memory bomb, in one program). Endless loops are not run again here: test_new_languages.py
  judges one in each of D, R, Racket and Scala ('timeout'), and test_sandbox_hostile.py the
  wall-clock kill of each backend."""
  outside = os.path.join(host_dir, "written")
  q = json.dumps  # a double-quoted string literal in D, Racket and Scala
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
      "d": {
          # import() reads a file at compile time (ldc refuses without -J; either way, unread).
          "read_secret": f"    enum s = import({q(secret)});\n    return s.length > 0;\n",
          "read_secret_at_run": "    import std.file : readText;\n    import std.stdio : stderr;\n"
                                f"    stderr.write(readText({q(secret)}));\n    return true;\n",
          # Compile-time evaluation doubling a string 40 times: bounded by the memory limit.
          "compile_bomb": "    enum n = () { string s = \"x\"; foreach (i; 0 .. 40) s ~= s; "
                          "return s.length; }();\n    return n == 0;\n",
          "fork_bomb": "    import core.sys.posix.unistd : fork;\n    for (;;) fork();\n",
          "memory_bomb": "    auto a = new ubyte[](3UL << 30);\n    a[] = 1;\n    return a[12345] == 0;\n",
          "network": "    import std.socket : InternetAddress, TcpSocket;\n"
                     f"    auto s = new TcpSocket(new InternetAddress(\"127.0.0.1\", {port}));\n"
                     "    return true;\n",
          "write_outside": f"    import std.file : write;\n    write({q(outside)}, \"x\");\n"
                           "    return true;\n",
      },
      "r": {
          "read_secret": f"  cat(readLines({q(secret)}), file = stderr())\n  TRUE\n}}\n",
          "fork_bomb": "  repeat { parallel::mcparallel(Sys.sleep(60)) }\n}\n",
          "memory_bomb": "  x <- numeric(4e8)\n  x[1] <- 1\n  TRUE\n}\n",
          "network": f"  socketConnection('127.0.0.1', {port}, open = 'r+', timeout = 2)\n  TRUE\n}}\n",
          "write_outside": f"  writeLines('x', {q(outside)})\n  TRUE\n}}\n",
      },
      "rkt": {
          # begin-for-syntax runs while the module is expanded: Racket's compile step.
          "read_secret": "  #t)\n(require (for-syntax racket/file))\n"
                         f"(begin-for-syntax (display (file->string {q(secret)})))\n",
          # A macro whose expansion never ends: bounded by the timeout.
          "compile_bomb": "  #t)\n(define-syntax (bomb_ stx)\n"
                          "  (syntax-case stx () [(_ x) #'(bomb_ (x x))]))\n"
                          "(define (unused_) (bomb_ 1))\n",
          "fork_bomb": "  (let loop () (with-handlers ([exn:fail? void]) (process \"racket main.rkt\"))"
                       " (loop)))\n",
          "memory_bomb": "  (bytes-length (make-bytes (* 3 1024 1024 1024) 1)))\n",
          "network": f"  (tcp-connect \"127.0.0.1\" {port})\n  #t)\n",
          "write_outside": f"  (with-output-to-file {q(outside)} (lambda () (display \"x\")))\n  #t)\n",
      },
      "scala": {
          # Each attack that works leaves its trace (the secret in stderr, a connection, a
          # file) for the test to find; the memory bomb at the end fails the program.
          "runtime_attacks": "        for (attack <- Seq[() => Any](\n"
                             f"            () => scala.io.Source.fromFile({q(secret)}).mkString,\n"
                             f"            () => new java.net.Socket(\"127.0.0.1\", {port}),\n"
                             "            () => java.nio.file.Files.write(java.nio.file.Paths.get("
                             f"{q(outside)}), \"x\".getBytes)))\n"
                             "            System.err.println(scala.util.Try(attack()))\n"
                             "        val a = new Array[Long](400000000)\n        a(1) == 0\n",
          "fork_bomb": "        while (true) { try { new ProcessBuilder(\"java\", \"-cp\", \".\", "
                       "\"Problem\").start() } catch { case e: Exception => } }\n        false\n",
      },
  }


@dataclasses.dataclass
class Attack:
  ext: str
  name: str
  completion: str


def _selected(request) -> set[tuple[str, str]]:
  """The (ext, name) of this module's tests that this session runs (-k, node ids): only their
  attacks are run, so that checking one language does not run them all."""
  return {(item.callspec.params["ext"], item.callspec.params["name"])
          for item in request.session.items
          if item.module is request.module and hasattr(item, "callspec")}


@pytest.fixture(scope="module")
def attacked(request, tmp_path_factory):
  """Runs every selected attack once in SANDBOX_BACKEND's sandbox (.ci/run runs this module under
  each): (verdicts by (ext, name), connections, secret, host_dir, box)."""
  box = backend_sandbox(SANDBOX_BACKEND, LIMITS)
  host_dir = str(tmp_path_factory.mktemp("host-dir"))
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
  selected = _selected(request)
  with tempfile.NamedTemporaryFile("w", prefix="starjax-secret-", suffix=".txt") as secret:
    secret.write(secret_text)
    secret.flush()
    todo = [Attack(ext, name, completion)
            for ext, named in attacks(secret.name, server.getsockname()[1], host_dir).items()
            if toolchain_problem(ext) is None for name, completion in named.items()
            if (ext, name) in selected]
    # The slowest first (JVM compilers, C++ bombs), so that the pool does not end on one of them.
    todo.sort(key=lambda a: a.ext not in SLOW_FIRST)
    def judge(attack):
      return execution.check_completion(
          get_language(attack.ext), jobs_lib.translate(attack.ext, "HumanEval/0"),
          attack.completion, timeout=RUN_TIMEOUT, compile_timeout=COMPILE_TIMEOUT, sandbox=box)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
      verdicts = dict(zip([(a.ext, a.name) for a in todo], pool.map(judge, todo)))
  server.close()
  yield verdicts, connections, secret_text, host_dir, box


def _params():
  return [pytest.param(ext, name, id=f"{ext}-{name}")
          for ext, named in attacks("/secret", 1, "/host").items() for name in named]


@pytest.mark.parametrize("ext, name", _params())
def test_hostile_program_fails_with_a_reason_and_leaves_the_host_alone(attacked, ext, name):
  skip_without_toolchain(ext)
  verdicts, connections, secret_text, host_dir, box = attacked
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
  if name == "read_secret" and ext in ("cpp", "rs", "d"):
    assert verdict.result.startswith("compile error: "), what
  if name == "compile_bomb" and ext != "rkt":
    assert verdict.result.startswith("compile error: "), what
  if (ext, name) == ("rkt", "compile_bomb"):  # Racket expands as it runs: the timeout ends it
    assert verdict.result == "timed out", what
  if ext in ("d", "r", "rkt", "scala") and name in ("memory_bomb", "runtime_attacks"):
    assert verdict.result.startswith("failed: "), what  # the limit stops it at once
  if name in ("network", "runtime_attacks"):
    assert connections == [], what
  if name in ("write_outside", "runtime_attacks"):
    assert os.listdir(host_dir) == [], what
  assert wait_until_gone(lambda: sandbox_processes(box)) == []
