"""`pipeform graph`: the DAG as Mermaid or dot text, and SVG/PNG through Graphviz."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ETL = Path(__file__).resolve().parent.parent / "examples" / "etl"


def test_mermaid_shows_tasks_shapes_and_both_kinds_of_edges(cli):
    result = cli("graph", "orders-etl", str(ETL))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    check_disk[/"check_disk<br/><small>shell</small>"/]' in lines
    assert '    extract["extract<br/><small>python (map)</small>"]' in lines
    assert "    extract --> clean" in lines  # data
    assert "    check_disk -.-> load" in lines  # order only (depends_on)
    assert "    load --> report" in lines
    assert not any("--> extract" in line for line in lines)  # the first task has no upstream


def test_dot_text_to_a_file(cli, tmp_path):
    out = tmp_path / "etl.dot"
    result = cli("graph", "orders-etl", str(ETL), "--format", "dot", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith('digraph "orders-etl" {')
    assert '"check_disk" -> "load" [style=dashed];' in text
    assert '"clean" -> "load";' in text


def test_bad_requests_are_one_line_errors(cli):
    unknown = cli("graph", "orders-etx", str(ETL))
    assert unknown.exit_code == 1 and "no Flow named 'orders-etx'" in unknown.output
    no_file = cli("graph", "orders-etl", str(ETL), "--format", "svg")
    assert no_file.exit_code == 1 and "needs --output" in no_file.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (scripts/test.sh installs it)")
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<svg"), ("png", b"\x89PNG\r\n\x1a\n")])
def test_graphviz_renders_svg_and_png(cli, tmp_path, fmt, magic):
    out = tmp_path / f"etl.{fmt}"
    result = cli("graph", "orders-etl", str(ETL), "--format", fmt, "--output", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert (magic in data[:400]) if fmt == "svg" else data.startswith(magic)
    if fmt == "svg":
        assert b">report<" in data and b">check_disk<" in data
