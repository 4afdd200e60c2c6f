"""registry_scan_filters in an environment's tfvars: rewritten from its entries on every change.

The cover itself (which filters) is rules/scanning.py's; this module only writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.files import hcl, tfvars
from orchestrator.models import RiskTier
from orchestrator.rules.scanning import VARIABLE, cover_of

COMMENT = (
    "# The registry's CONTINUOUS_SCAN filters, computed by ecrctl from ecr_repositories\n"
    "# (terraform/README.md); rewritten whenever ecrctl changes ecr_repositories.\n"
)


def render(filters: Iterable[str]) -> str:
    body = "".join(f"  {hcl.quote(f)},\n" for f in filters)
    return f"{VARIABLE} = [\n{body}]\n" if body else f"{VARIABLE} = []\n"


def with_filters(text: str, path: Path, env: str, tiers: Mapping[str, RiskTier]) -> str:
    """`text` (an environment's tfvars) with registry_scan_filters recomputed from its entries.

    The one place that keeps the filters in step with ecr_repositories: the transaction passes
    every new tfvars text through here before writing it. A file without continuous-scan
    repositories has no such variable: removing the last one takes the lines out again.
    """
    tf = tfvars.parse(text, path, env)
    filters = list(cover_of(tf.entries, tiers).filters)
    current = tf.scan_filters
    # The same filters in another order or twice match the same repositories: leave them be.
    if (current is not None and set(current) == set(filters)) or (current is None and not filters):
        return text
    block = render(filters)
    span = tf.document.attr_spans.get(VARIABLE)
    if span is not None and not filters:  # none left: take out what the insert below put in
        start, end = span
        if text[:start].endswith(COMMENT):
            start -= len(COMMENT)
        if text.startswith("\n", end):
            end += 1
        return text[:start] + text[end:]
    if span is not None:
        start, end = span
        return text[:start] + block + text[end:]
    line = tf.document.attr_lines.get(tfvars.VARIABLE)
    if line is None:
        separator = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{separator}{COMMENT}{block}"
    at = 0
    for _ in range(line - 1):
        at = text.index("\n", at) + 1
    return text[:at] + COMMENT + block + "\n" + text[at:]
