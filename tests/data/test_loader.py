import shutil

import numpy as np
import pytest
import seqio

from starjax.data import loader, tasks
from starjax.data.errors import DataError
from starjax.data.packing import MODEL_FEATURES
from tests.data.conftest import VOCAB_SIZE, bind

SEQ_LEN, BATCH = 64, 4


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def same(a, b):
  return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in MODEL_FEATURES)


def test_batches_hold_the_five_packed_features(local_env):
  batches = take(loader.train_batches("local_python", seq_len=SEQ_LEN, batch_size=BATCH), 8)
  for batch in batches:
    assert sorted(batch) == sorted(MODEL_FEATURES)
    for value in batch.values():
      assert value.dtype == np.int32 and value.shape == (BATCH, SEQ_LEN)
    real = batch["decoder_segment_ids"] > 0
    assert (batch["decoder_loss_weights"] == real).all()
    assert (batch["decoder_input_tokens"][:, 0] == 0).all()  # rows start with <|endoftext|>
    assert (batch["decoder_target_tokens"] < VOCAB_SIZE).all()
  eos_with_loss = [((b["decoder_target_tokens"] == 0) & (b["decoder_loss_weights"] == 1)).sum()
                   for b in batches]
  assert sum(eos_with_loss) >= 2  # every document ends in <|endoftext|>, which is learned


def test_the_stream_is_a_function_of_its_arguments(local_env):
  kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, seed=3)
  first = take(loader.train_batches("local_python", **kwargs), 4)
  assert same(first, take(loader.train_batches("local_python", **kwargs), 4))
  resumed = take(loader.train_batches("local_python", start_batch=2, **kwargs), 2)
  assert same(resumed, first[2:])  # bitwise what the uninterrupted stream gave
  other_seed = take(loader.train_batches("local_python", seq_len=SEQ_LEN, batch_size=BATCH,
                                         seed=4), 4)
  assert not same(first, other_seed)


def test_each_process_reads_its_own_files(local_env):
  kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, num_shards=2)
  zero = take(loader.train_batches("local_python", shard_index=0, **kwargs), 3)
  one = take(loader.train_batches("local_python", shard_index=1, **kwargs), 3)
  assert not same(zero, one)
  with pytest.raises(DataError, match="shard_index=2"):
    next(loader.train_batches("local_python", shard_index=2, **kwargs))


def test_validation_batches_are_fixed_and_counted(local_env):
  kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, num_batches=3)
  first = loader.validation_batches("local_python", **kwargs)
  assert len(first) == 3 and same(first, loader.validation_batches("local_python", **kwargs))
  assert not same(first, take(loader.train_batches("local_python", seq_len=SEQ_LEN,
                                                   batch_size=BATCH), 3))


def test_languages_without_validation_files_are_left_out_of_mixture_validation(local_env):
  batches = loader.validation_batches("local_code", seq_len=SEQ_LEN, batch_size=BATCH,
                                      num_batches=2)
  assert len(batches) == 2
  with pytest.raises(DataError, match="local_css has no validation split"):
    loader.validation_batches("local_css", seq_len=SEQ_LEN, batch_size=BATCH, num_batches=1)
  assert next(loader.train_batches("local_css", seq_len=SEQ_LEN, batch_size=1))[
      "decoder_segment_ids"].any()


def test_the_mixture_weights_languages_by_tokens(local_env):
  tasks.register_tasks()
  mixture = seqio.get_mixture_or_task("local_code")
  rates = {task.name: mixture.get_rate(task) for task in mixture.tasks}
  assert sum(rates.values()) == pytest.approx(1.0)
  assert rates["local_python"] > rates["local_yaml"] > 0
  assert loader.vocab_size("local_code") == VOCAB_SIZE


def test_tempering_and_cap_come_from_gin(local_build):
  bind(f"data_paths.cache_dir='{local_build[0]}'", f"VOCAB_SIZE={VOCAB_SIZE}",
       "mixture_weighting.alpha=0.3", "mixture_weighting.cap=0.1")
  tasks.register_tasks()
  mixture = seqio.get_mixture_or_task("local_code")
  rates = [mixture.get_rate(task) for task in mixture.tasks]
  assert max(rates) <= 0.1 + 1e-9 and sum(rates) == pytest.approx(1.0)


def test_unknown_names_get_a_suggestion(local_env):
  with pytest.raises(DataError, match="Did you mean local_python"):
    loader.vocab_size("local_pyton")


def test_stack_tasks_need_a_stack_directory(local_env):
  with pytest.raises(DataError, match="data_paths.stack_dir"):
    loader.vocab_size("stack_python")


def test_the_stack_tasks_and_mixtures_yield_batches(stack_env):
  names = tasks.register_tasks()
  assert {"stack_python", "stack_javascript", "stack_c_sharp", "stack_starcoderdata",
          "python_finetune"} <= set(names)
  batch = next(loader.train_batches("stack_starcoderdata", seq_len=SEQ_LEN, batch_size=BATCH))
  assert (batch["decoder_segment_ids"] > 0).sum() > BATCH * SEQ_LEN // 2
  assert len(loader.validation_batches("python_finetune", seq_len=SEQ_LEN, batch_size=2,
                                       num_batches=2)) == 2


def test_stack_validation_rows_never_appear_in_training(stack_env):
  tasks.register_tasks()
  task = seqio.get_mixture_or_task("stack_python")
  read = lambda split: {x["max_stars_repo_path"] for x in task.source.get_dataset(
      split, shuffle=False).as_numpy_iterator()}
  train, validation = read("train"), read("validation")
  assert validation and train and not train & validation
  assert len(train | validation) == 40


def test_a_corrupt_shard_is_named_before_training(stack_root, stack_tokenizer, tmp_path):
  root = tmp_path / "stack"
  shutil.copytree(stack_root, root)
  (root / "data" / "javascript" / "train-00000-of-00001.parquet").write_bytes(b"garbage")
  bind(f"data_paths.cache_dir='{tmp_path}'", f"data_paths.stack_dir='{root}'",
       f"data_paths.stack_tokenizer='{stack_tokenizer}'")
  with pytest.raises(DataError, match="javascript/train-00000-of-00001.parquet: not a readable"):
    next(loader.train_batches("stack_javascript", seq_len=SEQ_LEN, batch_size=BATCH))


def test_a_shard_whose_rows_are_all_unusable_is_an_error(stack_root, stack_tokenizer, tmp_path):
  import pyarrow as pa
  import pyarrow.parquet as pq
  root = tmp_path / "stack"
  shutil.copytree(stack_root, root)
  bad = root / "data" / "javascript" / "train-00000-of-00001.parquet"
  pq.write_table(pa.table({"content": pa.array(["caf\xe9 = 1".encode("latin-1")] * 5,
                                               pa.binary())}), bad)
  bind(f"data_paths.cache_dir='{tmp_path}'", f"data_paths.stack_dir='{root}'",
       f"data_paths.stack_tokenizer='{stack_tokenizer}'")
  with pytest.raises(DataError, match=r"train-00000-of-00001.parquet: every row was skipped "
                                      r"\({'non_utf8': 5}\)"):
    next(loader.train_batches("stack_javascript", seq_len=SEQ_LEN, batch_size=BATCH))


def test_a_new_vocabulary_size_trains_its_tokenizer_on_first_use(local_build):
  bind(f"data_paths.cache_dir='{local_build[0]}'", "VOCAB_SIZE=300")
  assert loader.vocab_size("local_code") == 300  # the session corpus, a second tokenizer


def test_a_missing_stack_tokenizer_is_reported_before_training(stack_root, tmp_path):
  bind(f"data_paths.cache_dir='{tmp_path}'", f"data_paths.stack_dir='{stack_root}'")
  with pytest.raises(DataError, match="data_paths.stack_tokenizer"):
    loader.train_batches("stack_python", seq_len=SEQ_LEN, batch_size=BATCH).__next__()
