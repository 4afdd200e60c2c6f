"""The registry filters in an environment's tfvars, rewritten from its entries on every change:
`registry_scan_filters` (CONTINUOUS_SCAN) and `registry_replication_filters` (replication).

Which filters is the rules' (rules/scanning.py and rules/replication.py, over rules/cover.py);
this module only writes them, each as a list variable just above `ecr_repositories`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.files import hcl, tfvars
from orchestrator.models import RiskTier
from orchestrator.rules import replication
from orchestrator.rules.scanning import VARIABLE, cover_of

COMMENT = (
    "# The registry's CONTINUOUS_SCAN filters, computed by ecrctl from ecr_repositories\n"
    "# (terraform/README.md); rewritten whenever ecrctl changes ecr_repositories.\n"
)
REPLICATION_COMMENT = (
    "# The registry's replication filters (PREFIX_MATCH), computed by ecrctl from\n"
    "# ecr_repositories and the tier table; rewritten whenever ecrctl changes ecr_repositories.\n"
)


def render(filters: Iterable[str], variable: str = VARIABLE) -> str:
    body = "".join(f"  {hcl.quote(f)},\n" for f in filters)
    return f"{variable} = [\n{body}]\n" if body else f"{variable} = []\n"


def with_filters(text: str, path: Path, env: str, tiers: Mapping[str, RiskTier]) -> str:
    """`text` (an environment's tfvars) with both filter lists recomputed from its entries.

    The one place that keeps the filters in step with ecr_repositories: the transaction passes
    every new tfvars text through here before writing it. A list with nothing to match has no
    line: removing the last repository that needs one takes the lines out again. Replication
    filters are written only while the environment declares replication_destinations.
    """
    tf = tfvars.parse(text, path, env)
    text = _with_list(text, tf, VARIABLE, list(cover_of(tf.entries, tiers).filters), COMMENT)
    if text != tf.text:
        tf = tfvars.parse(text, path, env)
    wanted: list[str] = []
    if tf.replication_destinations:
        wanted = list(replication.cover_of(tf.entries, tiers).filters)
    return _with_list(text, tf, replication.VARIABLE, wanted, REPLICATION_COMMENT)


def replication_filters(tf: tfvars.Tfvars, tiers: Mapping[str, RiskTier]) -> list[str]:
    """The replication filters ecrctl writes for `tf` (none without destinations)."""
    if not tf.replication_destinations:
        return []
    return list(replication.cover_of(tf.entries, tiers).filters)


def same_filters(current: list[str] | None, wanted: list[str]) -> bool:
    """Whether a written filter list (None: no line) is the one ecrctl writes: the same filters
    in another order or twice match the same repositories; no line is right when none is wanted."""
    return set(current) == set(wanted) if current is not None else not wanted


def _with_list(
    text: str, tf: tfvars.Tfvars, variable: str, filters: list[str], comment: str
) -> str:
    if same_filters(tf.filters(variable), filters):
        return text
    block = render(filters, variable)
    span = tf.document.attr_spans.get(variable)
    if span is not None and not filters:  # none left: take out what the insert below put in
        start, end = span
        if text[:start].endswith(comment):
            start -= len(comment)
        if text.startswith("\n", end):
            end += 1
        return text[:start] + text[end:]
    if span is not None:
        start, end = span
        return text[:start] + block + text[end:]
    line = tf.document.attr_lines.get(tfvars.VARIABLE)
    if line is None:
        separator = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{separator}{comment}{block}"
    at = 0
    for _ in range(line - 1):
        at = text.index("\n", at) + 1
    return text[:at] + comment + block + "\n" + text[at:]
