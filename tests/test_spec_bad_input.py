"""Bad input always gets a located diagnostic and exit code 1, never a traceback."""

import pytest

from pipeform.spec.yaml_limits import MAX_FILE_BYTES

HEADER = "apiVersion: pipeform/v1\nkind: Variable\nmetadata:\n  name: v\n"
BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)

CASES = [
    ("invalid-yaml", "a: [1, 2\nb: 3\n", "yaml.syntax", 2, 2),
    ("tab-indent", "apiVersion: pipeform/v1\nkind: Variable\nmetadata:\n\tname: v\n", "yaml.tab-indent", 4, 1),
    ("duplicate-key", HEADER + "spec:\n  value: 1\n  value: 2\n", "yaml.duplicate-key", 7, 3),
    ("empty", "# only a comment\n\n", "file.empty", 1, 1),
    ("binary", b"\x00\x01\x02PNG", "file.binary", 1, 1),
    ("not-utf8", b"a: 1\nb: \xff\xfe\n", "file.encoding", 2, 1),
    ("top-level-list", "- 1\n- 2\n", "doc.not-a-mapping", 1, 1),
    ("top-level-scalar", "just text\n", "doc.not-a-mapping", 1, 1),
    ("api-version", "apiVersion: pipeform/v2\nkind: Flow\nmetadata: {name: a}\nspec: {}\n", "doc.api-version", 1, 13),
    ("kind", "apiVersion: pipeform/v1\nkind: Flw\nmetadata: {name: a}\nspec: {}\n", "doc.unknown-kind", 2, 7),
    ("python-tag", HEADER + "spec:\n  value: !!python/object/apply:os.system ['echo pwned']\n", "yaml.tag", 6, 10),
    ("custom-tag", HEADER + "spec:\n  value: !Ref other\n", "yaml.tag", 6, 10),
    ("alias-bomb", BOMB, "yaml.alias-bomb", 1, 1),
]


@pytest.mark.parametrize(("name", "content", "code", "line", "col"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_located(cli, write, name, content, code, line, col):
    path = write(f"{name}.yaml", content)
    result = cli("validate", path)
    assert result.exit_code == 1
    assert f"{path}:{line}:{col}" in result.output
    assert f"[{code}]" in result.output
    assert "Traceback" not in result.output


def test_python_tag_never_runs(cli, write, tmp_path):
    marker = tmp_path / "pwned"
    path = write("evil.yaml", HEADER + f"spec:\n  value: !!python/object/apply:os.system ['touch {marker}']\n")
    assert cli("validate", path).exit_code == 1
    assert not marker.exists()


def test_oversized_file_is_refused(cli, write):
    path = write("big.yaml", HEADER + "spec:\n  value: '" + "x" * MAX_FILE_BYTES + "'\n")
    result = cli("validate", path)
    assert result.exit_code == 1
    assert "[file.too-large]" in result.output and "1 MiB" in result.output


def test_missing_path(cli, tmp_path):
    result = cli("validate", tmp_path / "nope")
    assert result.exit_code == 1
    assert "[file.not-found]" in result.output


def test_yaml_1_1_surprises_stay_strings(write):
    from pipeform.spec import load_project

    path = write("v.yaml", HEADER + "spec:\n  value: {country: NO, flag: on, day: 2024-01-01, real: true}\n")
    project, diagnostics = load_project([path])
    assert diagnostics == []
    assert project.variables["v"].spec.value == {"country": "NO", "flag": "on", "day": "2024-01-01", "real": True}


def test_every_problem_in_one_run_with_cap(cli, write):
    docs = "".join(
        f"---\napiVersion: pipeform/v1\nkind: Variable\nmetadata: {{name: v{i}}}\nspec: {{valu: 1}}\n"
        for i in range(60)
    )
    result = cli("validate", write("many.yaml", docs))
    assert result.exit_code == 1
    # 60 unknown fields + 60 missing 'value': all found, the first 50 printed.
    assert result.output.count(": error[schema.") == 50
    assert "... and 70 more" in result.output
    assert "120 errors" in result.output
