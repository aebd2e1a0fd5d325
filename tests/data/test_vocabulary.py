import numpy as np
import pytest
import tensorflow as tf

from starjax.data.vocabulary import StarCoderVocabulary


@pytest.fixture(scope="module")
def vocabulary(stack_tokenizer):
  return StarCoderVocabulary(stack_tokenizer)


def test_ids_and_size_come_from_the_tokenizer(vocabulary):
  assert vocabulary.eos_id == 0 and vocabulary.bos_id == 0 and vocabulary.unk_id is None
  assert vocabulary.vocab_size == vocabulary.tokenizer.get_vocab_size(with_added_tokens=True)


def test_python_and_tensorflow_encodings_agree(vocabulary):
  text = "def f(x):\n    return x * 2  # é\n"
  ids = vocabulary.encode(text)
  tf_ids = vocabulary.encode_tf(tf.constant(text)).numpy().tolist()
  assert tf_ids == ids
  assert vocabulary.decode(ids) == text


def test_decoding_stops_after_the_first_eos(vocabulary):
  ids = vocabulary.encode("a = 1") + [0] + vocabulary.encode("junk")
  assert vocabulary.decode(ids) == "a = 1<|endoftext|>"
  batch = tf.constant(np.array([ids, ids], np.int32))
  assert [t.decode() for t in vocabulary.decode_tf(batch).numpy()] == ["a = 1<|endoftext|>"] * 2


def test_the_path_may_be_resolved_lazily(stack_tokenizer):
  calls = []
  lazy = StarCoderVocabulary(lambda: calls.append(1) or stack_tokenizer)
  assert not calls
  assert lazy.vocab_size > 19 and calls == [1]
  assert lazy == StarCoderVocabulary(stack_tokenizer)
