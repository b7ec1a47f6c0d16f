"""The README's quick start runs as printed, and prints what its comments say (roughly)."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_quick_start_runs_and_its_comments_are_true(tmp_path, monkeypatch, one_thread):
    blocks = _python_blocks("Quick start")
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # it writes field.gvz
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in blocks:
            exec(compile(code, str(README), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("0.9") and lines[0].endswith("[ True False]")            # accuracy 0.928
    cv = [float(v) for v in re.findall(r"0\.\d+", lines[1])]
    assert len(cv) == 3 and min(cv) > 0.8                                                  # spatial CV
    assert float(lines[2]) > 0.98                                                          # R² 0.994
    assert abs(float(lines[3].strip("[]")) - 0.707) < 0.03                                  # sin 45° cos 0°
    assert lines[4] == "(3, 256)"
    assert (tmp_path / "field.gvz").is_file()
