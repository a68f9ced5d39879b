"""The Block kind and block references at validate time: data checked against the installed
block classes' schemas, references located with did-you-mean, secrets never echoed."""

from pipeform.spec import load_project
from pipeform.spec.block_types import installed, is_secret, secret_paths

BLOCKS = """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: api-token}
spec:
  type: secret
  data: {value: {from_env: API_TOKEN}}
---
apiVersion: pipeform/v1
kind: Block
metadata: {name: alerts}
spec:
  type: custom-webhook
  data:
    name: alerts
    url: http://127.0.0.1:9/hook
    json_data: {text: "{{subject}}: {{body}}"}
    secrets: {token: {from_env: HOOK_TOKEN}}
---
"""


def automation(*actions: str) -> str:
    return (
        "apiVersion: pipeform/v1\nkind: Automation\nmetadata: {name: a}\nspec:\n"
        "  trigger: {expect: [prefect.flow-run.Failed]}\n  actions:\n" + "".join(f"    - {a}\n" for a in actions)
    )


def problems(write, text: str):
    path = write("b.yaml", text)
    project, diags = load_project([path])
    return project, [(d.code, d.origin.line, d.severity, d.hint) for d in diags]


def test_valid_blocks_and_notification_actions(write):
    text = BLOCKS + automation(
        "{type: send-notification, block: alerts, subject: 'Failed', body: '{{ flow_run.name }}'}",
        "{type: do-nothing}",
        "{type: delete-flow-run}",
        "{type: resume-flow-run}",
    )
    project, diags = problems(write, text)
    assert diags == []
    blocks = project.of_kind("Block")
    assert blocks["api-token"].spec.type == "secret"
    assert project.automations["a"].spec.actions[0].type == "send-notification"


def test_block_data_is_checked_against_the_type_schema(write):
    bad = BLOCKS.replace("json_data:", "jsn_data:").replace("url: http://127.0.0.1:9/hook", "url: [1]")
    _, diags = problems(write, bad)
    codes = sorted((c, line) for c, line, _, _ in diags)
    assert codes == [("block.invalid-data", 15), ("block.invalid-data", 16)], diags


def test_unknown_block_type_is_a_warning_with_a_hint(write):
    _, diags = problems(write, BLOCKS.replace("type: custom-webhook", "type: custom-webhok"))
    assert diags == [("block.unknown-type", 12, "warning", "did you mean 'custom-webhook'?")]


def test_block_names_follow_prefects_rule(write):
    _, diags = problems(write, BLOCKS.replace("name: api-token", "name: api_token"))
    # the kind's metadata schema refuses it (each kind's metadata is checked by the JSON Schema)
    assert [(c, line) for c, line, *_ in diags] == [("schema.pattern", 3)]


def test_literal_secret_warns_without_printing_it(write):
    path = write("b.yaml", BLOCKS.replace("{from_env: API_TOKEN}", "hunter2-literal"))
    _, diags = load_project([path])
    assert [(d.code, d.severity) for d in diags] == [("block.literal-secret", "warning")]
    assert "hunter2" not in str(diags[0]) and diags[0].origin.line == 5  # the `type:` line, not the value's


def test_block_references_are_located_with_did_you_mean(write):
    text = BLOCKS + automation(
        "{type: send-notification, block: alert, body: x}",  # 9 -> typo of a document
        "{type: send-notification, block: api-token, body: x}",  # a secret cannot notify
        "{type: send-notification, block: slack-webhook/ops, body: x}",  # server only: warning
        "{type: call-webhook, block: alerts}",  # call-webhook needs a `webhook` block
        "{type: send-notification, block: secret/api-token, body: x}",  # TYPE/NAME of a declared doc, still no notify
    )
    _, diags = problems(write, text)
    assert sorted(diags) == [
        ("ref.block-type", 26, "error", None),
        ("ref.block-type", 28, "error", None),
        ("ref.block-type", 29, "error", None),
        ("ref.unknown-block", 25, "error", "did you mean 'alerts'?"),
        ("ref.unknown-block", 27, "warning", None),
    ]


def test_result_storage_and_git_credentials_name_blocks(write):
    text = (
        BLOCKS
        + """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: results}
spec: {type: local-file-system, data: {basepath: /tmp/r}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: f}
spec:
  result_storage: reslts
  tasks:
    - {name: t, python: "pkg:t", result_storage: ./local/path}
    - {name: u, python: "pkg:u", result_storage: api-token}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec:
  flow: f
  source: {git: {repository: "https://example.com/r.git", credentials_block: github-credentials/gh}}
"""
    )
    _, diags = problems(write, text)
    assert sorted(diags) == sorted(
        [
            ("ref.unknown-block", 28, "error", "did you mean 'results'?"),
            ("ref.block-type", 31, "error", None),  # a secret is no storage
            ("ref.unknown-block", 38, "warning", None),  # server-only credentials
        ]
    )


def test_automation_targets_are_checked(write):
    pool = "apiVersion: pipeform/v1\nkind: WorkPool\nmetadata: {name: pool}\nspec: {type: process, queues: [{name: hi}]}\n---\n"
    text = pool + automation(
        "{type: pause-work-pool, work_pool: pool}",
        "{type: pause-work-queue, work_queue: pool/hi}",
        "{type: resume-work-queue, work_queue: pool/lo}",
        "{type: pause-automation, automation: other}",
        "{type: resume-work-queue, work_queue: hi}",
    )
    _, diags = problems(write, text)
    assert sorted(c for c, *_ in diags) == ["ref.unknown-automation", "ref.unknown-queue", "ref.unknown-queue"]


def test_from_env_variable_must_be_sensitive(write):
    var = "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: pw}\nspec: {value: {from_env: PW}}\n"
    _, diags = problems(write, var)
    assert [c for c, *_ in diags] == ["model.invalid"]
    _, diags = problems(write, var.replace("}}", "}, sensitive: true}"))
    assert diags == []


def test_sensitive_variable_cannot_collide_with_a_block(write):
    var = "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: api_token}\nspec: {value: x, sensitive: true}\n"
    _, diags = problems(write, BLOCKS + var)
    assert [c for c, *_ in diags] == ["name.duplicate"]


def test_installed_block_types_and_secret_fields():
    types = installed()
    assert {"secret", "custom-webhook", "slack-webhook", "local-file-system", "webhook"} <= set(types)
    assert types["slack-webhook"].secret_fields == ("url",) and "notify" in types["slack-webhook"].capabilities
    assert is_secret(("secrets", "token"), types["custom-webhook"].secret_fields)
    assert not is_secret(("url",), types["custom-webhook"].secret_fields)
    data = {"name": "x", "secrets": {"a": 1, "b": 2}, "headers": {"h": 1}}
    assert secret_paths(data, types["custom-webhook"].secret_fields) == [("secrets", "a"), ("secrets", "b")]


def test_from_env_only_in_secret_fields(write):
    text = BLOCKS.replace("url: http://127.0.0.1:9/hook", "url: {from_env: HOOK_URL}")
    _, diags = problems(write, text)
    assert [(c, line) for c, line, *_ in diags] == [("block.from-env-not-secret", 15)]


def test_run_time_roots_are_checked_against_declared_documents(write):
    flow = """\
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: bucket}
spec: {value: s3://b}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: f}
spec:
  tasks:
    - name: t
      python: "pkg:t"
      inputs:
        a: "$[ secrets.api-token ]"
        b: "$[ variables.bucket ]"
        c: "$[ secrets.api-tokn ]"
        d: "$[ variables.buckt ]"
        e: "$[ blocks.secret.api-token ]"
        f: "$[ blocks.secret ]"
        g: "$[ secrets.alerts ]"
"""
    _, diags = problems(write, BLOCKS + flow.lstrip("-\n"))
    assert sorted(diags) == [
        ("expr.invalid-ref", 37, "error", None),
        ("ref.block-type", 38, "error", None),  # a custom-webhook is not a secret
        ("ref.unknown-secret", 34, "warning", "did you mean 'api-token'?"),
        ("ref.unknown-variable", 35, "warning", "did you mean 'bucket'?"),
    ]


def test_result_storage_compiles_to_saved_blocks(write):
    from pipeform.compiler import lower

    text = (
        BLOCKS
        + """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: results}
spec: {type: local-file-system, data: {basepath: /tmp/r}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: f}
spec:
  result_storage: ./results
  tasks:
    - {name: t, python: "pkg:t", result_storage: results}
"""
    )
    project, diags = problems(write, text)
    assert diags == []
    ir = lower(project, "f")
    assert ir.options.result_storage.slug.startswith("local-file-system/pipeform-")  # Prefect needs a saved block
    assert ir.tasks[0].options.result_storage.slug == "local-file-system/results"


def test_git_credentials_block_needs_https_and_a_string_secret(write):
    """What Prefect's git_clone would not use: credentials on an http:// or ssh URL, or a
    Secret whose value is an object (it goes to `access_token`, a string)."""
    text = (
        BLOCKS
        + """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: pair}
spec:
  type: secret
  data: {value: {username: u, password: {from_env: GIT_PW}}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: f}
spec:
  tasks:
    - {name: t, python: "pkg:t"}
"""
        + "".join(
            f"---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\n"
            f"spec:\n  flow: f\n  source: {{git: {{repository: {repo!r}, credentials_block: {block}}}}}\n"
            for i, (repo, block) in enumerate(
                [
                    ("https://127.0.0.1/r.git", "api-token"),  # fine
                    ("http://127.0.0.1/r.git", "api-token"),
                    ("git@github.com:acme/r.git", "secret/api-token"),
                    ("https://127.0.0.1/r.git", "pair"),
                ]
            )
        )
    )
    _, diags = problems(write, text)
    sources = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("  source:")]
    assert len(sources) == 4
    # one error each for d1, d2 and d3, at their credentials_block (d0 is fine); the warning is
    # the literal user name inside the `pair` Secret
    assert [d for d in diags if d[0] != "block.literal-secret"] == [
        ("ref.git-credentials", line, "error", None) for line in sources[1:]
    ], diags
