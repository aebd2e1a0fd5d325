"""The first process of every sandboxed command: limits, uid, then the program itself.

Not imported: starjax/eval/sandbox/sandbox.py passes this file's text to
`python -I -S -c TEXT SPEC ARGV...` inside the sandbox, so it uses only modules that load in a
millisecond (no json, no signal except where needed). SPEC is `name=value;...`:
  RLIMIT_<X>=soft:hard  set with setrlimit (inside the sandbox, so that RLIMIT_NPROC counts the
                        sandbox's user namespace or fresh uid, not the caller's processes);
  uid=N                 started as root: switch to uid and gid N (no supplementary groups);
  python_script=1       ARGV is `script args...` for this very interpreter: run it here, as
                        `python -S script args...` would, instead of starting a second one;
  supervise=1           the rlimit-only fallback (no PID namespace cleans up after the program):
                        stay as the program's parent, a child subreaper that kills and reaps
                        everything the program left behind, then exit with its status;
  nproc_extra=N         with supervise: RLIMIT_NPROC = the caller's existing tasks + N.
  nice=N                the program's niceness (the evaluator's supervisor must keep the CPU
                        it needs to enforce the deadline while a fork bomb spins);
  namespace=1           the unshare backend: this process is PID 1 of fresh PID, mount, network,
                        IPC and UTS namespaces (made by util-linux `unshare`, as root or as root
                        of a user namespace). It builds the sandbox's root (below), drops to
                        uid (if given), and stays as the namespace's init: it forks the program,
                        which enters a user namespace of its own as uid 65534 with no
                        capabilities, reaps every orphan, and exits with the program's status
                        (128 + N for death by signal N) -- then the kernel kills what is left.
  ro=P:P:...            with namespace: host paths bound read-only at the same place;
  links=L>T,...         with namespace: symlinks L -> T at the top of the new root;
  workdir=P             with namespace: the host directory bound writable at /sandbox;
  tmp_bytes=N, shm_bytes=N   with namespace: sizes of the private /tmp and /dev/shm.
"""

import os
import resource
import sys


def limit(spec):
  if "nice" in spec:
    os.nice(int(spec["nice"]))
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


# --- the unshare backend: the namespace's root filesystem and init ------------------------------

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MNT_DETACH = 2
CLONE_NEWUSER = 0x10000000
# statvfs flags that a remount must keep (the kernel refuses to clear locked ones in a userns).
KEPT_FLAGS = 4 | 8 | 1024 | 2048 | 4096  # nodev, noexec, noatime, nodiratime, relatime
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SANDBOX_UID = 65534


def libc():
  """The C library's functions as attributes (int result, errno kept), through _ctypes alone:
  `import ctypes` would cost twice as long, on every program's start."""
  import _ctypes  # pylint: disable=import-outside-toplevel

  class Int(_ctypes._SimpleCData):  # pylint: disable=protected-access
    _type_ = "i"

  class Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = Int

  class Library:
    _handle = _ctypes.dlopen(None, os.RTLD_NOW | os.RTLD_GLOBAL)

    def __getattr__(self, name):
      return Function((name, self))

  return Library()


def check(result, what):
  if result != 0:
    import _ctypes  # pylint: disable=import-outside-toplevel
    number = _ctypes.get_errno()
    raise OSError(number, "%s: %s" % (what, os.strerror(number)))


def mount(lib, source, target, fstype, flags, data=None):
  check(lib.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                  flags, data and data.encode()), "mount %s on %s" % (source, target))


def remount_read_only(lib, targets):
  """Makes the bind mounts at targets, and every mount below them, read-only (and nosuid)."""
  points = []
  with open("/proc/self/mountinfo", "rb") as f:
    for line in f:
      point = line.split()[4].decode()
      if "\\" in point:
        for escaped in ("\\040", "\\011", "\\012", "\\134"):
          point = point.replace(escaped, chr(int(escaped[1:], 8)))
      if any(point == target or point.startswith(target + "/") for target in targets):
        points.append(point)
  for point in points:
    kept = os.statvfs(point).f_flag & KEPT_FLAGS
    mount(lib, None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | kept)


def build_root(lib, spec):
  """Mounts the sandbox's filesystem on a fresh tmpfs and makes it the root (pivot_root)."""
  ro = [p for p in spec.get("ro", "").split(":") if p]
  # Open every source first: the new root is mounted over /tmp, where the sources may live.
  sources = {path: os.open(path, os.O_PATH) for path in ro + [spec["workdir"]]}
  devices = {name: os.open("/dev/" + name, os.O_PATH) for name in DEVICES
             if os.path.exists("/dev/" + name)}
  root = "/tmp"
  mount(lib, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
  for path in ro:
    os.makedirs(root + path, mode=0o755, exist_ok=True)
    mount(lib, "/proc/self/fd/%d" % sources[path], root + path, None, MS_BIND | MS_REC)
  remount_read_only(lib, [root + path for path in ro])
  for item in spec.get("links", "").split(","):
    if item:
      link, target = item.split(">", 1)
      os.symlink(target, root + link)
  os.mkdir(root + "/dev", 0o755)
  mount(lib, "tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
  for name, fd in devices.items():
    open(root + "/dev/" + name, "w").close()
    mount(lib, "/proc/self/fd/%d" % fd, root + "/dev/" + name, None, MS_BIND)
  for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                       ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
    os.symlink(target, root + "/dev/" + name)
  for path, size in (("/tmp", spec["tmp_bytes"]), ("/dev/shm", spec["shm_bytes"])):
    os.mkdir(root + path)
    mount(lib, "tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV, "size=%s,mode=1777" % size)
  os.mkdir(root + "/proc")
  mount(lib, "proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
  os.mkdir(root + "/sandbox", 0o755)
  mount(lib, "/proc/self/fd/%d" % sources[spec["workdir"]], root + "/sandbox", None, MS_BIND)
  mount(lib, None, root + "/sandbox", None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)
  for fd in list(sources.values()) + list(devices.values()):
    os.close(fd)
  os.chdir(root)
  # pivot_root(".", "."): the old root ends up stacked on the new one; detaching it leaves
  # nothing of the host reachable.
  check(lib.syscall(PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
  check(lib.umount2(b".", MNT_DETACH), "umount the old root")
  os.chdir("/")
  mount(lib, None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
  check(lib.sethostname(b"sandbox", 7), "sethostname")


def become_nobody(lib):
  """Enters a user namespace of its own as uid/gid 65534 and drops every capability."""
  uid, gid = os.geteuid(), os.getegid()
  check(lib.prctl(4, 1, 0, 0, 0), "set_dumpable")  # else /proc/self is root's, not writable
  if lib.unshare(CLONE_NEWUSER) == 0:
    for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (SANDBOX_UID, uid)),
                       ("gid_map", "%d %d 1" % (SANDBOX_UID, gid))):
      with open("/proc/self/" + name, "w") as f:
        f.write(text)
  elif uid == 0:  # root of the outer user namespace must not stay root
    raise OSError(0, "cannot create a user namespace to drop root")
  header = (0x20080522).to_bytes(4, sys.byteorder) + bytes(4)  # _LINUX_CAPABILITY_VERSION_3, self
  check(lib.capset(header, bytes(24)), "capset")  # no effective, permitted, inheritable caps
  check(lib.prctl(38, 1, 0, 0, 0), "no_new_privs")  # PR_SET_NO_NEW_PRIVS


def namespace_init(spec, argv):
  """PID 1 of the sandbox's PID namespace: root, privileges, then the program; never returns."""
  lib = libc()
  try:
    build_root(lib, spec)
    if "uid" in spec:
      os.setgroups([])
      os.setresgid(int(spec["uid"]), int(spec["uid"]), int(spec["uid"]))
      os.setresuid(int(spec["uid"]), int(spec["uid"]), int(spec["uid"]))
    check(lib.prctl(4, 0, 0, 0, 0), "set_dumpable")  # the program may not ptrace its init
    os.chdir("/sandbox")
  except OSError as e:
    sys.stderr.write("sandbox: cannot build the namespace: %s\n" % e)
    os._exit(126)
  pid = os.fork()
  if pid == 0:
    try:
      become_nobody(lib)
      limit(spec)
    except OSError as e:
      sys.stderr.write("sandbox: cannot drop privileges: %s\n" % e)
      os._exit(126)
    execute(spec, argv)
  while True:  # init: reap everything; the program's end is the sandbox's end
    try:
      done, status = os.waitpid(-1, 0)
    except ChildProcessError:
      os._exit(1)
    if done == pid:
      break
  if os.WIFSIGNALED(status):
    os._exit(128 + os.WTERMSIG(status))
  os._exit(os.WEXITSTATUS(status))


def main():
  spec = dict(item.split("=", 1) for item in sys.argv[1].split(";"))
  argv = sys.argv[2:]
  # What a compile step writes must be readable by the run step, which may get another uid.
  os.umask(0o022)
  if "namespace" in spec:
    namespace_init(spec, argv)
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
