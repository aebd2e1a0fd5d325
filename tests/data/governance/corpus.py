"""Synthetic code documents with licenses, written as a Stack-format root (data/<language>/)."""

import random

import pyarrow as pa
import pyarrow.parquet as pq

LICENSES = (["MIT"], ["Apache-2.0"], ["BSD-3-Clause", "MIT"], ["ISC"])
DISTINCTIVE = "the quokka ledger reconciles seventeen marmalade invoices before midnight"


def synthetic_code(rng: random.Random, words: list[str], lines: int) -> str:
  """Code-like text: indented lines of identifiers, calls and operators."""
  out = []
  depth = 0
  for _ in range(lines):
    kind = rng.random()
    names = rng.sample(words, 3)
    if kind < 0.2:
      out.append("    " * depth + f"def {names[0]}({names[1]}, {names[2]}=None):")
      depth = min(depth + 1, 3)
    elif kind < 0.5:
      out.append("    " * depth + f"{names[0]} = {names[1]}.{names[2]}({rng.randint(0, 999)})")
    elif kind < 0.7:
      out.append("    " * depth + f"if {names[0]} > {names[1]}:  # {names[2]} check")
      depth = min(depth + 1, 3)
    elif kind < 0.85:
      out.append("    " * depth + f"return {names[0]} + {names[1]} * {rng.random():.4f}")
      depth = max(depth - 1, 0)
    else:
      out.append("")
  return "\n".join(out) + "\n"


def corpus_rows(seed: int = 0, per_language: int = 60) -> dict[str, list[dict]]:
  rng = random.Random(seed)
  alphabet = "abcdefghijklmnopqrstuvwxyz"
  words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 10))) + rng.choice(
      ["", "_id", "_count", "s"]) for _ in range(4000)]
  rows = {}
  for language in ("python", "javascript"):
    rows[language] = []
    for i in range(per_language):
      content = synthetic_code(rng, words, rng.randint(20, 80))
      if language == "python" and i == 7:
        content = content[:200] + f"\n# {DISTINCTIVE}\n" + content[200:]
      rows[language].append({
          "content": content,
          "max_stars_repo_name": f"owner{i % 9}/{language}-project-{i}",
          "max_stars_repo_path": f"src/module_{i}.{'py' if language == 'python' else 'js'}",
          "max_stars_count": rng.randint(0, 5000),
          "max_stars_repo_licenses": LICENSES[i % len(LICENSES)],
      })
  return rows


def write_root(root, rows: dict[str, list[dict]], shards: int = 2):
  """Writes rows as data/<language>/train-NNNNN-of-NNNNN.parquet."""
  for language, language_rows in rows.items():
    folder = root / "data" / language
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(shards):
      pq.write_table(pa.Table.from_pylist(language_rows[i::shards]),
                     folder / f"train-{i:05d}-of-{shards:05d}.parquet", row_group_size=16)
  return root
