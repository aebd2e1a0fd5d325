"""Contamination-aware evaluation: which benchmark problems are in the training data, and
pass@k on the clean and the contaminated problems separately.

A problem is contaminated when its prompt, its canonical solution (HumanEval) or the two
together are found in the training data: the governance index's membership filter first, then
exact verification by search (starjax.data.governance.attribution), covering at least
`min_coverage` of that text's characters. Texts shorter than one chunk (50 normalised
characters) cannot be tested and are skipped.

summary.json gains `contaminated_task_ids` (benchmark order), `pass@k_clean` and
`pass@k_contaminated` for each reported k (null when that group is empty) and `contamination`
(the index, its data fingerprint, whether it matches the model's training data); the evidence
per problem (coverage, source documents) is in OUT/contamination.json.
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
from typing import Any, Mapping, Optional, Sequence

MIN_COVERAGE = 0.5
EVIDENCE_FILE = "contamination.json"
_MACRO = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*'([^']*)'\s*$", re.MULTILINE)
_PREPARED = re.compile(r"^\s*local_preparation\.enabled\s*=\s*True\s*$", re.MULTILINE)
_MAX_BYTES = re.compile(r"^\s*local_preparation\.max_bytes\s*=\s*([\d.e+]+)\s*$", re.MULTILINE)


def add_index_flag(parser) -> None:
  """--index=INDEX for `run.py eval` and `run.py evaluate`."""
  parser.add_argument("--index", default=None,
                      help="a governance index of the training data (run.py data index): "
                      "summary.json then splits pass@k into clean and contaminated problems")


def open_index(directory: str):
  """The governance index at `directory` (DataError, a ValueError, when it is unusable)."""
  from starjax.data.governance import index_dir  # pylint: disable=import-outside-toplevel
  return index_dir.open_index(directory)


def open_for_eval(directory: Optional[str], model_dir: Optional[str] = None,
                  command: str = "eval"):
  """(index, data_check) for --index (None, None without it); warns on stderr when the index
  is not of the model's training data. DataError when the index is unusable."""
  if not directory:
    return None, None
  index = open_index(directory)
  check = data_check(index, model_dir)
  warning = mismatch_warning(check)
  if warning:
    print(f"run.py {command}: warning: {warning}", file=sys.stderr)
  return index, check


def problem_texts(benchmark) -> dict[str, dict[str, str]]:
  """task_id → {"prompt": …, "solution": …, "prompt+solution": …} (solutions: HumanEval only)."""
  solutions = {}
  if benchmark.name == "humaneval":
    from starjax.eval import humaneval  # pylint: disable=import-outside-toplevel
    solutions = {t: raw["canonical_solution"] for t, raw in humaneval.read_humaneval().items()}
  texts = {}
  for task_id, problem in benchmark.problems.items():
    entry = {"prompt": problem.prompt}
    if task_id in solutions:
      entry["solution"] = solutions[task_id]
      entry["prompt+solution"] = problem.prompt + solutions[task_id]
    texts[task_id] = entry
  return texts


def find_contaminated(benchmark, index, min_coverage: float = MIN_COVERAGE
                      ) -> dict[str, dict[str, Any]]:
  """task_id → evidence ({"text", "coverage", "sources"}) of each contaminated problem."""
  from starjax.data.governance import attribution, membership  # pylint: disable=import-outside-toplevel
  found = {}
  for task_id, texts in problem_texts(benchmark).items():
    for name, text in texts.items():
      if len(membership.normalize_text(text)) < membership.CHUNK:
        continue
      spans = attribution.attribute_spans(index, text)
      covered = attribution.verified_coverage(spans, len(text))
      if covered >= min_coverage:
        sources = sorted({(s.repo, s.path, s.license) for span in spans for s in span.sources})
        found[task_id] = {"text": name, "coverage": round(covered, 4),
                          "sources": [{"repo": r, "path": p, "license": l}
                                      for r, p, l in sources]}
        break
  return found


def split_pass_at_k(records: Sequence[Mapping[str, Any]], contaminated: set[str],
                    ks: Sequence[int]) -> dict[str, Optional[float]]:
  """pass@k_clean and pass@k_contaminated for each k, from results.jsonl records (task_id,
  passed; invalid input lines are not samples)."""
  from starjax.eval.pass_at_k import mean_pass_at_k  # pylint: disable=import-outside-toplevel
  from starjax.eval.results import INVALID  # pylint: disable=import-outside-toplevel
  counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
  for record in records:
    if not isinstance(record.get("task_id"), str) or str(record.get("result", "")).startswith(
        INVALID):
      continue
    counts[record["task_id"]][0] += 1
    counts[record["task_id"]][1] += bool(record.get("passed"))
  out: dict[str, Optional[float]] = {}
  for group, keep in (("clean", lambda t: t not in contaminated),
                      ("contaminated", lambda t: t in contaminated)):
    subset = {t: tuple(nc) for t, nc in counts.items() if keep(t)}
    values, _ = mean_pass_at_k(subset, ks)
    for k in ks:
      out[f"pass@{k}_{group}"] = values.get(f"pass@{k}")
  return out


def model_data_root(model_dir: str) -> Optional[str]:
  """The data root a model was trained on, from MODEL_DIR/config.gin: the local corpus for
  `local_*` tasks and mixtures (its prepared subset with local_preparation.enabled), else
  `data_paths.stack_dir`; None when it cannot be told."""
  from starjax.model_dir import config_gin_path  # pylint: disable=import-outside-toplevel
  path = config_gin_path(model_dir)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    text = f.read()
  bindings = dict(_MACRO.findall(text))
  task = bindings.get("MIXTURE_OR_TASK_NAME", "")
  if task.startswith("local_"):
    # pylint: disable-next=import-outside-toplevel
    from starjax.data import config, local_corpus, prepared_local
    cache_dir = config.data_paths(cache_dir=bindings.get("data_paths.cache_dir")).cache_dir
    if not _PREPARED.search(text):
      return local_corpus.corpus_dir(cache_dir)
    # Trained on the prepared subset of the local corpus (the quickstart): that data root.
    max_bytes = _MAX_BYTES.search(text)
    options = config.LocalPreparationOptions(
        True, int(float(max_bytes.group(1))) if max_bytes else None,
        bindings.get("local_preparation.opt_out"))
    directory = prepared_local.existing_prepared(cache_dir, options)
    return prepared_local.data_root(directory) if directory else None
  return bindings.get("data_paths.stack_dir")


def data_check(index, model_dir: Optional[str]) -> dict[str, Any]:
  """Whether the index was built from the model's training data (by fingerprint)."""
  from starjax.data.errors import DataError  # pylint: disable=import-outside-toplevel
  from starjax.data.governance import fingerprint  # pylint: disable=import-outside-toplevel
  check = {"index": os.path.abspath(index.directory), "data_fingerprint": index.fingerprint,
           "index_data_root": index.manifest["data_root"], "model_data_root": None,
           "matches_model_data": None}
  root = model_data_root(model_dir) if model_dir else None
  if root:
    check["model_data_root"] = root
    try:
      check["matches_model_data"] = fingerprint.data_fingerprint(root) == index.fingerprint
    except DataError as e:
      check["model_data_error"] = str(e)
  return check


def mismatch_warning(check: Mapping[str, Any]) -> Optional[str]:
  """The line to print when the index is not of the model's data; None when it is or unknown."""
  if check.get("matches_model_data") is False:
    return (f"the index {check['index']} was built from other data ({check['index_data_root']}, "
            f"{check['data_fingerprint'][:16]}…) than the model was trained on "
            f"({check['model_data_root']}): its contaminated/clean split describes that data, "
            f"not the model's. Rebuild it: python run.py data index "
            f"--input={check['model_data_root']} --output=INDEX")
  return None


def add_split(summary: dict[str, Any], benchmark, index, out_dir: str,
              check: Optional[Mapping[str, Any]] = None,
              min_coverage: float = MIN_COVERAGE) -> dict[str, Any]:
  """Adds the contamination split to a summary and rewrites OUT/summary.json; writes
  OUT/contamination.json. index: an opened governance index. check: data_check()'s answer."""
  from starjax.eval import results as results_lib  # pylint: disable=import-outside-toplevel
  found = find_contaminated(benchmark, index, min_coverage)
  contaminated = [t for t in benchmark.problems if t in found]
  with open(os.path.join(out_dir, results_lib.RESULTS_FILE), encoding="utf-8") as f:
    records = [json.loads(line) for line in f if line.strip()]
  ks = sorted(int(key[5:]) for key in summary if re.fullmatch(r"pass@\d+", key))
  summary = dict(summary)
  summary["contaminated_task_ids"] = contaminated
  summary.update(split_pass_at_k(records, set(contaminated), ks))
  summary["contamination"] = {**(check or data_check(index, None)),
                              "num_contaminated": len(contaminated),
                              "num_clean": len(benchmark.problems) - len(contaminated),
                              "min_coverage": min_coverage,
                              "evidence_file": os.path.join(out_dir, EVIDENCE_FILE)}
  results_lib.write_json_atomic(os.path.join(out_dir, EVIDENCE_FILE),
                                {t: found[t] for t in contaminated})
  results_lib.write_json_atomic(os.path.join(out_dir, results_lib.SUMMARY_FILE), summary)
  return summary


def markdown_split(summaries: Sequence[Mapping[str, Any]]) -> str:
  """A table of pass@k on all / clean / contaminated problems, for summaries that have the
  split ("" when none has)."""
  rows = [s for s in summaries if "contaminated_task_ids" in s]
  if not rows:
    return ""
  keys = sorted({key for s in rows for key in s if re.fullmatch(r"pass@\d+", key)},
                key=lambda key: int(key[5:]))
  header = ["benchmark", "contaminated", "clean"]
  for key in keys:
    header += [f"{key} all", f"{key} clean", f"{key} contaminated"]
  lines = ["## Contamination: problems found in the training data\n",
           "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  percent = lambda v: "–" if v is None else f"{100 * v:.2f}"
  for s in rows:
    info = s.get("contamination", {})
    cells = [s["benchmark"], str(len(s["contaminated_task_ids"])), str(info.get("num_clean", "–"))]
    for key in keys:
      cells += [percent(s.get(key)), percent(s.get(f"{key}_clean")),
                percent(s.get(f"{key}_contaminated"))]
    lines.append("| " + " | ".join(cells) + " |")
  notes = []
  for s in rows:
    info = s.get("contamination", {})
    ids = s["contaminated_task_ids"]
    if ids:
      shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
      notes.append(f"- **{s['benchmark']}** contaminated: {shown}")
    if info.get("matches_model_data") is False:
      notes.append(f"- **{s['benchmark']}**: the index was built from other data than the "
                   "model's (fingerprint mismatch)")
  index = rows[0].get("contamination", {}).get("index")
  return ("\n".join(lines) + "\n\n" + (f"index: `{index}`\n" if index else "")
          + ("\n".join(notes) + "\n" if notes else ""))
