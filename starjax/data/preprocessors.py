"""seqio preprocessors for StarCoder's documents, in pipeline order:

  add_metadata → apply_fim → tokenize_with_eos (which also cuts documents to the length)

Randomness comes from seqio's per-example seeds (`map_over_dataset(num_seeds=1)`), so a pipeline
is deterministic given the seed passed to `get_dataset`. FIM splits at *character* positions
(UTF-8 code points), as in StarCoder.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import seqio
import tensorflow as tf

from starjax.data import tokenizer as tokenizer_lib
from starjax.tokens import FILE_SEP, FILENAME, GH_STARS, REPONAME, SPECIAL_TOKENS, fim_parts

# A document's own text may hold special-token strings (`<|endoftext|>` in a tokenizer's source,
# `<fim_prefix>` in an editor plugin). add_metadata puts TEXT_MARK (U+10FFFE, a Unicode
# noncharacter, reserved for internal use) after the `<` of each, in the content and in the
# repository/path fields; tokenize_with_eos encodes the text between marks separately and drops
# the marks. So such strings become ordinary tokens, and control-token ids appear only where the
# pipeline put them (metadata, FIM, EOS). Inference does not mark: prompts keep them.
TEXT_MARK = "\U0010fffe"
_LITERAL_SPECIAL = "<(" + "|".join(re.escape(t[1:]) for t in SPECIAL_TOKENS + (FILE_SEP,)) + ")"
_LITERAL_SPECIAL_RE = re.compile(_LITERAL_SPECIAL)


def mark_special_tokens(text: tf.Tensor) -> tf.Tensor:
  """String tensor with TEXT_MARK after the `<` of every special-token string it contains."""
  return tf.strings.regex_replace(text, _LITERAL_SPECIAL, "<" + TEXT_MARK + r"\1")


def mark_special_text(text: str) -> str:
  """mark_special_tokens for a Python string (the step-indexed pipeline's preprocessing)."""
  return _LITERAL_SPECIAL_RE.sub("<" + TEXT_MARK + r"\1", text)


def encode_marked(vocabulary, texts: list[str]) -> list[list[int]]:
  """Token ids of each text, the pieces between TEXT_MARKs encoded separately (marks dropped)."""
  if not any(TEXT_MARK in t for t in texts):
    return vocabulary.encode_batch(texts)
  pieces = [t.split(TEXT_MARK) for t in texts]
  ids = iter(vocabulary.encode_batch([p for ps in pieces for p in ps]))
  return [list(itertools.chain.from_iterable(next(ids) for _ in ps)) for ps in pieces]



def stars_bucket(stars: tf.Tensor) -> tf.Tensor:
  """GitHub stars → StarCoder's bucket string: 0, 1-10, 10-100, 100-1000, 1000+.

  Args:
    stars: int64 scalar; negative means unknown and is bucketed as 0.
  """
  edges = tf.constant([1, 10, 100, 1000], tf.int64)
  names = tf.constant(["0", "1-10", "10-100", "100-1000", "1000+"])
  index = tf.reduce_sum(tf.cast(tf.cast(stars, tf.int64) >= edges, tf.int32))
  return tf.gather(names, index)


@seqio.map_over_dataset(num_seeds=1)
def add_metadata(features, seed, metadata_rate: float = 0.2):
  """`content` → `text` with `<reponame>repo`, `<filename>path`, `<gh_stars>bucket` prepended,
  each independently with probability `metadata_rate`, then a newline if anything was added.
  Special-token strings inside the fields and the content are marked (see TEXT_MARK)."""
  keep = tf.random.stateless_uniform([3], seed=seed) < metadata_rate
  fields = [
      tf.strings.join([REPONAME, mark_special_tokens(features["max_stars_repo_name"])]),
      tf.strings.join([FILENAME, mark_special_tokens(features["max_stars_repo_path"])]),
      tf.strings.join([GH_STARS, stars_bucket(features["max_stars_count"])]),
  ]
  header = tf.strings.join([tf.where(keep[i], fields[i], "") for i in range(3)])
  newline = tf.where(tf.strings.length(header) > 0, "\n", "")
  return {"text": tf.strings.join([header, newline, mark_special_tokens(features["content"])])}


@seqio.map_over_dataset(num_seeds=1)
def apply_fim(features, seed, fim_rate: float = 0.5, spm_rate: float = 0.5):
  """With probability `fim_rate`, rewrites `text` as a fill-in-the-middle example.

  The document is split at two uniformly random character positions into prefix P, middle M
  and suffix S, then written PSM `<fim_prefix>P<fim_suffix>S<fim_middle>M` or, with probability
  `spm_rate`, SPM (BigCode variant) `<fim_prefix><fim_suffix>S<fim_middle>PM`.
  """
  text = features["text"]
  decide_seed, split_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  decide = tf.random.stateless_uniform([2], seed=decide_seed)
  length = tf.cast(tf.strings.length(text, unit="UTF8_CHAR"), tf.int64)
  points = tf.random.stateless_uniform([2], seed=split_seed, minval=0, maxval=length + 1,
                                       dtype=tf.int64)
  low, high = tf.reduce_min(points), tf.reduce_max(points)
  substr = lambda start, size: tf.strings.substr(
      text, tf.cast(start, tf.int64), tf.cast(size, tf.int64), unit="UTF8_CHAR")
  prefix, middle, suffix = substr(0, low), substr(low, high - low), substr(high, length - high)
  psm = tf.strings.join(list(fim_parts(prefix, suffix, middle, spm=False)))
  spm = tf.strings.join(list(fim_parts(prefix, suffix, middle, spm=True)))
  fim_text = tf.where(decide[1] < spm_rate, spm, psm)
  return {"text": tf.where(decide[0] < fim_rate, fim_text, text)}


def tokenize_with_eos(dataset: tf.data.Dataset, output_features, sequence_length=None,
                      batch_size: int = 16, parallel_calls: int = 2) -> tf.data.Dataset:
  """`text` → `targets`: int32 [length] token ids followed by `<|endoftext|>` (id 0).

  Documents longer than `sequence_length["targets"]` (when given) become consecutive pieces of
  at most that length, so that packing keeps whole documents instead of truncating them; seqio
  passes `sequence_length` (None for `run.py data show`, which shows whole documents).
  Tokenizes `batch_size` documents per call so that the Rust tokenizer runs outside the GIL and
  the per-call overhead is shared, with at most `parallel_calls` calls in flight: a mixture has
  one such stage per language, and unbounded read-ahead in each would tokenize far ahead of
  what is consumed. The order of examples is unchanged.
  """
  vocabulary = output_features["targets"].vocabulary
  limit = int(sequence_length["targets"]) if sequence_length and sequence_length.get(
      "targets") else None
  eos = [tokenizer_lib.EOS_ID]

  def encode(texts: np.ndarray):
    ids = encode_marked(vocabulary, [t.decode("utf-8") for t in texts])
    flat = np.fromiter(itertools.chain.from_iterable(x + eos for x in ids), np.int32)
    lengths = []
    for x in ids:
      n = len(x) + 1
      if limit is None or n <= limit:
        lengths.append(n)
      else:
        full, rest = divmod(n, limit)
        lengths.extend([limit] * full + ([rest] if rest else []))
    return flat, np.asarray(lengths, np.int64)

  def encode_batch(batch):
    flat, lengths = tf.numpy_function(encode, [batch["text"]], [tf.int32, tf.int64],
                                      stateful=False)
    flat.set_shape([None])
    lengths.set_shape([None])
    return {"targets": tf.RaggedTensor.from_row_lengths(flat, lengths)}

  batched = dataset.map(lambda x: {"text": x["text"]}).batch(batch_size)
  encoded = batched.map(encode_batch, num_parallel_calls=parallel_calls)
  return encoded.unbatch().map(lambda x: {"targets": _dense(x["targets"])})


def _dense(t):
  return t.to_tensor() if isinstance(t, tf.RaggedTensor) else t
