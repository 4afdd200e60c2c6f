"""Many entries in one pass over the catalog or a tfvars text (the transaction's and the bench's).

Byte for byte where one `with_entry` each would put them: a new tfvars entry goes before the
first existing key after it (or, after them all, where `with_entry` appends), a new catalog
entry after the last existing key before it (or before them all). Names that meet the same
neighbour follow each other in name order. The transaction's read-back checks the result.
"""

from __future__ import annotations

from orchestrator.files import catalog, tfvars
from orchestrator.models import CatalogEntry, RegistryRequest, RiskTier


def tfvars_with(tf: tfvars.Tfvars, requests: list[RegistryRequest]) -> str:
    """`tf`'s text with `requests` (none of them in it yet) added."""
    requests = sorted(requests, key=lambda r: r.name)
    spans = tf.document.spans.get(tfvars.VARIABLE)
    items = sorted(spans.items.items()) if spans else []  # (name, (start, end)) by name
    groups: dict[int, list[RegistryRequest]] = {}
    tail: list[RegistryRequest] = []
    for request in requests:
        after = [start for key, (start, _) in items if key > request.name]
        if after:
            groups.setdefault(min(after), []).append(request)
        else:
            tail.append(request)
    text = tf.text
    if tail:
        first = tfvars.render_entry(tail[0])
        text = _insert_after(
            tf.with_entry(tail[0]), first, "".join(tfvars.render_entry(r) for r in tail[1:])
        )
    for at in sorted(groups, reverse=True):
        text = text[:at] + "".join(tfvars.render_entry(r) for r in groups[at]) + text[at:]
    return text


def catalog_with(
    cat: catalog.Catalog, entries: list[CatalogEntry], tiers: dict[str, RiskTier]
) -> str:
    """`cat`'s text with `entries` (none of them in it yet) added."""
    entries = sorted(entries, key=lambda e: e.request.name)

    def rendered(group: list[CatalogEntry]) -> str:
        return "".join(catalog.render_entry(e, tiers[e.request.risk]) for e in group)

    if not cat.spans:
        first = catalog.render_entry(entries[0], tiers[entries[0].request.risk])
        return _insert_after(cat.with_entry(entries[0], tiers), first, rendered(entries[1:]))
    groups: dict[int, list[CatalogEntry]] = {}
    for entry in entries:
        before = [end for key, (_, end) in cat.spans.items() if key < entry.request.name]
        at = max(before) if before else min(start for start, _ in cat.spans.values())
        groups.setdefault(at, []).append(entry)
    text = cat.text
    for at in sorted(groups, reverse=True):
        block = rendered(groups[at])
        if at and text[at - 1] != "\n":
            block = "\n" + block
        text = text[:at] + block + text[at:]
    return text


def _insert_after(text: str, anchor: str, addition: str) -> str:
    at = text.index(anchor) + len(anchor)
    return text[:at] + addition + text[at:]
