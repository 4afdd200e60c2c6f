"""The least over-matching cover of a set of repository names by prefix filters.

Two registry-wide ECR settings choose their repositories by filters, within a limit on how
many: registry scanning (CONTINUOUS_SCAN, rules/scanning.py: `PREFIX*` wildcard filters, at
most 100) and replication (rules/replication.py: PREFIX_MATCH filters, at most 100 per rule,
at least 2 characters each). Both ask the same question, answered here once: choose at most
`max_filters` prefixes so that every *wanted* name starts with one of them, and as few other
known names as possible do (those get the setting though their tier does not ask for it).
Among covers that over-match equally, the one with the most (so the narrowest) filters wins;
while the wanted names fit, that is one filter per name. What a prefix becomes as a filter
(and whether a prefix can be one at all) is the caller's: a `Spelling`.

Product-based names (ADR-0092, `{product}-{component}`) make the prefixes product prefixes
such as `payments-`.

Algorithm: exact, not greedy. The known names form a compressed trie; a prefix filter P matches
exactly the names under the trie node of P, and only branching nodes and names are worth a
filter (a longer prefix on a non-branching path matches the same names). A tree knapsack
computes, for every node and every budget k <= min(max_filters, wanted names below it),
the least over-match that covers the node's wanted names with k filters: either one
filter at the node (over-match: every other name below it) or the children's best covers
combined. Tables are bounded by the wanted names below a node, which bounds the whole
run by O(nodes x max_filters) steps: a few milliseconds at 1,000 repositories.

Optimal among prefix filters (Terraform checks coverage with `startswith`, registry.tf).
A node whose spelling gives no filter (None) is matched only through its children; when no
set of filters within the budget remains, `cover` raises NoCover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_INFEASIBLE = 1 << 62

# What a trie node's prefix becomes as a filter: (prefix, length of its parent's prefix, -1 at
# the root) -> the filter, or None when no filter can match exactly the names below the node.
# Any prefix longer than the parent's and at most the node's own matches the same known names.
Spelling = Callable[[str, int], "str | None"]


class NoCover(ValueError):
    """No set of at most `max_filters` filters the spelling allows matches every wanted name."""


@dataclass(frozen=True)
class Cover:
    """The filters chosen and the known names they match beyond the wanted ones."""

    filters: tuple[str, ...]
    wanted: tuple[str, ...]
    over: dict[str, str] = field(default_factory=dict)  # name -> the filter matching it

    @property
    def continuous(self) -> tuple[str, ...]:  # scanning's word for the wanted names
        return self.wanted

    @property
    def over_scanned(self) -> dict[str, str]:  # scanning's word for the over-matched names
        return self.over

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": list(self.filters),
            "continuous": len(self.wanted),
            "over_scanned": dict(sorted(self.over.items())),
        }


@dataclass
class _Node:
    prefix: str
    parent_len: int
    filter: str | None  # what the caller's spelling makes of the prefix
    name: bool = False  # the prefix is itself a known name
    continuous: bool = False  # ... one of the wanted names
    children: list[_Node] = field(default_factory=list)
    need: int = 0  # wanted names in the subtree
    others: int = 0  # other names in the subtree
    table: list[int] = field(default_factory=list)  # best key with exactly k filters
    here: list[bool] = field(default_factory=list)  # budget k: one filter at this node
    # per child: its budget for each total budget (None: the child needs no filter)
    splits: list[list[int] | None] = field(default_factory=list)


def _build(
    names: list[str], start: int, end: int, depth: int, parent_len: int, spell: Spelling
) -> _Node:
    """The compressed-trie node of sorted `names[start:end]`, which share `depth` characters."""
    first, last = names[start], names[end - 1]
    length = depth
    while length < len(first) and length < len(last) and first[length] == last[length]:
        length += 1
    node = _Node(first[:length], parent_len, spell(first[:length], parent_len))
    i = start
    if len(first) == length:  # sorted: the name equal to the prefix comes first
        node.name = True
        i += 1
    while i < end:
        j = i
        char = names[i][length]
        while j < end and names[j][length] == char:
            j += 1
        node.children.append(_build(names, i, j, length + 1, length, spell))
        i = j
    return node


def _solve(node: _Node, continuous: set[str], budget: int, scale: int) -> None:
    """Fill node.table: key = over-scan * scale - filters used, least is best."""
    node.continuous = node.name and node.prefix in continuous
    for child in node.children:
        _solve(child, continuous, budget, scale)
    node.need = int(node.continuous) + sum(c.need for c in node.children)
    node.others = int(node.name and not node.continuous) + sum(c.others for c in node.children)
    if node.need == 0:
        node.table, node.here = [0], [False]
        return
    size = min(budget, node.need) + 1
    # Without a filter here: the children's covers combined (impossible if this name is
    # wanted: only a filter here or above matches it).
    combined = [_INFEASIBLE] * size
    if not node.continuous:
        combined = [0] + [_INFEASIBLE] * (size - 1)
        reach = 0
        for child in node.children:
            if child.need == 0:  # nothing to cover below it: it adds nothing, uses no filter
                node.splits.append(None)
                continue
            table = child.table
            merged = [_INFEASIBLE] * size
            split = [0] * size
            for i in range(min(reach, size - 1) + 1):
                if combined[i] >= _INFEASIBLE:
                    continue
                for j in range(min(len(table) - 1, size - 1 - i) + 1):
                    if table[j] >= _INFEASIBLE:  # keys are negative: a sum could hide it
                        continue
                    value = combined[i] + table[j]
                    if value < merged[i + j]:
                        merged[i + j], split[i + j] = value, j
            reach += len(table) - 1
            combined = merged
            node.splits.append(split)
    here_key = node.others * scale - 1 if node.filter is not None else _INFEASIBLE
    node.table, node.here = [], []
    for k in range(size):
        use_here = k == 1 and here_key < combined[k]
        node.table.append(here_key if use_here else combined[k])
        node.here.append(use_here)


def _names(node: _Node) -> Iterable[str]:
    if node.name:
        yield node.prefix
    for child in node.children:
        yield from _names(child)


def _filters(node: _Node, k: int, out: list[tuple[str, _Node]]) -> None:
    if node.need == 0:
        return
    if node.here[k]:
        assert node.filter is not None
        out.append((node.filter, node))
        return
    for child, split in reversed(list(zip(node.children, node.splits, strict=True))):
        if split is not None:
            j = split[k]
            _filters(child, j, out)
            k -= j


def cover(wanted: Iterable[str], others: Iterable[str], max_filters: int, spell: Spelling) -> Cover:
    """The least over-matching prefix cover of `wanted` in at most `max_filters` filters.

    `others` are the known names that do not ask for it; the result lists which of them the
    filters match. NoCover when the spelling leaves no cover within `max_filters`.
    """
    chosen = set(wanted)
    rest = set(others) - chosen
    if not chosen:
        return Cover((), ())
    if max_filters < 1:
        raise ValueError("max_filters must be at least 1")
    names = sorted(chosen | rest)
    root = _build(names, 0, len(names), 0, -1, spell)
    _solve(root, chosen, max_filters, max_filters + 1)
    best = min(range(len(root.table)), key=lambda k: root.table[k])
    if root.table[best] >= _INFEASIBLE:
        raise NoCover(f"{len(chosen)} names cannot be matched by {max_filters} filters or fewer")
    found: list[tuple[str, _Node]] = []
    _filters(root, best, found)
    over = {n: f for f, node in found for n in _names(node) if n not in chosen}
    return Cover(
        tuple(sorted(f for f, _ in found)), tuple(sorted(chosen)), dict(sorted(over.items()))
    )
