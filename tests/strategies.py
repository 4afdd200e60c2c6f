"""Hypothesis strategies for valid requests, shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from orchestrator.rules import policy

# Letters that Unicode normalisation (NFC) changes: Terraform reads every string as NFC.
NOT_NFC = ["\u212b", "\u2126", "\u212a", "\uf900", "\U0002f800", "\u1100\u1161", "\u0958"]
TRICKY_LETTERS = [
    "\u00e9",
    "\u0130",
    "\u00df",
    "\u01c5",
    "\u0660",
    "\u216b",
    "\u00bd",
    "\U0001d400",
]


@st.composite
def descriptions(draw: st.DrawFn) -> str:
    piece = st.one_of(
        st.characters(categories=["L", "N"]),
        st.sampled_from(sorted(policy.DESCRIPTION_PUNCTUATION)),
        st.sampled_from(NOT_NFC + TRICKY_LETTERS),
    )
    text = "".join(draw(st.lists(piece, max_size=40)))
    if draw(st.booleans()):
        text = text[: policy.DESCRIPTION_MAX]
    else:  # now and then, exactly as long as allowed
        text = (text * (policy.DESCRIPTION_MAX // max(len(text), 1) + 1))[: policy.DESCRIPTION_MAX]
    return text


def _fits(name: str) -> bool:
    low, high = policy.NAME_LENGTH
    return low <= len(name) <= high


names = st.from_regex(policy.NAME, fullmatch=True).filter(_fits)
raw_requests = st.fixed_dictionaries(
    {
        "name": names,
        "owner": st.from_regex(policy.OWNER, fullmatch=True),
        "risk": st.sampled_from(["low", "medium", "high"]),
        "registry_id": st.none() | st.from_regex(policy.REGISTRY_ID, fullmatch=True),
        "description": descriptions(),
        "push_principals": st.lists(
            st.from_regex(policy.IAM_PRINCIPAL, fullmatch=True), max_size=3
        ),
        "pull_principals": st.lists(
            st.from_regex(policy.PULL_PRINCIPAL, fullmatch=True), max_size=3
        ),
    }
)


def _effective_id(raw: dict[str, Any]) -> str:
    return raw["registry_id"] or policy.derive_id(raw["name"])


batches = st.lists(
    raw_requests, min_size=1, max_size=10, unique_by=(lambda r: r["name"], _effective_id)
)


# Fleets for the prefix covers (scanning, replication): short names over a tiny alphabet share
# prefixes often, the interesting case; each name wanted (covered) or not.
_WORD = st.text(alphabet="abc", min_size=1, max_size=3)
_NAME = st.builds(lambda ws: "-".join(ws), st.lists(_WORD, min_size=1, max_size=3)).filter(
    lambda n: len(n) >= 2
)


@st.composite
def cover_fleets(draw: st.DrawFn, max_size: int = 30) -> tuple[list[str], list[str]]:
    """(the names a cover must match, the others)."""
    names = draw(st.lists(_NAME, min_size=1, max_size=max_size, unique=True))
    flags = draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
    pairs = list(zip(names, flags, strict=True))
    return [n for n, f in pairs if f], [n for n, f in pairs if not f]
