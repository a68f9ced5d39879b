"""`pipeform import`'s choice of which automations are a deployment's `triggers` (pure, on
server JSON shaped as Prefect 3.8 returns it; the real-server round trip is in
test_convert_triggers.py): only the shape the trigger kind observes as a trigger; the rest
stays an Automation document; Prefect's default names at their positions."""

from pipeform.reconciler.importer import to_documents

EMPTY = {"pools": [], "queues": {}, "tag_limits": [], "limits": [], "variables": [], "block_documents": []}
DEP = {"id": "d1", "name": "dep", "flow_id": "f1", "entrypoint": "flows.py:run", "parameters": {}}


def _auto(name, trigger=None, tags=(), actions=None, **kw):
    run = {"type": "run-deployment", "source": "selected", "deployment_id": "d1", "parameters": None}
    return {
        "id": f"a-{name}",
        "name": name,
        "description": "",
        "enabled": True,
        "tags": list(tags),
        "trigger": trigger or {"type": "event", "expect": [name], "posture": "Reactive", "threshold": 1},
        "actions": [run] if actions is None else actions,
        "actions_on_trigger": [],
        "actions_on_resolve": [],
        **kw,
    }


def _import(autos, variables=()):
    server = {**EMPTY, "flows": {"f1": "run"}, "deployments": [DEP], "automations": autos, "variables": list(variables)}
    result = to_documents(server, ("Deployment", "Automation"))
    docs = {(d["kind"], d["metadata"]["name"]): d["spec"] for d in result.documents}
    return docs, result.skipped


def test_trigger_shaped_automations_become_triggers_and_others_stay_automations():
    metric = {"type": "metric", "posture": "Metric", "metric": {"name": "duration", "threshold": 1, "operator": ">"}}
    docs, skipped = _import(
        [
            _auto("dep__automation_3"),
            _auto("zeta"),
            _auto("dep__automation_1"),
            _auto("tagged", tags=["team"]),  # a trigger cannot carry tags
            _auto("two", actions=[_auto("x")["actions"][0], {"type": "do-nothing"}]),
            _auto("same"),
            _auto("same"),  # two of one name: which is the trigger is not guessed
            _auto("cloud", trigger=metric),  # not a trigger the spec can say
            _auto("pipeform's", tags=["pipeform:p"]),  # its owner tag is not a user tag
        ]
    )
    triggers = docs[("Deployment", "dep")]["triggers"]
    assert [t.get("name") for t in triggers] == [None, "pipeform's", None, "zeta"]
    assert triggers[0]["expect"] == ["dep__automation_1"] and triggers[2]["expect"] == ["dep__automation_3"]
    assert {n for k, n in docs if k == "Automation"} == {"tagged", "two", "same"}
    assert not any("dep__automation" in s or "zeta" in s for s in skipped)


def test_a_trigger_of_a_deployment_not_imported_is_named_not_lost():
    server = {**EMPTY, "flows": {"f1": "run"}, "deployments": [DEP], "automations": [_auto("dep__automation_1")]}
    result = to_documents(server, ("Automation",))
    assert result.documents == ()
    assert result.skipped == (
        "Automation 'dep__automation_1': a trigger of Deployment 'run/dep', written under its `triggers`;"
        " import that Deployment to write it",
    )
    odd = {**DEP, "entrypoint": "pipeform.compiler.loader:my-flow"}  # not written: its trigger stays an Automation
    result = to_documents({**server, "deployments": [odd]}, ("Deployment", "Automation"))
    assert [(d["kind"], d["metadata"]["name"]) for d in result.documents] == [("Automation", "dep__automation_1")]


def test_an_automation_document_of_the_same_shape_stays_an_automation():
    """pipeform's own Automation document with one run-deployment action looks like a trigger;
    the inventory (`automation.<name>`) tells them apart."""
    inventory = {"name": "pipeform-inventory-p", "value": '["automation.doc", "trigger.run/dep/trig"]'}
    autos = [_auto("doc", tags=["pipeform:p"]), _auto("trig", tags=["pipeform:p"])]
    docs, _ = _import(autos, [inventory])
    assert [t.get("name") for t in docs[("Deployment", "dep")]["triggers"]] == ["trig"]
    assert ("Automation", "doc") in docs and ("Automation", "trig") not in docs
