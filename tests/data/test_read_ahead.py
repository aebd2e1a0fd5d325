"""The background read-ahead changes no batch and stops with its iterator; the one-time count
on threads counts what the documents one at a time count."""

import threading

import numpy as np

from starjax.data import indexed_loader, keyed_preprocessing, loader
from starjax.data.token_counts import TokenCounts
from starjax.tokens import DECODER_FEATURES

SEQ_LEN, BATCH = 64, 4


def _read_ahead_threads():
  return [t for t in threading.enumerate() if t.name == "starjax-read-ahead"]


def test_batches_are_the_same_with_the_read_ahead_and_without(local_env):
  kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, seed=5)
  batches = loader.train_batches("local_code", **kwargs)
  with_thread = [next(batches) for _ in range(12)]
  assert len(_read_ahead_threads()) == 1
  batches.close()
  assert not _read_ahead_threads()  # closing the iterator stops its thread
  indexed_loader._plans.clear()  # nothing counted or cached in memory: read as a fresh process
  plan = indexed_loader.pack_plan_for("local_code", seq_len=SEQ_LEN, seed=5)
  assert plan.read_ahead is None
  for step, batch in enumerate(with_thread):
    features, _ = indexed_loader.step_rows(plan, step, BATCH)
    assert all(np.array_equal(features[k], batch[k]) for k in DECODER_FEATURES)


def test_the_threaded_count_pass_counts_each_document_as_counting_it_alone(local_env):
  plan = indexed_loader.pack_plan_for("local_code", seq_len=SEQ_LEN, seed=0)
  for data in plan.tasks[:6]:
    index, source = data.stream.index, data.source
    threaded = TokenCounts(index, source, data.vocabulary, None)
    threaded.ensure_all(workers=3)
    assert threaded.complete and (threaded.content >= 0).all()
    for d in range(0, len(index), max(1, len(index) // 7)):
      content, (repo, path, stars) = keyed_preprocessing.count_tokens(source.read([d]),
                                                                      data.vocabulary)
      assert threaded.content[d] == len(content[0].ids)
      assert (threaded.repo[d], threaded.path_tokens[d], threaded.stars[d]) == (
          repo[0], path[0], stars[0])
