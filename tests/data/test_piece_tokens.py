"""A piece's ids derived from the whole text's ids are the ids of tokenizing the piece itself."""

import random

import numpy as np

from starjax.data import indexed_loader, keyed_preprocessing, piece_tokens
from starjax.data.preprocessors import TEXT_MARK
from starjax.data.random_access import Document

# Where byte-level regexes go wrong: whitespace runs before a line, digits, CRLF, tabs,
# contractions, non-ASCII letters and spaces, a line that starts with a space.
TRICKY = ["x = 1  \n\n  y=22\r\n\tz = 'it''s'\n#  ünï  cödé\n 12345\n\u3000\u00a0a\n",
          "def f(a):\n    return a  \n\n\nclass K:\n  '''doc'''\n  s = \"\\n\"\n" * 3,
          "\n\n\n!x\n?y\n~z\n 9\n9 \n" * 5]


def _vocabulary():
  plan = indexed_loader.pack_plan_for("local_code", seq_len=64, seed=0)
  data = plan.tasks[0]
  documents = [d.content for t in plan.tasks for d in t.source.read(range(len(t.stream.index)))]
  return data.vocabulary, documents


def test_pieces_from_the_whole_are_the_pieces_tokenized(local_env):
  vocabulary, documents = _vocabulary()
  assert piece_tokens.supported(vocabulary.tokenizer_path)
  texts = [t for t in documents + TRICKY if TEXT_MARK not in t]
  whole = piece_tokens.tokenize_contents(vocabulary, texts)
  assert sum(len(w.sync_chars) for w in whole) > 100  # the derivation is actually exercised
  plain = piece_tokens.tokenize_contents(vocabulary, texts, sync=False)  # the faster call
  assert all(np.array_equal(a.ids, b.ids) and not len(b.sync_chars) for a, b in zip(whole, plain))
  rng = random.Random(0)
  derived = direct = 0
  for text, tokenized in zip(texts, whole):
    assert tokenized.ids.tolist() == vocabulary.encode_batch([text])[0]
    for header in ("", "<reponame>r/x<filename>a.py\n"):
      full = header + text
      for _ in range(6):
        x, y = sorted(rng.randint(0, len(full)) for _ in range(2))
        plan = piece_tokens.piece_plan(full, len(header), x, y, tokenized)
        windows = piece_tokens.windows(plan)
        got = piece_tokens.assemble(plan, vocabulary.encode_batch(windows), tokenized)
        assert got.tolist() == vocabulary.encode_batch([full[x:y]])[0], (full[x:y], plan)
        derived += plan.right is not None
        direct += plan.right is None
  assert derived > 50 and direct > 0


def test_fim_rows_are_the_same_with_and_without_the_counted_ids(local_env):
  vocabulary, documents = _vocabulary()
  docs = [Document(t, f"org/r{i}", f"f{i}.py", i) for i, t in enumerate(documents + TRICKY)]
  ids = list(range(len(docs)))
  rates = keyed_preprocessing.Rates(metadata_rate=0.5, fim_rate=0.9, spm_rate=0.5)
  counted, fields = keyed_preprocessing.count_tokens(docs, vocabulary)
  counts = type("Counts", (), {})()
  counts.content = np.array([len(t.ids) for t in counted], np.int32)
  counts.repo, counts.path_tokens, counts.stars = fields
  counts.fields = keyed_preprocessing.FieldTokens.of(vocabulary)
  for key in (1, 2, 3):
    lengths = keyed_preprocessing.planned_lengths(ids, key, rates, counts)
    plain = keyed_preprocessing.encode(docs, ids, key, rates, vocabulary, lengths)
    known = keyed_preprocessing.encode(docs, ids, key, rates, vocabulary, lengths,
                                       content_ids=lambda d: counted[d])
    assert all(np.array_equal(a, b) for a, b in zip(plain, known))


def test_other_tokenizer_shapes_tokenize_pieces_directly(tmp_path):
  import json
  path = tmp_path / "tokenizer.json"
  spec = {"normalizer": None, "model": {"type": "BPE", "dropout": None},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Digits", "individual_digits": True},
              {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]}}
  path.write_text(json.dumps(spec))
  assert piece_tokens.supported(str(path))
  for change in ({"normalizer": {"type": "NFC"}},
                 {"model": {"type": "BPE", "dropout": 0.1}},
                 {"pre_tokenizer": {"type": "Metaspace"}},
                 {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True}}):
    other = tmp_path / f"t{len(change)}{list(change)[0]}.json"
    other.write_text(json.dumps({**spec, **change}))
    assert not piece_tokens.supported(str(other))
