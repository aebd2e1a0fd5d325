"""The seqio registry: one Task per language and the mixtures, registered from the gin config.

  local_<language>     the local corpus (run.py data build-local), tokenizer at VOCAB_SIZE; with
                       local_preparation.enabled its subset after data prepare (prepared_local)
  stack_<language>     The Stack / StarCoderData shards under data_paths.stack_dir, tokenized with
                       data_paths.stack_tokenizer (a real StarCoder tokenizer.json)
  local_code           all local languages, weighted by tokens (the quickstart's default)
  stack_starcoderdata  all Stack languages, weighted by tokens
  python_finetune      python_finetune.task alone (stack_python by default)

`register_tasks()` (re)builds the registry from the current gin bindings; the loader and the CLI
call it, so names are stable while paths and vocabulary sizes come from gin. Each task yields
`targets`: int32 [length] after metadata → FIM → tokenize + `<|endoftext|>`.
"""

from __future__ import annotations

import difflib
import logging
import functools
import os
import threading
from typing import Callable

import seqio
import tensorflow as tf

from starjax.data import (config, corpus_stats, local_corpus, mixing, prepared_local,
                          preprocessors, shards, tokenizer as tokenizer_lib)
from starjax.data.errors import DataError
from starjax.data.languages import task_suffix
from starjax.data.sources import ParquetCodeSource
from starjax.data.vocabulary import StarCoderVocabulary

LOCAL_MIXTURE = "local_code"
STACK_MIXTURE = "stack_starcoderdata"
PYTHON_FINETUNE = "python_finetune"
_registered: dict[str, str] = {}  # name → "task" | "mixture", what we added last time


def _preprocessors(options: config.PreprocessingOptions) -> list:
  return [
      functools.partial(preprocessors.add_metadata, metadata_rate=options.metadata_rate),
      functools.partial(preprocessors.apply_fim, fim_rate=options.fim_rate,
                        spm_rate=options.spm_rate),
      preprocessors.tokenize_with_eos,
  ]


def _add_task(name: str, source: ParquetCodeSource, vocabulary: StarCoderVocabulary,
              options: config.PreprocessingOptions) -> None:
  seqio.TaskRegistry.add(
      name, source=source, preprocessors=_preprocessors(options),
      output_features={"targets": seqio.Feature(vocabulary, add_eos=True, dtype=tf.int32)},
      # Documents are shuffled in the source, before tokenization: filling a buffer of raw rows
      # is cheap, so the first batch comes quickly even from a mixture of many tasks.
      shuffle_buffer_size=None)
  _registered[name] = "task"


def _add_mixture(name: str, rates: dict[str, float | Callable]) -> None:
  seqio.MixtureRegistry.add(
      name, list(rates.items()),
      # A language whose validation split is empty must not end the whole mixture.
      sample_fn=functools.partial(tf.data.Dataset.sample_from_datasets,
                                  stop_on_empty_dataset=False))
  _registered[name] = "mixture"


def _lazy_rates(names: list[str], tokens: Callable[[], dict[str, float]]) -> dict[str, Callable]:
  """Per-task rate functions that compute all token weights once, when first sampled."""
  @functools.cache
  def rates():
    weighting = config.mixture_weighting()
    return mixing.mixture_rates(tokens(), weighting.alpha, weighting.cap)
  return {name: (lambda task, name=name: rates()[name]) for name in names}


def _register_local(options: config.PreprocessingOptions) -> None:
  # The local corpus as built, or its prepared subset with local_preparation.enabled.
  corpus = prepared_local.training_corpus()
  if corpus is None or not os.path.isfile(os.path.join(corpus, local_corpus.MANIFEST)):
    return
  manifest = local_corpus.read_manifest(corpus)
  files = local_corpus.local_shards(corpus)
  # Resolving the path trains the tokenizer if this corpus has none at VOCAB_SIZE yet.
  vocabulary = StarCoderVocabulary(lambda: tokenizer_lib.ensure_tokenizer(corpus=corpus))
  names = {}
  for language in sorted(manifest["languages"]):
    if not files[language].get("train"):
      continue
    name = f"local_{task_suffix(language)}"
    source = ParquetCodeSource(f"local corpus {corpus} ({language})", files[language],
                               shuffle_buffer_size=options.shuffle_buffer_size)
    _add_task(name, source, vocabulary, options)
    names[name] = language
  if names:
    estimates = lambda: {n: corpus_stats.local_token_estimates(
        corpus, vocabulary.tokenizer_path)[language] for n, language in names.items()}
    _add_mixture(LOCAL_MIXTURE, _lazy_rates(list(names), estimates))


def _register_stack(options: config.PreprocessingOptions) -> None:
  paths = config.data_paths()
  if not paths.stack_dir:
    return
  by_language = shards.discover_stack(paths.stack_dir, paths.cache_dir)

  def stack_tokenizer() -> str:
    if not paths.stack_tokenizer:
      raise DataError("the stack_* tasks need a StarCoder tokenizer: set "
                      "--gin.data_paths.stack_tokenizer=/path/to/tokenizer.json")
    return paths.stack_tokenizer

  vocabulary = StarCoderVocabulary(stack_tokenizer)
  fraction = config.stack_splits()
  is_validation = lambda repo, path: shards.split_key(repo, path) < fraction
  row_filters = {"train": lambda repo, path: not is_validation(repo, path),
                 "validation": is_validation}
  names = {}
  for language, language_files in sorted(by_language.items()):
    name = f"stack_{task_suffix(language)}"
    if name in names:
      raise DataError(f"{paths.stack_dir}: languages {names[name]!r} and {language!r} both map "
                      f"to task {name}; rename one folder")
    # Files of one layout share a schema, and discover_stack lists folder files before loose
    # ones: the first and last file tell whether rows carry their language.
    mixed = any(shards.LANG in shards.open_shard(p).schema_arrow.names
                for p in {language_files[0], language_files[-1]})
    source = ParquetCodeSource(
        f"The Stack {paths.stack_dir} ({language})",
        {"train": language_files, "validation": language_files},
        language=language if mixed else None, row_filters=row_filters,
        shuffle_buffer_size=options.shuffle_buffer_size)
    _add_task(name, source, vocabulary, options)
    names[name] = language
  estimates = lambda: {n: corpus_stats.stack_token_estimates(
      by_language, vocabulary.tokenizer_path, paths.cache_dir)[language]
                       for n, language in names.items()}
  _add_mixture(STACK_MIXTURE, _lazy_rates(list(names), estimates))


def register_tasks() -> list[str]:
  """(Re)registers starjax's tasks and mixtures from the current gin config.

  Thread-safe: the trainer's input thread and its main thread may both ask for datasets.

  Returns:
    The names registered, sorted. Local tasks exist once the corpus is built, stack tasks once
    `data_paths.stack_dir` is set; `available_names()` explains what is missing.
  """
  with _registration_lock:
    return _register_tasks()


def _register_tasks() -> list[str]:
  for name, kind in _registered.items():
    (seqio.TaskRegistry if kind == "task" else seqio.MixtureRegistry).remove(name)
  _registered.clear()
  options = config.code_preprocessing()
  _register_local(options)
  _register_stack(options)
  finetune_task = config.python_finetune()
  if _registered.get(finetune_task) == "task":
    _add_mixture(PYTHON_FINETUNE, {finetune_task: 1.0})
  return sorted(_registered)


log = logging.getLogger("starjax.data")
_registration_lock = threading.RLock()


def get(name: str) -> seqio.Task | seqio.Mixture:
  """The registered task or mixture `name`, or a DataError that says how to make it exist."""
  if name in _registered:
    return seqio.get_mixture_or_task(name)
  if name == LOCAL_MIXTURE or name.startswith("local_"):
    corpus = local_corpus.corpus_dir(config.data_paths().cache_dir)
    built = False
    if not os.path.isfile(os.path.join(corpus, local_corpus.MANIFEST)):
      # The local tasks build their corpus on first use, as they train their tokenizer on
      # first use: every example runs as written on a fresh machine.
      log.warning("%s: no local corpus at %s yet; building it now (once: `python run.py data "
                  "build-local` does the same)", name, corpus)
      local_corpus.ensure_local_corpus(progress=True)
      built = True
    if config.local_preparation().enabled and prepared_local.training_corpus() is None:
      log.warning("%s: local_preparation.enabled and the local corpus is not prepared yet; "
                  "running data prepare on it now (once, then cached)", name)
      prepared_local.ensure_prepared_corpus(progress=True)
      built = True
    if built:
      register_tasks()
      if name in _registered:
        return seqio.get_mixture_or_task(name)
  if (name == STACK_MIXTURE or name.startswith("stack_")) and not config.data_paths().stack_dir:
    raise DataError(f"{name}: needs The Stack shards; set --gin.data_paths.stack_dir=DIR and "
                    "--gin.data_paths.stack_tokenizer=tokenizer.json")
  if name == PYTHON_FINETUNE:
    raise DataError(f"{name}: its task {config.python_finetune()!r} is not registered (set "
                    "data_paths.stack_dir, or --gin.python_finetune.task=local_python)")
  close = difflib.get_close_matches(name, list(_registered), n=3, cutoff=0.5)
  hint = f" Did you mean {', '.join(close)}?" if close else ""
  raise DataError(f"no task or mixture named {name!r}.{hint} Registered: "
                  f"{', '.join(sorted(_registered)) or 'none'}")
