"""Untrusted specs (issue 13): any input gets located diagnostics and exit 1, fast.

Each case here is a reproducer that crashed or stalled validate before."""

import json
import time

import pytest

from pipeform.spec import load_project

HEADER = "apiVersion: pipeform/v1\nkind: Variable\nmetadata:\n  name: v\nspec:\n  value: "

FLOW = "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec:\n  tasks:\n    - name: a\n      python: m:f\n"
CRASHES = [
    ("int-tag-empty", HEADER + "!!int\n", "yaml.syntax", 6, 10),
    ("float-tag-empty", HEADER + "!!float\n", "yaml.syntax", 6, 10),
    ("bool-tag-word", HEADER + "!!bool maybe\n", "yaml.syntax", 6, 10),
    ("int-5000-digits", HEADER + "1" * 5000 + "\n", "yaml.syntax", 6, 10),
    ("map-tag-on-scalar", HEADER + "!!map 3\n", "yaml.syntax", 6, 10),
    ("set-tag-on-list", HEADER + "!!set [1, 2]\n", "yaml.tag", 6, 10),
    ("binary-tag", HEADER + "!!binary aGVsbG8=\n", "yaml.tag", 6, 10),
    ("timestamp-tag", HEADER + "!!timestamp 2020-01-01\n", "yaml.tag", 6, 10),
    ("set-tag", HEADER + "!!set {a, b}\n", "yaml.tag", 6, 10),
    ("api-version-list", "apiVersion: [a]\nkind: Flow\nmetadata: {name: a}\nspec: {}\n", "doc.api-version", 1, 13),
    ("kind-list", "apiVersion: pipeform/v1\nkind: [a]\nmetadata: {name: a}\nspec: {}\n", "doc.unknown-kind", 2, 7),
    (
        "int-key",
        "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: a}\nspec: {value: 1, 3: x}\n",
        "yaml.key-type",
        4,
        18,
    ),
    (
        "recursive-alias",
        "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: &R [*R]}\nspec: {}\n",
        "yaml.recursive-alias",
        3,
        18,
    ),
    ("div-zero", HEADER + "'<< 1/0 >>'\n", "value.invalid", 6, 10),
    ("add-str", HEADER + "\"<< 1 + 'a' >>\"\n", "value.invalid", 6, 10),
    ("float-overflow", HEADER + "'<< (10**400)|float >>'\n", "value.invalid", 6, 10),
    ("format-args", HEADER + "\"<< 'a'|format(1) >>\"\n", "value.invalid", 6, 10),
    (
        "too-deep-block",
        "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(150)) + "  " * 151 + "x: 1\n",
        "yaml.too-deep",
        101,
        201,
    ),
    ("too-deep-flow", "a: " + "[" * 500 + "]" * 500 + "\n", "yaml.too-deep", 1, 103),
    ("expr-long-chain", HEADER + "'<< " + "+".join(["1"] * 3000) + " >>'\n", "value.syntax", 6, 10),
    (
        "runtime-long-chain",
        FLOW + "      inputs: {x: '$[ " + "+".join(["params.n"] * 3000) + " ]'}\n",
        "expr.syntax",
        8,
        19,
    ),
    ("expr-too-deep", HEADER + "'<< " + "(" * 3000 + "1" + ")" * 3000 + " >>'\n", "value.syntax", 6, 10),
]


@pytest.mark.parametrize(("name", "content", "code", "line", "col"), CRASHES, ids=[c[0] for c in CRASHES])
def test_former_crash_is_a_located_diagnostic(cli, write, name, content, code, line, col):
    path = write(f"{name}.yaml", content)
    result = cli("validate", path, "--output", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    found = [(d["code"], d["line"], d["column"]) for d in payload["diagnostics"]]
    assert (code, line, col) in found, found
    assert all(d["line"] and d["column"] for d in payload["diagnostics"])


def _timed(path):
    start = time.monotonic()
    project, diagnostics = load_project([path])
    return project, diagnostics, time.monotonic() - start


def test_adversarial_1mib_pattern_input_is_fast(write):
    """`<<.*>>` in the schema backtracked quadratically on a run of `<<` (80 KB: 6 s)."""
    head = "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: v}\nspec:\n  value: 1\n  sensitive: '"
    body = "<<" * ((1024 * 1024 - len(head) - 10) // 2)
    path = write("patterns.yaml", head + body + "'\n")
    assert path.stat().st_size < 1024 * 1024
    load_project([write("warm.yaml", HEADER + "1\n")])  # imports and schema compilation out of the timing
    import jsonschema  # noqa: F401  (imported by the first invalid document: out of the timing too)

    project, diagnostics, seconds = _timed(path)
    assert project is None and seconds < 2, seconds
    assert {d.code for d in diagnostics} == {"value.syntax"}  # never closed, located at the field
    assert (diagnostics[0].origin.line, diagnostics[0].origin.column) == (6, 14)


def test_aliasing_a_big_string_many_times_is_refused_fast(write):
    """A 65 KB file aliasing one 20 KB string 1,000 times (under the node limit) took 186 s."""
    big = "x" * 20_000
    text = HEADER.replace("  value: ", f"  value: [&s {big}, " + ", ".join(["*s"] * 1000) + "]\n")
    path = write("amplified.yaml", text)
    _, diagnostics, seconds = _timed(path)
    assert seconds < 2
    assert [(d.code, d.origin.line) for d in diagnostics] == [("yaml.alias-bomb", 1)]


BIG = [
    ("'a'*10**8", "value.too-large"),
    ("'x'|center(10**9)", "value.too-large"),
    ("[1]*10**9", "value.too-large"),
    ("[[1]*1000000]*1000000", "value.too-large"),
    ("range(100000)|join('a'*100000)", "value.too-large"),
    ("'a'*1000000 ~ 'b'*1000000", "value.too-large"),
    ("'%999999999d'|format(1)", "value.too-large"),
    ("'{:>999999999}'.format(1)", "value.too-large"),
    ("'{:>{}}'.format(1, 10**9)", "value.too-large"),
    ("('x'*1000000)|replace('x', 'yy')", "value.too-large"),
    ("range(100000)|map('string')|map('indent', 9999999)|list", "value.too-large"),
    ("10**(10**8)", "value.too-large"),
    ("('a'*1000000)|wordwrap(1)", "value.too-large"),
    (
        "range(100000)|map('string')|map('center', 1000)|map('trim')|map('center', 1000)|map('trim')|list|length",
        "expr.timeout",
    ),
    ("range(100000)|batch(1)|map('list')|map('list')|map('list')|list|length", "expr.timeout"),
]


@pytest.mark.parametrize(("expr", "code"), BIG, ids=[b[0] for b in BIG])
def test_big_expressions_stop_fast_with_a_located_error(write, expr, code):
    path = write("big.yaml", HEADER + "'<< " + expr.replace("'", "''") + " >>'\n")
    project, diagnostics, seconds = _timed(path)
    assert project is None and seconds < 2, seconds
    assert [(d.code, d.origin.line, d.origin.column) for d in diagnostics] == [(code, 6, 10)]


def test_expression_limits_leave_normal_values_alone(write):
    path = write("ok.yaml", HEADER + '\'<< (range(10)|join(",")) ~ "-" ~ ("ab"|upper) ~ (2**10) >>\'\n')
    project, diagnostics = load_project([path])
    assert diagnostics == []
    assert project.variables["v"].spec.value == "0,1,2,3,4,5,6,7,8,9-AB1024"


def test_project_document_count_is_bounded(write, monkeypatch):
    from pipeform.spec import load as load_module

    monkeypatch.setattr(load_module, "MAX_PROJECT_DOCUMENTS", 50)
    doc = "---\napiVersion: pipeform/v1\nkind: Variable\nmetadata: {{name: v{}}}\nspec: {{value: 1}}\n"
    write("a.yaml", "".join(doc.format(i) for i in range(40)))
    path = write("b.yaml", "".join(doc.format(100 + i) for i in range(40)))
    project, diagnostics = load_project([path.parent])
    assert project is None
    [limit] = [d for d in diagnostics if d.code == "project.too-large"]
    assert limit.origin.file == str(path) and limit.origin.line == 10 * 5 + 1 + 1  # the 11th document of b.yaml


def test_project_size_is_bounded(write, monkeypatch):
    from pipeform.spec import load as load_module

    monkeypatch.setattr(load_module, "MAX_PROJECT_BYTES", 1000)
    for i in range(5):
        write(f"f{i}.yaml", HEADER.replace("name: v", f"name: v{i}") + "'" + "x" * 300 + "'\n")
    project, diagnostics = load_project([write("f0.yaml", HEADER + "1\n").parent])
    assert project is None
    assert [d.code for d in diagnostics] == ["project.too-large"]
    assert diagnostics[0].origin.file.endswith("f3.yaml")


def test_internal_error_is_reported_with_the_file_and_valid_json(cli, write, monkeypatch):
    """The last-resort guard: a bug in pipeform is still a diagnostic, exit 1, JSON."""
    from pipeform.spec import schema

    def broken(doc):
        raise RuntimeError("boom")

    monkeypatch.setattr(schema, "check", broken)
    path = write("v.yaml", HEADER + "1\n")
    result = cli("validate", path, "--output", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    [d] = payload["diagnostics"]
    assert d["code"] == "internal.error" and d["file"] == str(path)
    assert "boom" in d["message"] and "report" in d["hint"]


ESCAPES = [
    ("shell", 'shell: echo "$[ params.p.__class__.__mro__ ]"', "__class__, __mro__", 8),
    ("input-key", "python: m:f\n      inputs: {v: \"$[ params.p['__globals__'] ]\"}", "__globals__", 9),
    ("const-base", "python: m:f\n      inputs: {v: \"$[ ''.__class__ ]\"}", "__class__", 9),
]


@pytest.mark.parametrize(("name", "task", "names", "line"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_runtime_expression_reaching_for_dunders_is_located(cli, write, name, task, names, line):
    """The run-time sandbox refuses `__x__` when the flow runs; validate says so first."""
    flow = "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec:\n  parameters: {p: {type: string}}\n"
    path = write(f"{name}.yaml", flow + "  tasks:\n    - name: a\n      " + task + "\n")
    result = cli("validate", path, "--output", "json")
    assert result.exit_code == 1, result.output
    [d] = json.loads(result.output)["diagnostics"]
    assert d["code"] == "expr.unsafe" and names in d["message"] and d["line"] == line, d


def test_underscore_keys_of_results_stay_usable(write):
    flow = "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec:\n  tasks:\n"
    tasks = "    - {name: a, python: m:f}\n    - {name: b, python: m:f, inputs: {v: \"$[ tasks.a.result['_id'] ]\"}}\n"
    _, diagnostics = load_project([write("ok.yaml", flow + tasks)])
    assert [d for d in diagnostics if d.severity == "error"] == []


def test_symlink_out_of_the_tree_is_refused_and_never_read(cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("token: hunter2-SECRET\nkind: Flow\n  bad: [\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "ok.yaml").write_text("apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: ok}\nspec: {value: 1}\n")
    (tree / "v.txt").write_text("apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: v}\nspec: {value: 2}\n")
    (tree / "sub" / "inside.yaml").symlink_to(tree / "v.txt")  # a link within the tree is read
    (tree / "leak.yaml").symlink_to(outside / "secret.yaml")
    result = cli("validate", tree, "--output", "json")
    assert result.exit_code == 1 and "hunter2" not in result.output, result.output
    [d] = json.loads(result.output)["diagnostics"]
    assert d["code"] == "file.outside" and d["file"].endswith("leak.yaml"), d
    (tree / "leak.yaml").unlink()
    result = cli("validate", tree, "--output", "json")
    assert result.exit_code == 0 and "2 documents OK" in result.output, result.output


@pytest.mark.parametrize("path", ["/etc/hostname", "../outside/reqs.txt", "a/../../reqs.txt"])
def test_requirements_file_outside_the_project_is_located(write, path):
    env = f"apiVersion: pipeform/v1\nkind: Environment\nmetadata: {{name: e}}\nspec:\n  requirements_file: {path}\n"
    _, diagnostics = load_project([write("env.yaml", env)])
    [d] = [d for d in diagnostics if d.severity == "error"]
    assert "inside the project folder" in d.message and d.origin.line == 5, str(d)


def test_requirements_file_linked_out_of_the_project_is_not_read(tmp_path):
    from pipeform.environments.deploy import lock_project
    from pipeform.spec import load_project_or_raise

    (tmp_path / "outside.txt").write_text("hunter2-SECRET\n")
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "reqs.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "f.py").write_text("from prefect import flow\n\n\n@flow\ndef f():\n    pass\n")
    (folder / "p.yaml").write_text(
        "apiVersion: pipeform/v1\nkind: Project\nmetadata: {name: p}\nspec: {}\n---\n"
        "apiVersion: pipeform/v1\nkind: Environment\nmetadata: {name: e}\nspec: {requirements_file: reqs.txt}\n---\n"
        "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {entrypoint: 'f.py:f', environment: e}\n"
    )
    _, problems = lock_project(load_project_or_raise([folder]))
    [(kind, _, path, code, message)] = problems
    assert (kind, path, code) == ("Environment", ("spec", "requirements_file"), "environment.file")
    assert "outside the project folder" in message and "hunter2" not in message
