import numpy as np
import pytest
import seqio
import tensorflow as tf

from starjax.data import preprocessors
from starjax.data.vocabulary import StarCoderVocabulary

DOCUMENT = "def f(héllo):\n    return '🚀' * 3\n"


def documents(n, content=DOCUMENT, stars=57):
  return tf.data.Dataset.from_tensor_slices({
      "content": [content] * n, "max_stars_repo_name": ["org/repo"] * n,
      "max_stars_repo_path": ["src/f.py"] * n, "max_stars_count": np.full(n, stars, np.int64)})


def texts(ds):
  return [x["text"].decode("utf-8") for x in ds.as_numpy_iterator()]


def run(fn, ds, seed=0, **kwargs):
  with seqio.utils.map_seed_manager(seed):
    return texts(fn(ds, **kwargs))


@pytest.mark.parametrize("stars, bucket", [(-1, "0"), (0, "0"), (1, "1-10"), (9, "1-10"),
                                           (10, "10-100"), (100, "100-1000"), (999, "100-1000"),
                                           (1000, "1000+"), (10**6, "1000+")])
def test_stars_are_bucketed_like_starcoder(stars, bucket):
  assert preprocessors.stars_bucket(tf.constant(stars, tf.int64)).numpy().decode() == bucket


def test_metadata_at_rate_one_prefixes_all_three_fields():
  out = run(preprocessors.add_metadata, documents(1), metadata_rate=1.0)
  assert out == ["<reponame>org/repo<filename>src/f.py<gh_stars>10-100\n" + DOCUMENT]


def test_metadata_at_rate_zero_leaves_the_code_alone():
  assert run(preprocessors.add_metadata, documents(3), metadata_rate=0.0) == [DOCUMENT] * 3


def test_each_metadata_field_appears_with_its_probability():
  out = run(preprocessors.add_metadata, documents(3000), metadata_rate=0.2)
  for token in ("<reponame>", "<filename>", "<gh_stars>"):
    share = sum(token in t for t in out) / len(out)
    assert 0.17 < share < 0.23, (token, share)  # ±4 standard deviations
  assert all(t.endswith("\n" + DOCUMENT) for t in out if t != DOCUMENT)


def psm_parts(text):
  """(prefix, middle, suffix) of `<fim_prefix>P<fim_suffix>S<fim_middle>M`."""
  assert text.startswith("<fim_prefix>")
  prefix, rest = text[len("<fim_prefix>"):].split("<fim_suffix>")
  suffix, middle = rest.split("<fim_middle>")
  return prefix, middle, suffix


def test_psm_and_spm_follow_the_bigcode_formats():
  ds = tf.data.Dataset.from_tensor_slices({"text": [DOCUMENT] * 200})
  for text in run(preprocessors.apply_fim, ds, fim_rate=1.0, spm_rate=0.0):
    prefix, middle, suffix = psm_parts(text)
    assert prefix + middle + suffix == DOCUMENT
  for text in run(preprocessors.apply_fim, ds, fim_rate=1.0, spm_rate=1.0):
    assert text.startswith("<fim_prefix><fim_suffix>")
    suffix, prefix_and_middle = text[len("<fim_prefix><fim_suffix>"):].split("<fim_middle>")
    assert prefix_and_middle + suffix == DOCUMENT
    assert DOCUMENT.endswith(suffix)


def test_split_points_are_uniform_characters_not_bytes():
  ds = tf.data.Dataset.from_tensor_slices({"text": ["é🚀ü" * 4] * 400})
  out = run(preprocessors.apply_fim, ds, fim_rate=1.0, spm_rate=0.0)
  prefix_lengths = [len(t[len("<fim_prefix>"):].split("<fim_suffix>")[0]) for t in out]
  assert set(prefix_lengths) == set(range(13))  # every character position 0..12 occurs


def test_fim_and_spm_rates_are_respected():
  # A long document: a PSM example with an empty prefix reads like SPM, and is rare here.
  document = DOCUMENT * 10
  ds = tf.data.Dataset.from_tensor_slices({"text": [document] * 3000})
  out = run(preprocessors.apply_fim, ds, fim_rate=0.5, spm_rate=0.5)
  fim = [t for t in out if t.startswith("<fim_prefix>")]
  assert 0.46 < len(fim) / len(out) < 0.54  # ±4 standard deviations
  spm = sum(t.startswith("<fim_prefix><fim_suffix>") for t in fim)
  assert 0.44 < spm / len(fim) < 0.56
  assert all(t == document for t in out if not t.startswith("<fim_prefix>"))


def test_randomness_is_a_function_of_the_seed():
  ds = tf.data.Dataset.from_tensor_slices({"text": [DOCUMENT] * 50})
  first = run(preprocessors.apply_fim, ds, seed=7)
  assert run(preprocessors.apply_fim, ds, seed=7) == first
  assert run(preprocessors.apply_fim, ds, seed=8) != first


def test_tokenize_appends_eos_and_cuts_long_documents(stack_tokenizer):
  vocabulary = StarCoderVocabulary(stack_tokenizer)
  features = {"targets": seqio.Feature(vocabulary, add_eos=True)}
  long_text = DOCUMENT * 20
  ds = tf.data.Dataset.from_tensor_slices({"text": [DOCUMENT, long_text]})
  whole = [x["targets"].tolist() for x in
           preprocessors.tokenize_with_eos(ds, features).as_numpy_iterator()]
  assert whole[0] == vocabulary.encode(DOCUMENT) + [0]
  assert whole[1] == vocabulary.encode(long_text) + [0]
  pieces = [x["targets"].tolist() for x in preprocessors.tokenize_with_eos(
      ds, features, sequence_length={"targets": 16}).as_numpy_iterator()]
  assert all(len(p) <= 16 for p in pieces)
  assert sum(pieces, []) == whole[0] + whole[1]  # nothing lost, order kept
