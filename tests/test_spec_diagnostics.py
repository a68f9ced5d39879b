"""Located diagnostics found while porting prefect.yaml files: a name pattern error says
which characters are allowed and underlines the whole name; list positions read
`spec.schedules[0]`; two bad keys are two diagnostics; Deployment triggers are accepted."""

from pipeform.spec import load_project
from pipeform.spec.render import human


def _diags(write, text: str):
    path = write("d.yaml", text)
    project, diags = load_project([path])
    assert project is None
    return diags


def test_two_bad_keys_are_two_diagnostics_at_their_lines(write):
    diags = _diags(
        write,
        "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  entrypoint: f.py:g\n"
        "  flow_name: g\n  schedules:\n    - cron: '0 3 * * *'\n      catchup: false\n      max_active_runs: 2\n",
    )
    assert [(d.code, d.origin.line, d.message) for d in diags] == [
        ("schema.unknown-field", 9, "unknown field 'catchup' in spec.schedules[0]"),
        ("schema.unknown-field", 10, "unknown field 'max_active_runs' in spec.schedules[0]"),
    ]


def test_deployment_triggers_are_accepted_and_a_bad_trigger_key_is_located(write):
    # (triggers were once refused with a pointer to Automation documents; they are applied now)
    ok = "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  entrypoint: f.py:g\n"
    project, diags = load_project([write("ok.yaml", ok + "  triggers:\n    - {expect: [x]}\n")])
    assert project is not None and not [d for d in diags if d.severity == "error"]
    diags = _diags(write, ok + "  triggers:\n    - expect: [x]\n      bogus: 1\n")
    assert diags and all(d.origin.line in (7, 8) for d in diags), diags


def test_name_pattern_error_lists_allowed_characters_and_underlines_the_name(write):
    diags = _diags(write, "apiVersion: pipeform/v1\nkind: Variable\nmetadata:\n  name: My Big Var\nspec: {value: 1}\n")
    (d,) = diags
    assert d.code == "schema.pattern" and "lower-case letters, digits, '-' and '_'" in d.message
    caret = human(d).splitlines()[-1]
    assert caret.count("^") == len("My Big Var")
