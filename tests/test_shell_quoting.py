"""Run-time values reach a shell command as quoted environment variables (issue 13): the
quickstart with who=$(id -un) prints the text; `| raw` opts out and validate warns.
Both the compiled flow and the emitted Python run, against the session's server."""

from __future__ import annotations

import pytest
from test_compiler_emit import ROOT, flow_yaml, project_of, same_behaviour

from pipeform.compiler.shell import safe_command
from pipeform.spec import load_project

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_quickstart_prints_an_injection_as_text(tmp_path):
    marker = tmp_path / "pwned"
    project, _ = load_project([ROOT / "examples" / "quickstart"])
    hostile = ["$(id -un)", f"`touch {marker}`", f'"; touch {marker}; echo "', "a  *  b"]
    outcomes = same_behaviour(project, "hello", tmp_path, *({"who": w} for w in hostile))
    for who, (_, result, _) in zip(hostile, outcomes, strict=True):
        assert result == {"count": len(f"hello, {who}!")}, who  # the greeting, character for character
    assert not marker.exists()


QUOTING = """\
  parameters:
    who: {type: string, default: x}
    n: {type: integer, default: 3}
  tasks:
    - name: bare
      shell: echo $[ params.who ]
    - name: double
      shell: echo "<$[ params.who ]>"
    - name: single
      shell: echo '<$[ params.who ]>'
    - name: number
      shell: echo $[ params.n ] \\$[ literal ]
    - name: raw
      shell: echo $[ params.who | raw ]
"""


def test_every_quoting_context_keeps_the_value_literal(write, tmp_path):
    project = project_of(write, flow_yaml("quoting", QUOTING))
    who = "a  'b' \"c\" $(echo run) * ;"
    ((_, result, _),) = same_behaviour(project, "quoting", tmp_path, {"who": who})
    assert result["bare"] == who and result["double"] == f"<{who}>" and result["single"] == f"<{who}>"
    assert result["number"] == "3 $[ literal ]"
    assert "run" in result["raw"] and "$(" not in result["raw"]  # | raw: pasted as code, as asked


def test_raw_is_flagged_by_validate(write):
    _, diagnostics = load_project([write("f.yaml", flow_yaml("quoting", QUOTING))])
    assert [(d.code, d.severity, d.origin.line) for d in diagnostics] == [("shell.raw", "warning", 19)]


def test_commands_are_rewritten_with_quoted_expansions():
    command, extra = safe_command("""a $[ x ] "b $[ y ]" 'c $[ z ]' $[ w | raw ]""", (("PIPEFORM_ARG_0", "taken"),))
    assert command == """a "${PIPEFORM_ARG_1}" "b ${PIPEFORM_ARG_2}" 'c '"${PIPEFORM_ARG_3}"'' $[ w ]"""
    assert extra == (("PIPEFORM_ARG_1", "$[ x ]"), ("PIPEFORM_ARG_2", "$[ y ]"), ("PIPEFORM_ARG_3", "$[ z ]"))
