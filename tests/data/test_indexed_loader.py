"""The step-indexed pipeline: batch s is a pure function of (data, seed, s), on any number of
processes, resumed anywhere in constant time."""

import numpy as np
import pytest

from starjax.data import index_shuffle, indexed_loader, keyed_preprocessing, loader
from starjax.data.errors import DataError
from starjax.data.pack_plan import MixtureSchedule
from starjax.data.random_access import Document
from starjax.tokens import DECODER_FEATURES, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX
from tests.data.conftest import bind

SEQ_LEN, BATCH = 64, 4


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def same(a, b):
  return len(a) == len(b) and all(np.array_equal(x[k], y[k]) for x, y in zip(a, b)
                                  for k in DECODER_FEATURES)


def test_feistel_is_a_permutation_and_keyed():
  for n in (1, 2, 7, 1000, 4097):
    perm = index_shuffle.feistel_permutation(n, key=5)
    assert sorted(perm.tolist()) == list(range(n))
  assert not np.array_equal(index_shuffle.feistel_permutation(1000, 5),
                            index_shuffle.feistel_permutation(1000, 6))
  some = np.array([3, 999, 17])
  assert np.array_equal(index_shuffle.feistel_permutation(1000, 5, some),
                        index_shuffle.feistel_permutation(1000, 5)[some])  # O(1) per index


def test_epoch_order_covers_every_document_once_and_changes_per_epoch():
  sizes = [5, 256, 256, 3, 100]
  first = index_shuffle.epoch_order(sizes, key=1, window_chunks=2)
  assert sorted(first.tolist()) == list(range(sum(sizes)))
  assert not np.array_equal(first, index_shuffle.epoch_order(sizes, key=2, window_chunks=2))


def test_fim_and_metadata_are_functions_of_the_document_index():
  docs = [Document("def f(x):\n  return x\n" * (i + 1), f"repo{i}", f"p{i}.py", i * 7)
          for i in range(200)]
  rates = keyed_preprocessing.Rates(metadata_rate=0.2, fim_rate=0.5, spm_rate=0.5)
  texts = keyed_preprocessing.transform(docs, range(200), key=9, rates=rates)
  # The same document transforms the same way alone as within any batch.
  assert keyed_preprocessing.transform(docs[50:51], [50], key=9, rates=rates) == texts[50:51]
  fim = [t for t in texts if t.startswith(FIM_PREFIX)]
  assert 60 < len(fim) < 140 and all(FIM_SUFFIX in t and FIM_MIDDLE in t for t in fim)
  spm = [t for t in fim if t.startswith(FIM_PREFIX + FIM_SUFFIX)]
  assert 0 < len(spm) < len(fim)
  assert any(t.startswith("<reponame>") for t in texts)
  # Character-level: removing the sentinels gives back the document's characters.
  for doc, text in zip(docs, texts):
    if not text.startswith(FIM_PREFIX):
      assert text.endswith(doc.content)


def test_the_mixture_schedule_holds_each_rate_over_any_window():
  rates = [0.5, 0.3, 0.15, 0.05]
  schedule = MixtureSchedule(rates, period=4096)
  owners = np.array([schedule.locate(j)[0] for j in range(3 * 4096)])
  for start, length in ((0, 100), (777, 1000), (4000, 5000)):
    window = owners[start:start + length]
    for t, r in enumerate(rates):
      assert abs((window == t).sum() - r * length) <= 4
  # locate's per-task count is the number of that task's blocks before j
  for j in (0, 1, 4095, 4096, 9000):
    t, k = schedule.locate(j)
    assert k == (owners[:j] == t).sum()


def test_batches_are_exactly_packed(local_env):
  batches = take(loader.train_batches("local_code", seq_len=SEQ_LEN, batch_size=BATCH), 6)
  for b in batches:
    assert all(b[k].shape == (BATCH, SEQ_LEN) and b[k].dtype == np.int32 for k in b)
    real = b["decoder_segment_ids"] > 0
    assert (b["decoder_loss_weights"] == real).all()
    for r in range(BATCH):
      seg, pos = b["decoder_segment_ids"][r], b["decoder_positions"][r]
      for s in set(seg[seg > 0].tolist()):
        cols = np.flatnonzero(seg == s)
        assert (np.diff(cols) == 1).all() and (pos[cols] == np.arange(len(cols))).all()
        # inputs are the targets shifted right within the segment, starting at <|endoftext|>
        assert b["decoder_input_tokens"][r, cols[0]] == 0
        assert (b["decoder_input_tokens"][r, cols[1:]] ==
                b["decoder_target_tokens"][r, cols[:-1]]).all()


def test_the_pack_plan_is_exact_every_token_of_its_documents_and_no_padding(local_env):
  plan = indexed_loader.pack_plan_for("local_code", seq_len=SEQ_LEN, seed=4)
  features, pieces = plan.rows(0, 40)  # 5 blocks of 8 rows, across the mixture's tasks
  real = features["decoder_segment_ids"] > 0
  assert real.all() and plan.padding_tokens == plan.dropped_tokens == 0  # rows are full
  # The rows hold exactly the planned tokens of the planned documents, piece by piece.
  assert real.sum() == sum(p.end - p.start for row in pieces for p in row)
  for r, row in enumerate(pieces):
    seg = features["decoder_segment_ids"][r]
    assert len(row) == seg.max()
    for s, p in enumerate(row, 1):
      ids = plan.token_ids(p)
      assert len(ids) == p.length and ids[-1] == 0
      assert np.array_equal(features["decoder_target_tokens"][r, seg == s], ids[p.start:p.end])
  # Consecutive pieces of one document tile it: a document longer than a row is split into
  # rows (new segments), not dropped; every document in the range is whole but the two ends.
  by_doc = {}
  for row in pieces:
    for p in row:
      by_doc.setdefault((p.task, p.epoch, p.doc), []).append((p.start, p.end, p.length))
  assert any(len(v) > 1 for v in by_doc.values())
  for spans in by_doc.values():
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
  middle = list(by_doc.values())[1:-1]
  assert all(s[0][0] == 0 and s[-1][1] == s[-1][2] for s in middle if s[0][2] < SEQ_LEN)


def test_planned_lengths_are_what_the_keyed_preprocessing_encodes(local_env):
  plan = indexed_loader.pack_plan_for("local_code", seq_len=SEQ_LEN, seed=0)
  rates = keyed_preprocessing.Rates(metadata_rate=0.5, fim_rate=0.5, spm_rate=0.5)
  stats, fim_documents, documents_seen = keyed_preprocessing.FitStats(), 0, 0
  for data, key in ((t, k) for t in plan.tasks for k in (1, 2)):
    docs = np.arange(len(data.stream.index))
    data.stream.counts.ensure(docs)
    documents = data.source.read(docs)
    lengths = keyed_preprocessing.planned_lengths(docs, key, rates, data.stream.counts)
    rows = keyed_preprocessing.encode(documents, docs, key, rates, data.vocabulary, lengths,
                                      stats=stats)
    assert [len(r) for r in rows] == lengths.tolist()  # exact for every document
    choices = keyed_preprocessing.Choices.of(key, docs, rates)
    fim_documents += int(choices.fim.sum())
    documents_seen += len(docs)
    for i, row in enumerate(rows):
      control = [t for t in row.tolist() if t in (1, 2, 3)]
      if choices.fim[i]:
        assert sorted(control) == [1, 2, 3]
      else:  # the content's own tokens, exactly as counted
        content = data.vocabulary.encode_batch([documents[i].content])[0]
        assert row[-1 - len(content):-1].tolist() == content and not control
  assert 0 < stats.fim_documents == fim_documents < documents_seen
  # FIM's length rule (BigCode's): at most a few tokens per FIM document
  assert stats.trimmed + stats.padded <= 4 * stats.fim_documents


@pytest.mark.parametrize("k", [1, 3, 7])
def test_resuming_at_step_k_is_bitwise_the_uninterrupted_stream(local_env, k):
  kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, seed=3)
  whole = take(loader.train_batches("local_code", **kwargs), k + 3)
  indexed_loader._plans.clear()  # a fresh process: nothing cached in memory
  resumed = take(loader.train_batches("local_code", start_batch=k, **kwargs), 3)
  assert same(resumed, whole[k:])


@pytest.mark.parametrize("processes", [2, 4])
def test_the_global_batch_is_the_same_on_any_number_of_processes(local_env, processes):
  one = take(loader.train_batches("local_code", seq_len=SEQ_LEN, batch_size=8, seed=1,
                                  start_batch=2), 3)
  per = 8 // processes
  shards = [take(loader.train_batches("local_code", seq_len=SEQ_LEN, batch_size=per, seed=1,
                                      shard_index=p, num_shards=processes, start_batch=2), 3)
            for p in range(processes)]
  for step in range(3):
    for p in range(processes):
      rows = {k: v[p * per:(p + 1) * per] for k, v in one[step].items()}
      assert same([rows], [shards[p][step]])


def test_a_far_step_is_read_directly(local_env):
  kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, seed=0)
  far = next(loader.train_batches("local_code", start_batch=10_000_000, **kwargs))
  assert far["decoder_segment_ids"].any()
  assert not same([far], [next(loader.train_batches("local_code", **kwargs))])


def test_the_fingerprint_names_what_changed(local_env):
  kwargs = dict(seq_len=SEQ_LEN, global_batch_size=BATCH, seed=0)
  base = loader.data_fingerprint("local_code", **kwargs)
  assert base == loader.data_fingerprint("local_code", **kwargs)
  other = loader.data_fingerprint("local_code", **dict(kwargs, seed=1))
  assert other["digest"] != base["digest"]
  assert indexed_loader.fingerprint_changes(base, other) == ["seed: 0 → 1"]
  bind(f"data_paths.cache_dir='{local_env}'", "VOCAB_SIZE=600", "code_preprocessing.fim_rate=0.9")
  fim = loader.data_fingerprint("local_code", **kwargs)
  assert any(c.startswith("tasks.local_python.fim_rate: 0.5 → 0.9")
             for c in indexed_loader.fingerprint_changes(base, fim))


@pytest.mark.slow
def test_the_tf_data_pipeline_remains_available(local_env):
  bind(f"data_paths.cache_dir='{local_env}'", "VOCAB_SIZE=600", "indexed_pipeline.enabled=False")
  assert loader.data_fingerprint("local_python", seq_len=SEQ_LEN, global_batch_size=BATCH) is None
  assert next(loader.train_batches("local_python", seq_len=SEQ_LEN, batch_size=BATCH))[
      "decoder_segment_ids"].any()


def test_unknown_preprocessors_are_refused(local_env):
  import seqio
  from starjax.data import tasks
  tasks.register_tasks()
  task = seqio.get_mixture_or_task("local_python")
  with pytest.raises(DataError, match="indexed_pipeline.enabled=False"):
    indexed_loader._rates(type("T", (), {"name": "x", "preprocessors": task.preprocessors[1:]}))


def test_which_names_the_documents_of_a_step(local_env, tmp_path, capsys):
  import json
  from starjax.data import cli
  from starjax.model_dir import Checkpointer
  fingerprint = loader.data_fingerprint("local_code", seq_len=SEQ_LEN, global_batch_size=BATCH,
                                        seed=2)
  model_dir = str(tmp_path / "run")
  checkpointer = Checkpointer(model_dir)
  checkpointer.save(5, {"w": np.zeros(2, np.float32)}, None, {
      "step": 5, "mixture_or_task_name": "local_code", "seq_len": SEQ_LEN, "batch_size": BATCH,
      "seed": 2, "data_fingerprint": fingerprint}, force=True)
  checkpointer.close()
  flags = [f"--gin.data_paths.cache_dir={local_env}", "--gin.VOCAB_SIZE=600"]
  assert cli.main("data", ["which", f"--model_dir={model_dir}", "--step=3", "--json",
                           *flags]) == 0
  result = json.loads(capsys.readouterr().out)
  plan = indexed_loader.pack_plan_for("local_code", seq_len=SEQ_LEN, seed=2)
  _, pieces = indexed_loader.step_rows(plan, 2, BATCH)  # step 3 read batch 2
  assert [r["sample_id"] for r in result["rows"]] == list(range(2 * BATCH, 3 * BATCH))
  for row, expected in zip(result["rows"], pieces):
    assert [d["document"] for d in row["documents"]] == [p.doc for p in expected]
    assert all(d["path"] and d["repository"] for d in row["documents"])
  # Other data than the run's is refused rather than naming the wrong documents.
  assert cli.main("data", ["which", f"--model_dir={model_dir}", "--step=3", *flags,
                           "--gin.code_preprocessing.fim_rate=0.1"]) == 1
  assert "fim_rate: 0.5 → 0.1" in capsys.readouterr().err
