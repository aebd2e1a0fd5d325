"""StarCoder's metadata and FIM transforms with randomness keyed by (key, document index).

The same transformations as `starjax.data.preprocessors` (the tf.data pipeline), on Python
strings: metadata fields each with probability `metadata_rate` (`<reponame>`, `<filename>`,
`<gh_stars>`, then a newline if any), then, with probability `fim_rate`, a character-level FIM
split at two uniform positions, SPM with probability `spm_rate`, laid out by
`starjax.tokens.fim_parts`. Every random choice is `keyed_uniform(key, doc, stream)` with `key`
derived from (seed, task, epoch): the same document in the same epoch is always transformed the
same way, whatever the number of processes or where the run was resumed.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from starjax.data.index_shuffle import keyed_uniform
from starjax.tokens import FILENAME, GH_STARS, REPONAME, fim_parts

_STAR_EDGES = (1, 10, 100, 1000)
_STAR_NAMES = ("0", "1-10", "10-100", "100-1000", "1000+")
# Streams of keyed_uniform: three metadata fields, FIM or not, SPM or PSM, two split points.
_REPO, _PATH, _STARS, _FIM, _SPM, _POINT_A, _POINT_B = range(7)


@dataclasses.dataclass(frozen=True)
class Rates:
  metadata_rate: float = 0.2
  fim_rate: float = 0.5
  spm_rate: float = 0.5


def stars_bucket(stars: int) -> str:
  """GitHub stars → StarCoder's bucket (negative = unknown → "0")."""
  return _STAR_NAMES[sum(stars >= e for e in _STAR_EDGES)]


def transform(documents: Sequence, doc_ids: Sequence[int], key: int, rates: Rates) -> list[str]:
  """The training texts of `documents` (random_access.Document) with indices `doc_ids`."""
  ids = np.asarray(doc_ids, np.int64)
  u = {s: keyed_uniform(key, ids, s) for s in range(7)}
  texts = []
  for i, doc in enumerate(documents):
    header = "".join(field for field, stream in (
        (REPONAME + doc.repo, _REPO), (FILENAME + doc.path, _PATH),
        (GH_STARS + stars_bucket(doc.stars), _STARS)) if u[stream][i] < rates.metadata_rate)
    text = f"{header}\n{doc.content}" if header else doc.content
    if u[_FIM][i] < rates.fim_rate:
      n = len(text)  # code points, as the published FIM (and tf's UTF8_CHAR) counts
      a, b = (min(int(u[s][i] * (n + 1)), n) for s in (_POINT_A, _POINT_B))
      low, high = min(a, b), max(a, b)
      text = "".join(fim_parts(text[:low], text[high:], text[low:high],
                               spm=bool(u[_SPM][i] < rates.spm_rate)))
    texts.append(text)
  return texts
