"""pipeform fmt: round-trip formatting keeps comments and key order."""

MESSY = """\
# header comment
apiVersion: pipeform/v1
kind: Variable   # the kind
metadata:
    name: v
spec:
    value:
        zeta: 1    # keep me
        alpha:
        -   a
        -   b
"""


def test_fmt_rewrites_keeping_comments_and_order(cli, write):
    path = write("v.yaml", MESSY)
    check = cli("fmt", "--check", path)
    assert check.exit_code == 1 and "would reformat" in check.output
    assert path.read_text() == MESSY  # --check changes nothing
    assert cli("fmt", path).exit_code == 0
    text = path.read_text()
    assert "# header comment" in text and "# the kind" in text and "# keep me" in text
    assert text.index("zeta") < text.index("alpha")
    assert "\n  name: v\n" in text and "\n      - a\n" in text
    assert cli("fmt", "--check", path).exit_code == 0
    assert cli("validate", path).exit_code == 0


def test_fmt_refuses_invalid_yaml(cli, write):
    path = write("bad.yaml", "a: [1\n")
    result = cli("fmt", path)
    assert result.exit_code == 1 and "[yaml.syntax]" in result.output
    assert path.read_text() == "a: [1\n"


def test_fmt_keeps_a_header_comment_above_the_first_separator():
    from pipeform.spec.fmt import format_text

    text = "# Owned by the data team.\n# Do not edit by hand.\n---\napiVersion: pipeform/v1\nkind: Project\n"
    once = format_text(text)
    assert once.startswith("# Owned by the data team.\n# Do not edit by hand.\n---\n")
    assert "kind: Project" in once
    assert format_text(once) == once  # stable
