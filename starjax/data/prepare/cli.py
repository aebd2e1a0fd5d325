"""`python run.py data prepare --input=DIR --output=DIR [--opt_out=FILE] [--gin.…] [Beam flags]`.

Beam's own flags pass through (`--runner=FlinkRunner`, `--direct_num_workers=4`, …); without a
runner, Beam's local engine (the FnApiRunner, see starjax/data/beam_options.py) runs on every
core (multi-processing).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import time

from starjax.data import beam_options
from starjax.data.errors import DataError
from starjax.data.prepare import commit, decontamination, documents, ledger, report, stages
from starjax.data.prepare import opt_out as opt_out_lib

# Source files whose behaviour the output depends on: their hash is the code version.
_CODE = ("data/prepare/*.py", "data/filters.py", "data/licenses.py", "data/shards.py")
_PACKAGES = ("apache-beam", "datasketch", "detect-secrets", "pyarrow")


def code_version() -> dict:
  """sha256 of the preparation code and the versions of the libraries that decide the output."""
  import glob
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  h = hashlib.sha256()
  for pattern in _CODE:
    for path in sorted(glob.glob(os.path.join(root, pattern))):
      with open(path, "rb") as f:
        h.update(os.path.relpath(path, root).encode() + b"\0" + f.read() + b"\0")
  return {"source_sha256": h.hexdigest(),
          **{name: importlib.metadata.version(name) for name in _PACKAGES}}


def _strings_digest(strings) -> str:
  h = hashlib.sha256()
  for s in strings:
    h.update(f"{s.reason}\0{s.text}\0".encode())
  return h.hexdigest()


def prepare(input_dir: str, output_dir: str, opt_out_path=None, beam_args=(),
            progress=print) -> dict:
  """Runs the whole preparation; returns the manifest. DataError for bad input or output."""
  from starjax.data.prepare import pipeline  # Beam only when preparing
  try:
    options = stages.prepare_options()
  except DataError as e:  # gin appends "In call to configurable ..." lines: keep the first
    raise DataError(str(e).splitlines()[0]) from None
  input_dir, output_dir = os.path.abspath(input_dir), os.path.abspath(output_dir)
  if output_dir == input_dir or output_dir.startswith(input_dir + os.sep):
    raise DataError(f"--output={output_dir}: must not be inside --input={input_dir}")
  input_shards = documents.discover(input_dir)
  opt_out = opt_out_lib.load(opt_out_path)
  strings = []
  if options.decontamination.enabled:
    strings = decontamination.benchmark_strings(options.decontamination.benchmarks)
    if not strings:
      raise DataError("decontamination: no benchmark strings are registered (starjax.eval "
                      "registers them when imported); pass --gin.decontamination.enabled=False "
                      "to prepare without it")
  matcher = decontamination.Matcher(strings, options.decontamination.min_chars)
  input_rows = sum(s.rows for s in input_shards)
  identity_parts = {
      "input": documents.fingerprint(input_shards), "config": options.as_dict(),
      "opt_out": opt_out.sha256, "code": code_version(), "strings": _strings_digest(strings)}
  identity = hashlib.sha256(repr(sorted(identity_parts.items())).encode()).hexdigest()
  existing = commit.existing_run(output_dir, identity)
  if existing is not None:
    progress(f"{output_dir}: already prepared from this input and config (manifest "
             f"{existing['identity'][:12]}); nothing to do")
    return existing
  import pyarrow.parquet as pq
  args = pipeline.default_beam_args(beam_args)

  def verified_run():
    """Runs the pipeline into a fresh staging directory and reconciles what it wrote."""
    staging = commit.fresh_staging(output_dir)
    progress(f"preparing {input_rows:,} documents from {len(input_shards)} shards of "
             f"{input_dir} (staging in {staging})")
    start = time.monotonic()
    pipeline.run(input_shards, staging, options, opt_out, strings, args)
    seconds = time.monotonic() - start
    table = ledger.read(staging)
    data_digests = commit.file_digests(staging, (os.path.join("**", "*.parquet"),))
    data_digests = {k: v for k, v in data_digests.items()
                    if not k.startswith(ledger.DIRECTORY + os.sep)}
    output_rows = {k: pq.ParquetFile(os.path.join(staging, k)).metadata.num_rows
                   for k in data_digests}
    try:
      counts = ledger.reconcile(table, input_rows, output_rows)
    except DataError as e:
      raise pipeline.LostElements(str(e)) from e
    return staging, seconds, table, data_digests, output_rows, counts

  try:
    staging, seconds, table, data_digests, output_rows, counts = verified_run()
  except pipeline.LostElements as e:
    if not beam_options.is_local_multi_process(args):
      raise DataError(f"{e}: the runner lost or repeated elements; nothing was written to "
                      f"{output_dir}. Run again (the output would be the same)") from e
    # Seen in 4 of 15 full local-corpus runs with worker processes (BENCHMARKS.md).
    progress(f"warning: Beam's local multi-process runner lost elements in this run ({e}); "
             f"nothing was committed. Running again in one process (--direct_running_mode="
             "in_memory), which gives the same output")
    args = beam_options.one_process(args)
    staging, seconds, table, data_digests, output_rows, counts = verified_run()
  summary = report.summarise(table)
  ledger_digests = commit.file_digests(staging, (os.path.join(ledger.DIRECTORY, "*.parquet"),))
  manifest = {
      "format_version": commit.FORMAT_VERSION,
      "identity": identity,
      "input": {"root": input_dir, "fingerprint": identity_parts["input"], "rows": input_rows,
                "shards": {s.relative: {"rows": s.rows, "sha256": s.sha256}
                           for s in input_shards}},
      "output": {"fingerprint": commit.fingerprint({**data_digests, **ledger_digests}),
                 "rows": sum(output_rows.values()),
                 "shards": {k: {"rows": output_rows[k], "sha256": v}
                            for k, v in data_digests.items()},
                 "ledger": ledger_digests},
      "config": options.as_dict(),
      "opt_out": {"sha256": opt_out.sha256, "entries": len(opt_out)},
      "decontamination": {"benchmarks": sorted({s.benchmark for s in strings}),
                          "strings": matcher.searched, "skipped_short": matcher.skipped,
                          "strings_sha256": identity_parts["strings"]},
      "code_version": identity_parts["code"],
      "counts": counts,
      "summary": summary,
  }
  report.write(staging, summary, manifest)
  commit.write_manifest(staging, manifest)
  commit.commit(staging, output_dir)
  megabytes = sum(s.get("bytes_in", 0) for s in summary["by_stage"].values()) / 1e6
  progress(f"wrote {output_dir}: {manifest['output']['rows']:,} of {input_rows:,} documents kept "
           f"in {seconds:.1f} s ({megabytes / max(seconds, 1e-9):.2f} MB/s)")
  for stage, c in counts.items():
    progress(f"  {stage:<16} " + ", ".join(f"{k} {v:,}" for k, v in sorted(c.items())))
  progress(f"  report: {os.path.join(output_dir, 'report.md')}")
  return manifest


def add_parser(sub) -> None:
  """Adds `prepare` to the `run.py data` subcommands."""
  parser = sub.add_parser("prepare", help="opt-out, dedup, near-dedup, PII, decontamination "
                          "(Apache Beam) → Stack layout + ledger/ + manifest.json + report.md")
  parser.add_argument("--input", required=True, metavar="DIR",
                      help="Stack-format root: data/<language>/*.parquet (e.g. the local corpus)")
  parser.add_argument("--output", required=True, metavar="DIR",
                      help="new or empty directory for the prepared shards, ledger and report")
  parser.add_argument("--opt_out", default=None, metavar="FILE",
                      help="GitHub usernames and/or owner/repo, one per line (or BigCode's JSON)")


def main(args, beam_args) -> int:
  """`run.py data prepare`: returns the exit status (DataError is the caller's to report)."""
  prepare(args.input, args.output, args.opt_out, beam_args)
  return 0
