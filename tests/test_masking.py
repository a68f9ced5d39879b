"""Masking: every escaped and encoded form of a secret is masked, and masking comes before
any cut (a cut first once leaked a long secret's first characters)."""

import json
from urllib.parse import quote, quote_plus

from pipeform.masking import MASK, scrub
from pipeform.reconciler.api import ApiError

SECRET = 'p\\a\tss "wörd"/&=+ x' + "y" * 40


def test_every_echoed_form_is_masked():
    echoes = [
        SECRET,
        json.dumps(SECRET),
        json.dumps(SECRET, ensure_ascii=False),
        json.dumps(json.dumps(SECRET)),
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        repr(SECRET),
    ]
    for echo in echoes:
        out = scrub(f"before {echo} after", [SECRET])
        assert MASK in out and "yyyy" not in out and out.startswith("before ") and out.endswith(" after"), echo


def test_short_values_are_left_alone():
    assert scrub("a b c", ["b"]) == "a b c"


def test_long_rejected_secret_is_masked_before_the_cut():
    secret = "S" + "k" * 400  # longer than the 300 characters an error keeps
    detail = json.dumps({"detail": [{"loc": ["body", "value"], "input": secret, "msg": "too long"}]})
    err = ApiError("POST", "/block_documents/", 422, detail)
    text = err.scrubbed([secret])
    assert "Skkk" not in text and "kkkkkkkk" not in text and MASK in text
    assert text.startswith("POST /block_documents/ -> HTTP 422: ")
    assert len(text) < 400
