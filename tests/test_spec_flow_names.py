"""Flow names of entrypoint deployments resolved as Prefect names them, from the source
without importing it; names with spaces and capitals accepted where Prefect accepts them."""

import pytest

from pipeform.spec import load_project
from pipeform.spec.flow_names import deployment_flow_name, resolve

SOURCES = {
    "bare": 'from prefect import flow\n\n@flow\ndef update_ncbi_datasets(x: int = 1):\n    """Updates.\n\n    In two lines."""\n    return x\n',
    "called": "from prefect import flow\n\n@flow()\ndef update_ncbi_datasets():\n    pass\n",
    "named": "import prefect\n\n@prefect.flow(name='MAGI Vote', retries=2)\nasync def update_ncbi_datasets():\n    pass\n",
    "constant": "from prefect import flow\nNAME = 'from-constant'\n\n@flow(name=NAME)\ndef update_ncbi_datasets():\n    pass\n",
    "object": "from prefect import Flow\n\ndef body():\n    'Doc.'\n\nupdate_ncbi_datasets = Flow(fn=body, name='Object Flow', description='Given')\n",
    "wrapped": "from prefect import flow\n\ndef do_it(a: int, b: str = 'x'):\n    'Does it.'\n\nupdate_ncbi_datasets = flow(do_it)\n",
    "decorated-call": "from prefect import flow\n\ndef do_it():\n    pass\n\nupdate_ncbi_datasets = flow(name='late')(do_it)\n",
    "options": "from prefect import flow\n\n@flow(name='base')\ndef base():\n    'Base doc.'\n\nupdate_ncbi_datasets = base.with_options(name='variant', description='Variant')\n",
    "options-doc": "from prefect import flow\n\n@flow(name='base', description='')\ndef base():\n    'Base doc.'\n\nupdate_ncbi_datasets = base.with_options(retries=1)\n",
    "options-unnamed": "from prefect import flow\n\n@flow(name='base')\ndef base():\n    pass\n\nupdate_ncbi_datasets = base.with_options(retries=3)\n",
    "rebound": "from prefect import flow\n\n@flow(name='first')\ndef update_ncbi_datasets():\n    pass\n\n@flow(name='second')\ndef update_ncbi_datasets():\n    pass\n",
    "computed": "import os\nfrom prefect import flow\n\n@flow(name=f\"etl-{os.environ['X']}\")\ndef update_ncbi_datasets():\n    pass\n",
    "empty-name": "from prefect import flow\n\n@flow(name='')\ndef update_ncbi_datasets():\n    pass\n",
}
EXPECTED = {
    "bare": ("update-ncbi-datasets", "function"),
    "called": ("update-ncbi-datasets", "function"),
    "named": ("MAGI Vote", "decorator"),
    "constant": ("from-constant", "decorator"),
    "object": ("Object Flow", "decorator"),
    "wrapped": ("do-it", "object"),
    "decorated-call": ("late", "decorator"),
    "options": ("variant", "decorator"),
    "options-unnamed": ("base", "decorator"),
    "options-doc": ("base", "decorator"),
    "rebound": ("second", "decorator"),
    "computed": (None, "computed"),
    "empty-name": ("update-ncbi-datasets", "function"),
}


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_resolve_matches_prefect(tmp_path, case):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "f.py").write_text(SOURCES[case])
    found = resolve(tmp_path, "flows/f.py:update_ncbi_datasets")
    assert (found.name, found.how) == EXPECTED[case]
    if found.name is not None:  # the name Prefect itself gives the imported flow
        from prefect.flows import load_flow_from_entrypoint

        loaded = load_flow_from_entrypoint(f"{tmp_path}/flows/f.py:update_ncbi_datasets")
        assert loaded.name == found.name
        assert loaded.description == found.description  # `description=`, else the docstring, cleaned


def test_resolve_never_imports(tmp_path):
    (tmp_path / "f.py").write_text(
        f"open({str(tmp_path / 'ran')!r}, 'w').write('x')\nfrom prefect import flow\n\n@flow\ndef a_b():\n    pass\n"
    )
    assert resolve(tmp_path, "f.py:a_b").name == "a-b"
    assert not (tmp_path / "ran").exists()


def test_module_path_and_missing_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(SOURCES["named"])
    assert resolve(tmp_path, "pkg.mod.update_ncbi_datasets").name == "MAGI Vote"
    assert resolve(tmp_path, "nope.py:f").how == "missing"


DEPLOYMENT = """\
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: "Cybergov MAGI Voter"}
spec:
  entrypoint: flows/f.py:update_ncbi_datasets
FLOW_NAME"""


def _project(write, source: str, flow_name: str = ""):
    write("flows/f.py", source)
    path = write("d.yaml", DEPLOYMENT.replace("FLOW_NAME", f"  flow_name: {flow_name}\n" if flow_name else ""))
    return load_project([path.parent])


def test_deployment_address_uses_prefect_flow_name(write):
    project, diags = _project(write, SOURCES["bare"])
    assert diags == []
    spec = project.deployments["Cybergov MAGI Voter"].spec
    assert deployment_flow_name(spec) == "update-ncbi-datasets"


def test_flow_name_override_differing_is_a_located_warning(write):
    project, diags = _project(write, SOURCES["named"], flow_name='"Other Name"')
    assert project is not None
    assert [(d.code, d.severity, d.origin.line, d.origin.column) for d in diags] == [
        ("flow.name-mismatch", "warning", 6, 14)
    ]
    assert "'MAGI Vote'" in diags[0].message
    assert deployment_flow_name(project.deployments["Cybergov MAGI Voter"].spec) == "Other Name"


def test_flow_name_override_matching_is_quiet(write):
    project, diags = _project(write, SOURCES["named"], flow_name='"MAGI Vote"')
    assert diags == [] and project is not None


def test_computed_flow_name_is_a_warning_naming_the_fix(write):
    project, diags = _project(write, SOURCES["computed"])
    assert project is not None and [d.code for d in diags] == ["flow.name-computed"]
    assert "flow_name" in diags[0].hint and diags[0].origin.line == 5


def test_check_imports_checks_flow_name_and_parameters(write, cli):
    write(
        "flows/f.py",
        "import os\nfrom prefect import flow\n\n@flow(name=os.environ.get('NOPE', 'dyn'))\ndef g(x: int = 1):\n    pass\n",
    )
    path = write(
        "d.yaml",
        "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  entrypoint: flows/f.py:g\n"
        "  parameters: {x: 2, y: 3}\n  schedules:\n    - {interval: 60, parameters: {z: 1}}\n",
    )
    result = cli("validate", "--check-imports", "--output", "json", path.parent)
    assert result.exit_code == 1
    import json

    found = {(d["code"], d["line"]) for d in json.loads(result.output)["diagnostics"]}
    assert ("import.flow-name", 5) in found
    assert ("import.unknown-arg", 6) in found and ("import.unknown-arg", 8) in found


@pytest.mark.parametrize(
    ("kind", "name", "ok"),
    [
        ("Deployment", "Hello World - Helm", True),
        ("Deployment", "01 Deploy Wallet Valuations", True),
        ("Deployment", "a/b", False),
        ("Deployment", "50% off", False),
        ("Deployment", "   ", False),
        ("WorkPool", "My Pool", True),
        ("Automation", "Notify On Failure!", True),
        ("Variable", "my_var-2", True),
        ("Variable", "My Var", False),
        ("Variable", "a.b", False),
    ],
)
def test_names_as_prefect_accepts_them(write, kind, name, ok):
    specs = {
        "Deployment": "entrypoint: f.py:g\n  flow_name: g",
        "WorkPool": "type: process",
        "Automation": "trigger: {expect: [prefect.flow-run.Failed]}\n  actions: [{type: cancel-flow-run}]",
        "Variable": "value: 1",
    }
    path = write(
        "x.yaml", f'apiVersion: pipeform/v1\nkind: {kind}\nmetadata: {{name: "{name}"}}\nspec:\n  {specs[kind]}\n'
    )
    project, diags = load_project([path])
    assert (project is not None) == ok, [d.message for d in diags]
    if not ok:
        assert [d.code for d in diags if d.severity == "error"] == ["schema.pattern"]


@pytest.mark.parametrize("case", ["object", "wrapped", "decorated-call", "options"])
def test_assigned_flow_parameters_are_its_functions_as_prefect_computes_them(tmp_path, case):
    """`x = flow(fn)` / `x = Flow(fn=...)` / `x = f.with_options(...)`: read statically
    (not `entrypoint.not-found`), with the schema Prefect computes from the loaded flow."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema as prefect_schema

    from pipeform.spec.entrypoints import parameter_schema
    from pipeform.spec.entrypoints import resolve as resolve_entrypoint

    (tmp_path / "f.py").write_text(SOURCES[case])
    found = resolve_entrypoint(str(tmp_path), "f.py:update_ncbi_datasets")
    assert found.problem is None
    ours = parameter_schema(str(tmp_path), "f.py:update_ncbi_datasets")
    assert not ours.executed and ours.exact
    loaded = load_flow_from_entrypoint(f"{tmp_path}/f.py:update_ncbi_datasets")
    assert ours.schema == prefect_schema(loaded).model_dump(mode="json")
    if case == "wrapped":
        assert set(ours.schema["properties"]) == {"a", "b"} and ours.schema["required"] == ["a"]


def test_an_assignment_that_is_not_a_flow_is_still_not_found(tmp_path):
    from pipeform.spec.entrypoints import resolve as resolve_entrypoint

    (tmp_path / "f.py").write_text("def g():\n    pass\n\nx = g\ny = helper(g)\n")
    for obj in ("x", "y", "z"):
        problem = resolve_entrypoint(str(tmp_path), f"f.py:{obj}").problem
        assert problem and problem[0] == "entrypoint.not-found", obj


METHODS = '''\
from prefect import flow


def nightly_load(other: str):  # the same name outside the class: not the entrypoint's
    pass


class Jobs:
    """Jobs."""

    @flow
    @staticmethod
    def nightly_load(n: int = 1, tag: str = "x"):
        """Loads nightly.

        Args:
            n: how many
        """
        return n

    @flow(name="By Class")
    @classmethod
    def from_cls(cls, n: int = 2):
        return n

    @staticmethod
    @flow(name="static-outer", description="Outer.")
    def outer(k: int = 3):
        return k

    @flow
    def inst(self, z: int = 4):
        return z


class Outer:
    class Inner:
        @flow
        @staticmethod
        def deep_one(a: int = 0):
            return a


jobs = Jobs()
'''


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        ("Jobs.nightly_load", "nightly-load"),
        ("Jobs.from_cls", "By Class"),
        ("Jobs.outer", "static-outer"),
        ("Jobs.inst", "inst"),
        ("Outer.Inner.deep_one", "deep-one"),
        ("jobs.nightly_load", "nightly-load"),
    ],
)
def test_class_method_entrypoints_read_as_prefect_loads_them(tmp_path, obj, name):
    """`file.py:Class.method` (Prefect's import_object follows the attribute path): the flow
    name, description and parameter schema (self/cls left out) Prefect's own loader gives."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema as prefect_schema

    from pipeform.spec.entrypoints import parameter_schema
    from pipeform.spec.entrypoints import resolve as resolve_entrypoint

    (tmp_path / "f.py").write_text(METHODS)
    entry = f"f.py:{obj}"
    loaded = load_flow_from_entrypoint(f"{tmp_path}/{entry}")
    found = resolve(tmp_path, entry)
    assert (found.name, found.description) == (loaded.name, loaded.description) and loaded.name == name
    assert resolve_entrypoint(str(tmp_path), entry).problem is None
    ours = parameter_schema(str(tmp_path), entry)
    assert not ours.executed and ours.exact
    assert ours.schema == prefect_schema(loaded).model_dump(mode="json")
    assert "other" not in ours.schema["properties"]


def test_class_method_deployment_validates_and_a_missing_attribute_is_located(write):
    write("flows/f.py", METHODS)
    path = write(
        "d.yaml",
        DEPLOYMENT.replace("update_ncbi_datasets", "Jobs.from_cls").replace("FLOW_NAME", "")
        + '---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: gone}\nspec:\n  entrypoint: "flows/f.py:Jobs.gone"\n',
    )
    project, diags = load_project([path.parent])
    assert project is None
    [error] = [d for d in diags if d.severity == "error"]
    assert error.code == "entrypoint.not-found" and "Jobs.gone" in error.message
    assert (error.origin.line, error.origin.column) == (11, 15)  # the second document's entrypoint
    path.write_text(path.read_text().split("---\n")[0])
    project, diags = load_project([path.parent])
    assert diags == [] and deployment_flow_name(project.deployments["Cybergov MAGI Voter"].spec) == "By Class"
