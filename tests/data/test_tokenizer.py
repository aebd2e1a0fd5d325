import json

import pytest

from starjax.data import corpus_stats, local_corpus, tokenizer
from starjax.data.errors import DataError
from tests.data import samples
from tests.data.conftest import VOCAB_SIZE

TRICKY = ["def f():\r\n\treturn 'é' + \"🚀\"\n", "  leading spaces\n\n\n", "x\u00a0=\u200b1",
          "literal <fim_prefix> and <|endoftext|> in code", "", "0123456789" * 3, "\x00\x7f"]


def local_tokenizer_path(cache):
  """The session tokenizer; `cache` is the local_env fixture (gin bound to its cache)."""
  return tokenizer.local_tokenizer_path(VOCAB_SIZE, local_corpus.corpus_dir(str(cache)))


def test_special_tokens_have_starcoder_ids(local_env):
  loaded = tokenizer.ensure_tokenizer(progress=False)
  trained = tokenizer.load_tokenizer(loaded)
  assert [trained.token_to_id(t) for t in tokenizer.SPECIAL_TOKENS] == list(range(19))
  assert tokenizer.SPECIAL_TOKENS[tokenizer.EOS_ID] == "<|endoftext|>"
  assert tokenizer.SPECIAL_TOKENS[18] == "<reponame>"


def test_vocabulary_has_the_requested_size(local_env):
  trained = tokenizer.load_tokenizer(local_tokenizer_path(local_env))
  assert trained.get_vocab_size(with_added_tokens=True) == VOCAB_SIZE


def test_the_cache_is_keyed_by_corpus_and_size(local_env):
  path = tokenizer.ensure_tokenizer(progress=False)
  assert f"-v{VOCAB_SIZE}" in path
  assert local_corpus.read_manifest(local_corpus.corpus_dir(str(local_env)))["corpus_id"][:16] \
      in path
  assert tokenizer.ensure_tokenizer(progress=False) == path


def test_encode_decode_is_exact_on_every_corpus_file(local_env):
  corpus = local_corpus.corpus_dir(str(local_env))
  counts = corpus_stats.local_token_counts(corpus, local_tokenizer_path(local_env),
                                           progress=False)
  assert set(counts) >= set(samples.LANGUAGES)
  assert sum(c["roundtrip_failures"] for c in counts.values()) == 0
  assert all(c["tokens"] > 0 for c in counts.values())


def test_encode_decode_is_exact_on_unusual_text(local_env):
  trained = tokenizer.load_tokenizer(local_tokenizer_path(local_env))
  for text in TRICKY:
    ids = trained.encode(text, add_special_tokens=False).ids
    assert trained.decode(ids, skip_special_tokens=False) == text


def test_digits_are_split_one_by_one(local_env):
  trained = tokenizer.load_tokenizer(local_tokenizer_path(local_env))
  assert trained.encode("x = 2024").tokens[-4:] == ["2", "0", "2", "4"]


def test_training_is_deterministic(tmp_path):
  texts = [samples.python(i) + samples.go(i) for i in range(6)]
  first = tokenizer.train_tokenizer(texts, 400, str(tmp_path / "a.json"))
  tokenizer.train_tokenizer(texts, 400, str(tmp_path / "b.json"))
  assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
  assert first.get_vocab_size() <= 400


def test_too_small_a_vocabulary_is_refused(tmp_path):
  with pytest.raises(DataError, match="at least 275"):
    tokenizer.train_tokenizer(["abc"], 100, str(tmp_path / "t.json"))


def test_missing_tokenizer_file_names_the_fix(tmp_path):
  with pytest.raises(DataError, match="not found.*build-local"):
    tokenizer.load_tokenizer(str(tmp_path / "missing.json"))


def test_invalid_tokenizer_file_is_named(tmp_path):
  bad = tmp_path / "tokenizer.json"
  bad.write_text("{not json")
  with pytest.raises(DataError, match="tokenizer.json: not a valid tokenizers JSON"):
    tokenizer.load_tokenizer(str(bad))


def test_a_tokenizer_without_starcoder_special_ids_is_refused(local_env, tmp_path):
  data = json.loads(open(local_tokenizer_path(local_env)).read())
  for token in data["added_tokens"]:  # swap <fim_prefix> and <fim_middle>
    token["content"] = {"<fim_prefix>": "<fim_middle>", "<fim_middle>": "<fim_prefix>"}.get(
        token["content"], token["content"])
  vocab = data["model"]["vocab"]
  vocab["<fim_prefix>"], vocab["<fim_middle>"] = vocab["<fim_middle>"], vocab["<fim_prefix>"]
  swapped = tmp_path / "tokenizer.json"
  swapped.write_text(json.dumps(data))
  with pytest.raises(DataError, match="<fim_prefix> has id 2, StarCoder uses 1"):
    tokenizer.load_tokenizer(str(swapped))


def test_hugging_face_transformers_reads_the_same_file(local_env):
  transformers = pytest.importorskip("transformers")
  path = local_tokenizer_path(local_env)
  hf = transformers.PreTrainedTokenizerFast(tokenizer_file=path)
  ours = tokenizer.load_tokenizer(path)
  text = samples.rust(3)
  assert hf.encode(text) == ours.encode(text).ids
  assert hf.decode(hf.encode(text)) == text
