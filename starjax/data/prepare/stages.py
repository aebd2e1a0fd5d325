"""The gin-visible options of every `data prepare` stage; the defaults are BigCode's settings.

Each stage can be switched off with `--gin.<stage>.enabled=False`, e.g.
`--gin.near_dedup.enabled=False`. Everything here is recorded in the output's manifest.json.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import gin

from starjax.data.errors import DataError

STAGES = ("filter", "opt_out", "exact_dedup", "near_dedup", "pii", "decontamination")
KEEP_RULES = ("lowest_index", "quality")
PII_TYPES = ("email", "ip_address", "key", "password", "name")


@dataclasses.dataclass(frozen=True)
class FilterOptions:
  enabled: bool
  quality: bool  # starjax.data.filters.quality_problem (generated, minified, ...)
  license: bool  # rows whose license column is not permissive (starjax.data.licenses)


@gin.configurable(module="starjax.data.prepare")
def prepare_filters(enabled: bool = True, quality: bool = True, license: bool = True
                    ) -> FilterOptions:
  """License and quality filters (the ones `data build-local` applies).

  Args:
    enabled: run the stage at all.
    quality: drop files `starjax.data.filters.quality_problem` rejects.
    license: drop rows whose `license` (or The Stack's `max_stars_repo_licenses`) column is
      present and not permissive; rows without such a column pass.
  """
  return FilterOptions(bool(enabled), bool(quality), bool(license))


@dataclasses.dataclass(frozen=True)
class OptOutOptions:
  enabled: bool


@gin.configurable(module="starjax.data.prepare")
def opt_out(enabled: bool = True) -> OptOutOptions:
  """Removal of files whose repository owner or `owner/repo` is on the --opt_out list."""
  return OptOutOptions(bool(enabled))


@dataclasses.dataclass(frozen=True)
class ExactDedupOptions:
  enabled: bool


@gin.configurable(module="starjax.data.prepare")
def exact_dedup(enabled: bool = True) -> ExactDedupOptions:
  """Removal of byte-identical files (sha256 of content); the lowest document index stays."""
  return ExactDedupOptions(bool(enabled))


@dataclasses.dataclass(frozen=True)
class NearDedupOptions:
  enabled: bool
  num_perm: int
  seed: int
  ngram: int
  bands: int
  rows: int
  keep: str
  components_rounds: Optional[int]


@gin.configurable(module="starjax.data.prepare")
def near_dedup(enabled: bool = True, num_perm: int = 256, seed: int = 42, ngram: int = 5,
               bands: int = 25, rows: int = 10, keep: str = "lowest_index",
               components_rounds: Optional[int] = None) -> NearDedupOptions:
  """MinHash LSH near-deduplication, StarCoder v1's settings by default.

  Args:
    enabled: run the stage at all.
    num_perm: MinHash permutations (mod 2^61-1, datasketch's "legacy" scheme).
    seed: the permutations' seed (datasketch's RandomState seed).
    ngram: words per shingle; documents with fewer words have no shingles and are never
      near-duplicates of anything (exact dedup still applies to them).
    bands, rows: LSH banding over the first bands * rows ≤ num_perm hash values (BigCode:
      250 of 256, as datasketch's MinHashLSH(threshold=0.7, num_perm=256) picks). 25 x 10 detects pairs of
      Jaccard similarity s with probability 1 - (1 - s^10)^25 (50 % at s ≈ 0.72).
    keep: which document of a cluster stays: "lowest_index" (StarCoder v1) or "quality"
      (StarCoder2: permissive license, then stars, then recency; ties by document index).
    components_rounds: rounds of large-star/small-star for connected components; None picks
      ceil(log2(documents)) + 2. The pipeline fails if they do not suffice.
  """
  if keep not in KEEP_RULES:
    raise DataError(f"near_dedup.keep={keep!r}: must be one of {', '.join(KEEP_RULES)}")
  if bands * rows > num_perm:
    raise DataError(f"near_dedup.bands={bands} x near_dedup.rows={rows} must not exceed "
                    f"near_dedup.num_perm={num_perm}")
  if ngram < 1:
    raise DataError(f"near_dedup.ngram={ngram}: must be at least 1")
  return NearDedupOptions(bool(enabled), int(num_perm), int(seed), int(ngram), int(bands),
                          int(rows), str(keep),
                          None if components_rounds is None else int(components_rounds))


@dataclasses.dataclass(frozen=True)
class PiiOptions:
  enabled: bool
  types: tuple[str, ...]


@gin.configurable(module="starjax.data.prepare")
def pii(enabled: bool = True, types: tuple[str, ...] = PII_TYPES) -> PiiOptions:
  """PII redaction: emails → <EMAIL>, keys → <KEY>, passwords → <PASSWORD>, public IP
  addresses → one of five fixed private ones.

  Args:
    enabled: run the stage at all.
    types: which of "email", "ip_address", "key", "password", "name" to redact.
  """
  unknown = sorted(set(types) - set(PII_TYPES))
  if unknown:
    raise DataError(f"pii.types: unknown {unknown}; known: {', '.join(PII_TYPES)}")
  return PiiOptions(bool(enabled), tuple(t for t in PII_TYPES if t in types))


@dataclasses.dataclass(frozen=True)
class DecontaminationOptions:
  enabled: bool
  min_chars: int
  benchmarks: Optional[tuple[str, ...]]


@gin.configurable(module="starjax.data.prepare")
def decontamination(enabled: bool = True, min_chars: int = 50,
                    benchmarks: Optional[tuple[str, ...]] = None) -> DecontaminationOptions:
  """Removal of files that contain a benchmark's prompt, docstring or solution.

  Args:
    enabled: run the stage at all.
    min_chars: benchmark strings shorter than this (after whitespace is collapsed) are not
      searched for: `return a + b` is in countless unrelated files.
    benchmarks: names in the registry to use; None uses every registered benchmark.
  """
  if min_chars < 16:
    raise DataError(f"decontamination.min_chars={min_chars}: below 16 characters a match says "
                    "nothing; use 16 or more")
  return DecontaminationOptions(bool(enabled), int(min_chars),
                                None if benchmarks is None else tuple(benchmarks))


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
  """Every stage's options, as the pipeline and the manifest see them."""
  filters: FilterOptions
  opt_out: OptOutOptions
  exact_dedup: ExactDedupOptions
  near_dedup: NearDedupOptions
  pii: PiiOptions
  decontamination: DecontaminationOptions
  ledger_rows_per_file: int

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


@gin.configurable(module="starjax.data.prepare")
def prepare_options(ledger_rows_per_file: int = 100_000) -> PrepareOptions:
  """All stages' options from gin (see each configurable for its knobs)."""
  return PrepareOptions(prepare_filters(), opt_out(), exact_dedup(), near_dedup(), pii(),
                        decontamination(), int(ledger_rows_per_file))
