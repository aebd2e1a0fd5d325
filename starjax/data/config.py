"""The gin-visible knobs of the data pipeline, one configurable per concern.

Kept free of TensorFlow/seqio so that importing `starjax.data` (which every `run.py` command
does to register configurables) stays cheap. Users bind them as, e.g.,
`--gin.data_paths.stack_dir=/mnt/starcoderdata` or `--gin.code_preprocessing.fim_rate=0.9`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import gin

from starjax.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class DataPaths:
  cache_dir: str  # local corpus, tokenizers and statistics live under here
  stack_dir: Optional[str]  # root of downloaded The Stack / StarCoderData parquet shards
  stack_tokenizer: Optional[str]  # tokenizer.json used by the stack_* tasks


@gin.configurable(module="starjax.data")
def data_paths(cache_dir: Optional[str] = None, stack_dir: Optional[str] = None,
               stack_tokenizer: Optional[str] = None) -> DataPaths:
  """Where data lives.

  Args:
    cache_dir: cache root; None means $STARJAX_DATA_DIR, else ~/.cache/starjax.
    stack_dir: directory of The Stack / StarCoderData shards (`data/<language>/*.parquet`,
      `<language>/*.parquet`, or files with a `lang` column). None: no stack_* tasks.
    stack_tokenizer: a StarCoder `tokenizer.json` (e.g. from a downloaded bigcode/starcoder
      checkpoint) used to tokenize the stack_* tasks.
  Returns:
    DataPaths with `~` and environment variables expanded.
  """
  if cache_dir is None:
    cache_dir = os.environ.get("STARJAX_DATA_DIR") or os.path.join("~", ".cache", "starjax")
  expand = lambda p: os.path.abspath(os.path.expandvars(os.path.expanduser(p))) if p else None
  return DataPaths(expand(cache_dir), expand(stack_dir), expand(stack_tokenizer))


@dataclasses.dataclass(frozen=True)
class LocalCorpusOptions:
  roots: tuple[str, ...]
  system_trees: bool
  max_file_bytes: int
  validation_fraction: float
  shard_bytes: int


@gin.configurable(module="starjax.data")
def local_corpus(roots: Sequence[str] = (), system_trees: bool = True,
                 max_file_bytes: int = 1_000_000, validation_fraction: float = 0.01,
                 shard_bytes: int = 16 << 20) -> LocalCorpusOptions:
  """How `run.py data build-local` builds the embedded corpus.

  Args:
    roots: extra directories to collect (the command line's --roots adds to these).
    system_trees: also collect the interpreter's standard library, site-packages and the
      system source trees that exist (Go, Ruby, Perl, Node modules, headers, ...).
    max_file_bytes: larger files are skipped (counted as `too_large`), as in The Stack.
    validation_fraction: share of each language's files held out as the validation split
      (at least one file per language that has two or more).
    shard_bytes: target content bytes per parquet shard.
  """
  if not 0 < validation_fraction < 1:
    raise DataError(f"local_corpus.validation_fraction={validation_fraction}: must be in (0, 1)")
  return LocalCorpusOptions(tuple(roots), bool(system_trees), int(max_file_bytes),
                            float(validation_fraction), int(shard_bytes))


@dataclasses.dataclass(frozen=True)
class LocalPreparationOptions:
  enabled: bool
  max_bytes: Optional[int]
  opt_out: Optional[str]
  beam_args: tuple[str, ...] = ("--direct_running_mode=in_memory",)


@gin.configurable(module="starjax.data")
def local_preparation(enabled: bool = False, max_bytes: Optional[int] = None,
                      opt_out: Optional[str] = None,
                      beam_args: Sequence[str] = ("--direct_running_mode=in_memory",)
                      ) -> LocalPreparationOptions:
  """Whether the local_* tasks (and their tokenizer) read the local corpus after `run.py data
  prepare` (starjax.data.prepared_local) instead of the corpus as built. The quickstart does.

  Args:
    enabled: train on the prepared local corpus (prepared on first use, then cached).
    max_bytes: prepare an evenly spread subset of about this many bytes (every k-th file of each
      language and split, at least one of each); None prepares the whole corpus.
    opt_out: an opt-out list for the opt-out stage (`data prepare --opt_out`), a relative path
      looked up in the working directory, then in the repository; None: none (the stage is
      then skipped).
    beam_args: Beam pipeline options of its data prepare and data index runs. Beam's local runner
      in one process is the default: on a few MB a pool of worker processes costs more than it
      saves (12 MB on 2 shared cores: 82 s in process, 103 s with 2 workers).
  The stages themselves are data prepare's gin options (near_dedup.*, pii.*, ...).
  """
  if max_bytes is not None and int(max_bytes) < 1:
    raise DataError(f"local_preparation.max_bytes={max_bytes}: give a positive number of "
                    "bytes, or None for the whole corpus")
  if opt_out:
    from starjax import ROOT  # pylint: disable=import-outside-toplevel
    given = os.path.expandvars(os.path.expanduser(opt_out))
    found = [p for p in (given, os.path.join(ROOT, given)) if os.path.isfile(p)]
    if not found:
      raise DataError(f"local_preparation.opt_out={opt_out}: no such file (looked in "
                      f"{os.getcwd()} and {ROOT}); give a list of GitHub usernames and/or "
                      "owner/repo, one per line, or None")
    opt_out = os.path.abspath(found[0])
  return LocalPreparationOptions(bool(enabled), None if max_bytes is None else int(max_bytes),
                                 opt_out or None, tuple(beam_args))


@dataclasses.dataclass(frozen=True)
class TokenizerOptions:
  vocab_size: Optional[int]
  max_training_bytes: Optional[int]


@gin.configurable(module="starjax.data")
def local_tokenizer(vocab_size: Optional[int] = None,
                    max_training_bytes: Optional[int] = 64 << 20) -> TokenizerOptions:
  """The byte-level BPE trained on the local corpus.

  Args:
    vocab_size: None means the VOCAB_SIZE macro that every gin/models/*.gin binds.
    max_training_bytes: cap on the text the BPE trainer sees (an evenly spaced, deterministic
      subset of the train split beyond it); None trains on everything.
  """
  return TokenizerOptions(vocab_size, max_training_bytes)


@dataclasses.dataclass(frozen=True)
class PreprocessingOptions:
  metadata_rate: float
  fim_rate: float
  spm_rate: float
  shuffle_buffer_size: int


@gin.configurable(module="starjax.data")
def code_preprocessing(metadata_rate: float = 0.2, fim_rate: float = 0.5, spm_rate: float = 0.5,
                       shuffle_buffer_size: int = 1000) -> PreprocessingOptions:
  """StarCoder's document transformations (rates as in the paper; see DESIGN.md).

  Args:
    metadata_rate: probability of each of `<reponame>`, `<filename>`, `<gh_stars>` (independent).
    fim_rate: probability that a document is turned into a fill-in-the-middle example.
    spm_rate: share of FIM examples in SPM rather than PSM order.
    shuffle_buffer_size: examples per task kept in the shuffle buffer.
  """
  for name, value in (("metadata_rate", metadata_rate), ("fim_rate", fim_rate),
                      ("spm_rate", spm_rate)):
    if not 0.0 <= value <= 1.0:
      raise DataError(f"code_preprocessing.{name}={value}: a probability must be in [0, 1]")
  return PreprocessingOptions(float(metadata_rate), float(fim_rate), float(spm_rate),
                              int(shuffle_buffer_size))


@dataclasses.dataclass(frozen=True)
class MixtureOptions:
  alpha: float
  cap: Optional[float]


@gin.configurable(module="starjax.data")
def mixture_weighting(alpha: float = 1.0, cap: Optional[float] = None) -> MixtureOptions:
  """How the token-weighted mixtures (`local_code`, `stack_starcoderdata`) weight languages.

  Args:
    alpha: weight of a language ∝ tokens**alpha (1.0 = natural distribution, <1 flattens it).
    cap: optional maximum share of any one language; the excess is spread over the others.
  """
  if alpha <= 0:
    raise DataError(f"mixture_weighting.alpha={alpha}: must be > 0")
  if cap is not None and not 0 < cap <= 1:
    raise DataError(f"mixture_weighting.cap={cap}: must be in (0, 1] or None")
  return MixtureOptions(float(alpha), None if cap is None else float(cap))


@gin.configurable(module="starjax.data")
def stack_splits(validation_fraction: float = 0.01) -> float:
  """Share of The Stack's rows held out as the validation split.

  Rows are assigned by a hash of repository and path, so the split is the same on every run and
  host, and the same file never lands in both splits. Returns the fraction.
  """
  if not 0 < validation_fraction < 1:
    raise DataError(f"stack_splits.validation_fraction={validation_fraction}: must be in (0, 1)")
  return float(validation_fraction)


@gin.configurable(module="starjax.data")
def python_finetune(task: str = "stack_python") -> str:
  """The task behind the `python_finetune` mixture; returns its name.

  StarCoder is StarCoderBase fine-tuned on The Stack's Python (`stack_python`, the default);
  `local_python` fine-tunes on the local corpus instead.
  """
  return str(task)


@dataclasses.dataclass(frozen=True)
class IndexedPipelineOptions:
  enabled: bool
  rows_per_block: int
  fill: float
  window_chunks: int


@gin.configurable(module="starjax.data")
def indexed_pipeline(enabled: bool = True, rows_per_block: int = 8, fill: float = 1.0,
                     window_chunks: int = 16) -> IndexedPipelineOptions:
  """The step-indexed training input (starjax.data.indexed_loader): batch s is a pure function
  of (data, seed, s), read in constant time on any number of processes.

  Args:
    enabled: False falls back to the streaming tf.data pipeline (resume replays the stream).
    rows_per_block: rows packed together from one task's documents (a process reading part
      of a block tokenizes all of it).
    fill: the tokens of each block's document pieces as a share of its rows' tokens; 1 fills
      every row exactly (document lengths are exact), < 1 leaves padding on purpose.
    window_chunks: parquet row groups shuffled together (the local shuffle's extent; each is
      decoded once per window).
  """
  if rows_per_block < 1 or not 0 < fill <= 2 or window_chunks < 1:
    raise DataError(f"indexed_pipeline: rows_per_block={rows_per_block} and window_chunks="
                    f"{window_chunks} must be ≥ 1, fill={fill} in (0, 2]")
  return IndexedPipelineOptions(bool(enabled), int(rows_per_block), float(fill),
                                int(window_chunks))
