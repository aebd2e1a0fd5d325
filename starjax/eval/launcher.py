"""The first process of every sandboxed command: limits, uid, then the program itself.

Not imported: starjax/eval/sandbox.py passes this file's text to `python -I -S -c TEXT SPEC ARGV...`
inside the sandbox, so it uses only modules that load in a millisecond (no json, no signal
except where needed). SPEC is `name=value;...`:
  RLIMIT_<X>=soft:hard  set with setrlimit (inside the sandbox, so that RLIMIT_NPROC counts the
                        sandbox's user namespace or fresh uid, not the caller's processes);
  uid=N                 started as root: switch to uid and gid N (no supplementary groups);
  python_script=1       ARGV is `script args...` for this very interpreter: run it here, as
                        `python -S script args...` would, instead of starting a second one;
  supervise=1           the rlimit-only fallback (no PID namespace cleans up after the program):
                        stay as the program's parent, a child subreaper that kills and reaps
                        everything the program left behind, then exit with its status;
  nproc_extra=N         with supervise: RLIMIT_NPROC = the caller's existing tasks + N.
"""

import os
import resource
import sys


def limit(spec):
  for name, value in spec.items():
    if name.startswith("RLIMIT_"):
      soft, hard = value.split(":")
      resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))


def execute(spec, argv):
  if "python_script" in spec:
    run_python(argv)
  try:
    os.execvp(argv[0], argv)
  except OSError as e:
    sys.stderr.write("sandbox: cannot run %s: %s\n" % (argv[0], e.strerror))
    os._exit(127)


def run_python(argv):
  """Runs `python -S script args...` in this interpreter; never returns."""
  # Local imports: the script's globals replace this module's, which are __main__'s.
  # pylint: disable-next=redefined-outer-name,import-outside-toplevel
  import __main__, builtins, os, site, sys
  script = argv[0]
  sys.argv = list(argv)
  sys.path[:0] = [os.path.dirname(os.path.abspath(script))] + [
      p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
  sys.dont_write_bytecode = True
  site.setquit(), site.setcopyright(), site.sethelper()  # -S leaves out exit(), quit(), help()
  with open(script, "rb") as f:
    code = compile(f.read(), script, "exec")
  scope = __main__.__dict__
  scope.clear()
  scope.update(__name__="__main__", __file__=script, __builtins__=builtins, __doc__=None,
               __spec__=None, __package__=None, __cached__=None)
  exec(code, scope)  # pylint: disable=exec-used
  sys.exit(0)


def children():
  """Pids whose parent is this process (orphans of the program come back here)."""
  me, found = os.getpid(), []
  for name in os.listdir("/proc"):
    if name.isdigit():
      try:
        with open("/proc/%s/stat" % name, "rb") as f:
          if int(f.read().rsplit(b")", 1)[1].split()[1]) == me:
            found.append(int(name))
      except (OSError, ValueError, IndexError):
        pass
  return found


def callers_tasks():
  """Processes + threads of this uid on the machine: what RLIMIT_NPROC counts here."""
  tasks = 0
  for name in os.listdir("/proc"):
    try:
      with open("/proc/%s/status" % name) as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith(("Uid:", "Threads:")))
      if int(fields["Uid"].split()[0]) == os.getuid():
        tasks += int(fields["Threads"])
    except (OSError, KeyError, ValueError):
      pass
  return tasks


def supervise(spec, argv):
  """Runs the program as a child and cleans up after it; exits with the program's status."""
  import ctypes, signal  # pylint: disable=import-outside-toplevel
  prctl = ctypes.CDLL(None, use_errno=True).prctl
  prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of the program come back to us
  prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the evaluator
  if "nproc_extra" in spec and os.getuid() != 0:  # root is exempt from RLIMIT_NPROC anyway
    spec["RLIMIT_NPROC"] = "%d:%d" % ((callers_tasks() + int(spec["nproc_extra"]),) * 2)
  pid = os.fork()
  if pid == 0:
    prctl(1, signal.SIGKILL, 0, 0, 0)  # the program dies with its supervisor
    limit(spec)
    execute(spec, argv)
  while True:
    done, status = os.waitpid(-1, 0)
    if done == pid:
      break
  while True:  # kill what is left, generation by generation, until nothing comes back
    left = children()
    if not left:
      break
    for child in left:
      try:
        os.kill(child, signal.SIGKILL)
      except OSError:
        pass
    for child in left:
      try:
        os.waitpid(child, 0)
      except OSError:
        pass
  if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
  os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main():
  spec = dict(item.split("=", 1) for item in sys.argv[1].split(";"))
  argv = sys.argv[2:]
  # What a compile step writes must be readable by the run step, which may get another uid.
  os.umask(0o022)
  if "uid" in spec:
    os.setgroups([])
    os.setgid(int(spec["uid"]))
    os.setuid(int(spec["uid"]))
  if "supervise" in spec:
    supervise(spec, argv)
  limit(spec)
  execute(spec, argv)


if __name__ == "__main__":
  main()
