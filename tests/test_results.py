"""Every results page is regenerable, and its prose states what its numbers say.

For each generator of :data:`geoviz.results.RESULTS`:

* the small version runs end to end (same code path and record format as the full run) and
  renders a block that names its command;
* the committed full record (``docs/results/<name>/<name>.json``) renders exactly the block
  committed in the page (so the tables are what the command produced), and every claim the
  generator computes from that record appears verbatim in the page (so no sentence outlives
  its table).
"""
from __future__ import annotations

import json

import pytest

from geoviz.results import BEGIN, END, REPO, RESULTS, get_generator, regenerate

NAMES = list(RESULTS)


@pytest.mark.parametrize("name", NAMES)
def test_small_version_runs_and_names_its_command(name, tmp_path):
    gen = get_generator(name)
    rec = regenerate(name, out=tmp_path, small=True, doc=False, progress=lambda m: None)
    assert (tmp_path / f"{name}.json").is_file()
    md = gen.render(json.loads((tmp_path / f"{name}.json").read_text()))
    assert gen.COMMAND in md
    assert isinstance(gen.claims(rec), list)


@pytest.mark.parametrize("name", NAMES)
def test_committed_page_is_its_record_and_states_its_claims(name):
    gen = get_generator(name)
    record_path = REPO / "docs" / "results" / name / f"{name}.json"
    assert record_path.is_file(), f"run `{gen.COMMAND}` and commit {record_path.relative_to(REPO)}"
    record = json.loads(record_path.read_text())
    page = (REPO / gen.DOC).read_text()
    begin, end = BEGIN.format(name=name), END.format(name=name)
    assert begin in page and end in page, f"{gen.DOC} has no generated block for {name!r}"
    block = page.partition(begin)[2].partition(end)[0].strip()
    assert block == gen.render(record).strip(), f"{gen.DOC}: the tables differ from `{gen.COMMAND}`'s record"
    prose = page.replace(block, "")
    missing = [c for c in gen.claims(record) if c not in prose]
    assert not missing, f"{gen.DOC} does not state what its record shows: {missing}"
