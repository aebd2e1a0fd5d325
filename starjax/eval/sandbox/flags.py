"""The sandbox's command-line flags of `run.py eval` and `run.py evaluate`."""

from __future__ import annotations

import gin

from starjax.eval.sandbox.sandbox import Sandbox


def add_flags(parser) -> None:
  """Adds --sandbox and --allow_unsandboxed to an argparse parser (run.py eval/evaluate)."""
  parser.add_argument("--sandbox", choices=("auto", "bwrap", "unshare"), default=None,
                      help="isolation backend: auto (bubblewrap, else unshare; the default), "
                      "bwrap or unshare (that one, or an error); gin Sandbox.isolation")
  parser.add_argument("--allow_unsandboxed", action="store_true",
                      help="where no backend can isolate, run programs with rlimits only "
                      "(they can read your files and use the network) instead of refusing")


def apply_flags(args) -> Sandbox:
  """Binds the flags of add_flags into gin and checks at once that the sandbox works (before any
  generation). Returns that Sandbox; raises SandboxUnavailableError with the fix."""
  with gin.unlock_config():
    if args.sandbox is not None:
      gin.bind_parameter("Sandbox.isolation", args.sandbox)
    if args.allow_unsandboxed:
      gin.bind_parameter("Sandbox.allow_unsandboxed", True)
  return Sandbox()
