"""Secrets out of text: every form in which a secret can be echoed back (raw, JSON-escaped
once or twice, URL-encoded, Python repr) is replaced by MASK. Mask first, truncate after:
a cut made before masking can leave a secret's first characters in the text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "(sensitive)"
MIN_LENGTH = 3  # shorter strings would mask ordinary words; such a secret is no secret


def forms(secret: str) -> set[str]:
    """The spellings of `secret` a server, a URL or a log line may carry."""
    once = json.dumps(secret)[1:-1]
    out = {
        secret,
        once,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(once)[1:-1],  # a JSON body quoted inside another JSON string
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
    }
    return {f for f in out if len(f) >= MIN_LENGTH}


def scrub(text: str, secrets: Iterable[str], limit: int | None = None) -> str:
    """`text` with every form of every secret masked, then cut to `limit` characters."""
    spellings = {f for s in secrets if isinstance(s, str) and len(s) >= MIN_LENGTH for f in forms(s)}
    for f in sorted(spellings, key=len, reverse=True):  # longest first: a form may contain another
        text = text.replace(f, MASK)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text
