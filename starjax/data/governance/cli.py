"""`run.py data index|member|search|attribute`: the governance tools over the training data.

  data index --input=ROOT --output=INDEX [Beam options]   build the membership filter, the
                                       full-text index and the manifest of a Stack-format root
  data member --index=INDEX (--text=T | --file=F) [--json]   spans of the input found in the data
  data search --index=INDEX --query=Q [--top=10] [--language=L] [--json]   BM25-ranked documents
  data attribute --index=INDEX (--file=F | --text=T) [--json]   spans, then their source
                                       documents and licenses

The --json formats: member `{"spans": [{"start", "end"}], "coverage"}`; search one object per
line `{"rank", "repo", "path", "license", "language", "score", "snippet"}`; attribute
`{"spans": [{"start", "end", "sources": [{"repo", "path", "license"}]}]}`. Offsets are
characters of the input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from starjax.data.errors import DataError
from starjax.data.governance import index_build  # registers the gin configurable index_options

ACTIONS = ("index", "member", "search", "attribute")
PASS_THROUGH_ACTIONS = ("index",)  # unrecognised --options are Beam pipeline options


def add_parsers(sub) -> None:
  """Adds the governance subcommands to `run.py data`'s subparsers."""
  index = sub.add_parser("index", help="build a governance index (membership filter, search)",
                         description="Build the governance index of a Stack-format data root "
                         "with an Apache Beam pipeline. Unrecognised --options are Beam's "
                         "pipeline options, e.g. --direct_num_workers=2 "
                         "--direct_running_mode=multi_processing. Gin: index_options.* "
                         "(false_positive_rate, search_shards).")
  index.add_argument("--input", required=True, help="data root (prepared or not)")
  index.add_argument("--output", required=True, help="index directory to write")
  index.add_argument("--json", action="store_true", help="print the manifest as JSON")
  for name, help_ in (("member", "spans of a text found in the training data"),
                      ("attribute", "source documents and licenses of a text's spans")):
    action = sub.add_parser(name, help=help_)
    action.add_argument("--index", required=True, help="index directory (data index)")
    group = action.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="the text itself")
    group.add_argument("--file", help="a file holding the text ('-' for standard input)")
    action.add_argument("--json", action="store_true", help="print one JSON object")
  search = sub.add_parser("search", help="full-text search of the training documents")
  search.add_argument("--index", required=True, help="index directory (data index)")
  search.add_argument("--query", required=True,
                      help='words (all must occur), "quoted phrases", repo:/path:/license: fields')
  search.add_argument("--top", type=int, default=10, help="hits to show")
  search.add_argument("--language", default=None, help="only documents of this language")
  search.add_argument("--json", action="store_true", help="one JSON object per hit and line")


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
  """Runs a governance action; DataError propagates (run.py data prints it, exit 1)."""
  return {"index": _index, "member": _member, "search": _search,
          "attribute": _attribute}[args.action](args, beam_args)


class _Usage(DataError):
  """A usage error (exit status 2)."""


def is_usage_error(error: Exception) -> bool:
  return isinstance(error, _Usage)


def _read_text(args) -> str:
  if args.text is not None:
    return args.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
  if args.file == "-":
    return sys.stdin.read()
  try:
    with open(args.file, encoding="utf-8", errors="replace") as f:
      return f.read()
  except OSError as e:
    raise _Usage(f"--file={args.file}: {e.strerror}") from e


def _index(args, beam_args) -> int:
  try:
    options = index_build.index_options()
  except DataError as e:  # a bad gin value is a usage error
    raise _Usage(str(e)) from e
  manifest = index_build.build_index(args.input, args.output, options, beam_args=beam_args)
  if args.json:
    print(json.dumps(manifest, indent=1, sort_keys=True))
    return 0
  f, s = manifest["filter"], manifest["search"]
  mb = manifest["data_bytes"] / 1e6
  print(f"index: {os.path.abspath(args.output)}")
  print(f"  data: {manifest['data_root']} ({manifest['data_fingerprint'][:16]}…)")
  print(f"  {manifest['num_documents']:,} documents, {mb:.2f} MB of text, "
        f"{manifest['num_chunks']:,} chunks of {f['chunk']} characters")
  print(f"  membership filter: {f['bytes'] / 1e6:.2f} MB ({100 * f['fraction_of_data']:.1f} % of "
        f"the data), {f['num_hashes']} hashes; false positives: measured "
        f"{100 * f['measured_fp_rate']:.3f} % on {f['fp_samples']:,} random strings (target "
        f"{100 * f['target_fp_rate']:.3f} %)")
  print(f"  search index: {s['bytes'] / 1e6:.2f} MB ({100 * s['fraction_of_data']:.0f} % of the "
        f"data, text included), {len(s['files'])} shard(s), {s['engine']}")
  print(f"  built in {manifest['build_seconds']:.1f} s "
        f"({mb / max(manifest['pipeline_seconds'], 1e-9):.2f} MB/s)")
  return 0


def _member(args, _) -> int:
  from starjax.data.governance import index_dir, membership  # pylint: disable=import-outside-toplevel
  text = _read_text(args)
  index = index_dir.open_index(args.index)
  spans = membership.find_spans(index.bloom, text)
  covered = membership.coverage(spans, len(text))
  if args.json:
    print(json.dumps({"spans": [{"start": s.start, "end": s.end} for s in spans],
                      "coverage": covered}))
    return 0
  print(f"{len(spans)} span(s) found in the training data of {args.index} "
        f"(coverage {100 * covered:.1f} % of {len(text)} characters; false-positive rate per "
        f"window {100 * index.manifest['filter']['measured_fp_rate']:.3f} %)")
  for s in spans:
    print(f"  [{s.start}, {s.end}) {s.end - s.start} chars: {_preview(text[s.start:s.end])}")
  return 0


def _preview(text: str, width: int = 70) -> str:
  flat = " ".join(text.split())
  return repr(flat if len(flat) <= width else flat[:width - 1] + "…")


def _search(args, _) -> int:
  from starjax.data.governance import index_dir  # pylint: disable=import-outside-toplevel
  if args.top < 1:
    raise _Usage(f"--top={args.top}: give at least 1")
  index = index_dir.open_index(args.index)
  hits = index.search.search(args.query, top=args.top, language=args.language)
  for rank, hit in enumerate(hits, 1):
    if args.json:
      print(json.dumps({"rank": rank, "repo": hit.repo, "path": hit.path, "license": hit.license,
                        "language": hit.language, "score": hit.score, "snippet": hit.snippet},
                       ensure_ascii=False))
    else:
      stars = f", {hit.stars} stars" if hit.stars >= 0 else ""
      print(f"{rank}. {hit.repo}/{hit.path}  ({hit.license or 'no license column'}, "
            f"{hit.language}{stars}; score {hit.score:.2f})")
      print("   " + hit.snippet.replace("\n", "\n   "))
  if not hits and not args.json:
    print(f"no documents match {args.query!r}")
  return 0


def _attribute(args, _) -> int:
  from starjax.data.governance import attribution, index_dir  # pylint: disable=import-outside-toplevel
  text = _read_text(args)
  index = index_dir.open_index(args.index)
  if args.json:
    print(json.dumps(attribution.attribute(index, text), ensure_ascii=False))
    return 0
  spans = attribution.attribute_spans(index, text)
  confirmed = [s for s in spans if s.sources]
  print(f"{len(confirmed)} span(s) of {len(text)} characters found in training documents "
        f"({100 * attribution.verified_coverage(spans, len(text)):.1f} % of the text); "
        f"{len(spans) - len(confirmed)} filter hit(s) not confirmed by search")
  for s in confirmed:
    print(f"  [{s.start}, {s.end}) {_preview(text[s.start:s.end])}")
    for src in s.sources:
      print(f"      {src.repo}/{src.path}  license: {src.license or 'unknown'}  "
            f"({src.language}, {src.doc_id})")
  return 0
