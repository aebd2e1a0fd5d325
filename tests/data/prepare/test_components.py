"""Connected components by large-star/small-star inside a Beam pipeline."""

import json
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from starjax.data.beam_options import with_defaults
from starjax.data.errors import DataError
from starjax.data.prepare.components import ConnectedComponents, default_rounds

IN_PROCESS = with_defaults(["--direct_running_mode=in_memory"], every_core=False)


def _components(edges, rounds, tmp_path):
  out = tmp_path / "labels.json"
  with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
    _ = (p | beam.Create(edges) | ConnectedComponents(rounds) | beam.combiners.ToList()
         | beam.Map(lambda labels: out.write_text(json.dumps(sorted(labels)))))
  return dict(json.loads(out.read_text()))


def _union_find(edges):
  parent = {}

  def find(x):
    parent.setdefault(x, x)
    while parent[x] != x:
      parent[x] = parent[parent[x]]
      x = parent[x]
    return x

  for u, v in edges:
    a, b = find(u), find(v)
    parent[max(a, b)] = min(a, b)
  return {x: find(x) for x in parent}


@pytest.mark.slow  # ~25 s: 13 unrolled rounds of two GroupByKeys each
def test_chain_star_and_random_graph_components_equal_union_find(tmp_path):
  rng = random.Random(0)
  chain = [(i, i + 1) for i in range(300)]  # numbered in order: the slowest shape
  shuffled = list(range(1000, 1300))
  rng.shuffle(shuffled)
  shuffled_chain = list(zip(shuffled, shuffled[1:]))
  star = [(2000, 2000 + i) for i in range(1, 300)]
  reverse_star = [(3299, 3000 + i) for i in range(299)]  # centre is the largest node
  random_graph = [(4000 + rng.randrange(300), 4000 + rng.randrange(300)) for _ in range(250)]
  random_graph = [(u, v) for u, v in random_graph if u != v]  # self-loops carry no edge
  edges = chain + shuffled_chain + star + reverse_star + random_graph
  labels = _components(edges, default_rounds(1500), tmp_path)
  assert labels == _union_find(edges)
  assert labels[300] == 0 and labels[2299] == 2000 and labels[3299] == 3000


def test_too_few_rounds_fail_the_pipeline_naming_the_option(tmp_path):
  chain = [(i, i + 1) for i in range(200)]
  with pytest.raises(Exception, match="components_rounds"):
    _components(chain, 1, tmp_path)


def test_a_member_left_with_two_roots_fails_the_pipeline(tmp_path):
  # After one round this graph is (4,1) (3,1) (2,1) (2,0) (5,0): no node is both a member and a
  # root, yet node 2 hangs from two roots, so one component would get two labels (and node 2
  # two near-dedup decisions). The check must see it as not converged.
  edges = [(0, 5), (2, 3), (2, 5), (3, 1), (4, 3)]
  with pytest.raises(Exception, match=r"node 2 is linked to 2 roots.*components_rounds"):
    _components(edges, 1, tmp_path)
  assert _components(edges, default_rounds(6), tmp_path) == {n: 0 for n in range(6)}
