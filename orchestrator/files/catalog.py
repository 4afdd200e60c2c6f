"""catalog/ecr-catalog.yaml, the registry catalog of ADR-0092: read safely, edit one entry.

Over 400 lines because it holds one format whole: the line reader for files exactly as ecrctl
writes them (and the proof they agree), the catalog's shape, and the writer.

The file is read by the strict YAML reader (files/yaml_strict.py: a bounded regular file; no
tags, aliases or duplicate keys; used only when a file is not in the form ecrctl writes, which
a line reader handles faster) and each entry is written by a small deterministic emitter, so
unrelated lines stay byte-for-byte and names such as `on`, `no` or `012` stay strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import FileError, UserError
from orchestrator.files import memo, yaml_strict
from orchestrator.models import STATUSES, CatalogEntry, Problem, RegistryRequest, RiskTier, Status
from orchestrator.rules import policy, replication

if TYPE_CHECKING:
    import yaml

VERSION = "1.0"
FIX_HINT = "fix the file by hand (git diff shows what changed), then run: ecrctl validate"
NEW_CATALOG = f"""\
# ECR registry catalog (ADR-0092). Managed by ecrctl: change it with `ecrctl create` and
# `ecrctl decommission`; `ecrctl validate` checks it against envs/*/terraform.tfvars.
version: "{VERSION}"
physical_registry: "platform-ecr"
repositories: {{}}
"""
_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but `"` and `\`: quoted as it is
_BLANK_OR_COMMENT = re.compile(r"^\s*(#.*)?$")
ADOPTED_AT = "adopted_at"  # history key `ecrctl adopt` sets


@dataclass(frozen=True)
class RepositoriesKey:
    """Where the `repositories:` key sits, for adding the first entry."""

    line_start: int  # offset of the start of its line
    value_end: int  # offset just past the line its value ends on
    empty: bool  # `repositories: {}` or `repositories:` with no value: rewritten as a block
    flow: bool  # `{...}`: ecrctl only writes block mappings


@dataclass
class Catalog:
    path: Path
    text: str
    physical_registry: str
    entries: dict[str, CatalogEntry]
    lines: dict[str, int] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    repositories_key: RepositoriesKey | None = None

    def with_replaced(self, entries: list[CatalogEntry], tiers: dict[str, RiskTier]) -> str:
        """Text with each of `entries`, all already in the catalog, rewritten in one pass."""
        text, at = [], 0
        for entry in sorted(entries, key=lambda e: self.spans[e.request.name]):
            start, end = self.spans[entry.request.name]
            text += [self.text[at:start], render_entry(entry, tiers[entry.request.risk])]
            at = end
        return "".join(text) + self.text[at:]

    def with_entry(self, entry: CatalogEntry, tiers: dict[str, RiskTier]) -> str:
        """Text with `entry` added in name order, or replacing the entry of the same name."""
        text, name = self.text, entry.request.name
        rendered = render_entry(entry, tiers[entry.request.risk])
        if name in self.spans:
            start, end = self.spans[name]
            return text[:start] + rendered + text[end:]
        key = self.repositories_key
        body = "repositories:\n" + rendered
        if key is None:
            return text + ("" if text.endswith("\n") or not text else "\n") + body
        if key.empty and not self.spans:
            # `repositories: {}`: rewrite that line as a block.
            return text[: key.line_start] + body + text[key.value_end :]
        if key.flow:
            raise UserError(f"{self.path}: repositories must be a block mapping", FIX_HINT)
        before = [s for key, s in self.spans.items() if key < name]
        if before:
            at = max(end for _, end in before)
        else:
            at = min(start for start, _ in self.spans.values())
        if at and text[at - 1] != "\n":
            rendered = "\n" + rendered
        return text[:at] + rendered + text[at:]


def _quote(value: str) -> str:
    """A YAML double-quoted scalar that any YAML 1.1/1.2 reader reads back as `value`."""
    return f'"{value}"' if _PLAIN.fullmatch(value) else _escape(value)


def _escape(value: str) -> str:
    """`_quote`, one character at a time."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F or (code >= 0xA0 and char not in "\u2028\u2029\ufeff"):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


quote = _quote  # public: the Backstage entity writer quotes every string the same way


def _render_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_quote(v) for v in values) + "]"


def render_entry(entry: CatalogEntry, tier: RiskTier) -> str:
    request = entry.request
    lines = [
        f"  {_quote(request.name)}:",
        "    metadata:",
        f"      id: {_quote(request.registry_id)}",
        f"      owner: {_quote(request.owner)}",
        f"      risk: {_quote(request.risk)}",
        f"      status: {_quote(entry.status)}",
        f"      environment: {_quote(request.env)}",
    ]
    if request.description:
        lines.append(f"      description: {_quote(request.description)}")
    if request.replicate:
        lines.append("      replicate: true")
    lines += [
        "    access:",
        f"      push_principals: {_render_list(request.push_principals)}",
        f"      pull_principals: {_render_list(request.pull_principals)}",
        "    aws:",
        f"      repository_url: {_quote(entry.repository_url)}",
        "    governance:",
        "      image_scanning: true",
        f"      scanning: {_quote(tier.scanning)}",
        f"      encryption: {_quote(tier.encryption_type)}",
        f"      image_tag_mutability: {_quote(tier.image_tag_mutability)}",
        "      lifecycle_policy:",
        f"        keep_image_count: {tier.keep_image_count}",
    ]
    if entry.history:
        lines.append("    history:")
        lines += [f"      {key}: {_quote(value)}" for key, value in sorted(entry.history.items())]
    return "\n".join(lines) + "\n"


def _content_end(text: str, start: int, limit: int) -> int:
    """Offset just after the last line in [start, limit) that is neither blank nor a comment."""
    end = start
    pos = start
    while pos < limit:
        nl = text.find("\n", pos, limit)
        line_end = limit if nl < 0 else nl + 1
        if not _BLANK_OR_COMMENT.match(text[pos:line_end].rstrip("\n")):
            end = line_end
        pos = line_end
    return end


def parse(text: str, path: Path, tiers: dict[str, RiskTier]) -> tuple[Catalog, list[Problem]]:
    """Read the catalog. Broken YAML raises UserError; entry-level problems are returned."""
    canonical = _parse_canonical(text, path, tiers)
    if canonical is not None:
        return canonical, []
    return _parse_yaml(text, path, tiers)


def _parse_yaml(text: str, path: Path, tiers: dict[str, RiskTier]) -> tuple[Catalog, list[Problem]]:
    import yaml

    data, root = yaml_strict.load(text, path, "the catalog", FIX_HINT)
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise UserError(
            f"{path}:1: the catalog must be a mapping with version and repositories", FIX_HINT
        )
    lines = {k.value: k.start_mark.line + 1 for k, _ in root.value if isinstance(k.value, str)}
    if str(data.get("version")) != VERSION:
        raise FileError(
            path,
            lines.get("version", 1),
            f"unsupported catalog version {data.get('version')!r}",
            FIX_HINT,
        )
    repositories = data.get("repositories") or {}
    if not isinstance(repositories, dict):
        raise FileError(
            path,
            lines.get("repositories", 1),
            "repositories must be a mapping of name to entry",
            FIX_HINT,
        )
    repo_key, repo_node = next(
        ((k, v) for k, v in root.value if k.value == "repositories"), (None, None)
    )
    catalog = Catalog(
        path,
        text,
        str(data.get("physical_registry", "")),
        {},
        repositories_key=_repositories_key(text, repo_key, repo_node),
    )
    problems: list[Problem] = []
    if isinstance(repo_node, yaml.MappingNode):
        pairs = repo_node.value
        for index, (key, _value) in enumerate(pairs):
            name = key.value
            line = key.start_mark.line + 1
            if key.tag != "tag:yaml.org,2002:str":
                # `012:` is the integer 10 and `on:` is true to YAML: not a repository name.
                raise FileError(
                    path,
                    line,
                    f"repository name"
                    f" {name if isinstance(name, str) else '(a complex key)'!r} is not a string;"
                    " quote it",
                    FIX_HINT,
                )
            catalog.lines[name] = line
            start = text.rfind("\n", 0, key.start_mark.index) + 1
            if index + 1 < len(pairs):
                limit = text.rfind("\n", 0, pairs[index + 1][0].start_mark.index) + 1
            else:
                limit = len(text)
            catalog.spans[name] = (start, _content_end(text, start, limit))
            try:
                catalog.entries[name] = _entry(str(name), repositories[name], tiers)
            except UserError as exc:
                problems.append(Problem(str(path), line, f"entry {name!r}: {exc.message}"))
    return catalog, problems


def _repositories_key(
    text: str, key: yaml.Node | None, value: yaml.Node | None
) -> RepositoriesKey | None:
    import yaml

    if key is None or value is None:
        return None
    flow = isinstance(value, yaml.MappingNode) and bool(value.flow_style)
    empty = (flow and not value.value) or (
        isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null"
    )
    # A null value ends where its key does; `{}` may run on past the key's line.
    end_line = text.find("\n", (value if flow else key).end_mark.index)
    return RepositoriesKey(
        line_start=text.rfind("\n", 0, key.start_mark.index) + 1,
        value_end=len(text) if end_line < 0 else end_line + 1,
        empty=empty,
        flow=flow,
    )


# -- the canonical fast path -----------------------------------------------------------------
# A 1000-entry catalog takes PyYAML (with libyaml) most of a second to read. A catalog that is
# exactly what ecrctl writes is read line by line instead, and accepted only if rendering what
# was read gives back the very same text: such a text is one ecrctl's emitter wrote, which every
# YAML reader reads as that data. Anything else (hand edits, comments between entries, odd
# quoting, a problem in an entry) goes through the YAML reader, which locates each problem.

_CANONICAL_HEAD = re.compile(
    r'(?:(?:#[^\n]*)?\n)*version: "1\.0"\n'
    r'physical_registry: ("(?:[^"\\\n]|\\.)*")\n'
    r"(repositories:(?: \{\})?\n)"
)
_CANONICAL_KEY = re.compile(r'^  ("(?:[^"\\\n]|\\.)*"):\n', re.MULTILINE)
_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_YAML_ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|([\\\"]))")


def _unquote(token: str) -> str | None:
    """The value of a double-quoted scalar as `_quote` writes it; None for any other form."""
    match = _QUOTED.fullmatch(token)
    if match is None:
        return None
    body = match.group(1)
    if "\\" in body:
        body = _YAML_ESCAPE.sub(
            lambda m: m.group(3) or chr(int(m.group(1) or m.group(2), 16)), body
        )
    return body


def _canonical_value(token: str) -> Any:
    if token.startswith('"'):
        return _unquote(token)
    if token.startswith("["):
        return [_unquote(m.group()) for m in _QUOTED.finditer(token)]
    if token == "true":
        return True
    return int(token) if token.isascii() and token.isdigit() else None


def _canonical_fields(chunk: str) -> dict[str, Any] | None:
    """The mapping that a canonical entry's lines (its key line excluded) hold."""
    raw: dict[str, Any] = {}
    section: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for line in chunk.splitlines():
        if line.startswith("        "):
            key, _, token = line[8:].partition(": ")
            nested[key] = _canonical_value(token)
        elif line.startswith("      "):
            key, _, token = line[6:].partition(":")
            if token:
                section[key] = _canonical_value(token[1:])
            else:
                nested = section[key] = {}
        elif line.startswith("    ") and line.endswith(":"):
            section = raw[line[4:-1]] = {}
        else:
            return None
    return raw


def _parse_canonical(text: str, path: Path, tiers: dict[str, RiskTier]) -> Catalog | None:
    head = _CANONICAL_HEAD.match(text)
    if head is None:
        return None
    physical_registry = _unquote(head.group(1))
    if physical_registry is None or _quote(physical_registry) != head.group(1):
        return None
    repositories_key = RepositoriesKey(
        line_start=head.start(2),
        value_end=head.end(2),
        empty=head.group(2) != "repositories:\n",
        flow=head.group(2) != "repositories:\n",
    )
    catalog = Catalog(path, text, physical_registry, {}, repositories_key=repositories_key)
    keys = list(_CANONICAL_KEY.finditer(text, head.end()))
    if repositories_key.empty != (not keys) or (keys and keys[0].start() != head.end()):
        return None  # `repositories:` with no entries, or something between it and the first
    line = text.count("\n", 0, head.end()) + 1
    tier_rows = tuple(tiers.values())
    for index, key in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        entry = _canonical_entry(text[key.start() : end], tier_rows)
        if entry is None or entry.request.name in catalog.entries:
            return None
        name = entry.request.name
        catalog.entries[name] = entry
        catalog.lines[name] = line
        catalog.spans[name] = (key.start(), end)
        line += text.count("\n", key.start(), end)
    return catalog


# What each entry read as, by (text, tier rows).
ENTRIES: memo.Entries[tuple[RiskTier, ...], CatalogEntry] = memo.Entries()


def _canonical_entry(chunk: str, tier_rows: tuple[RiskTier, ...]) -> CatalogEntry | None:
    """The entry `chunk` (its key line included) holds, if it is exactly what ecrctl writes."""
    return ENTRIES.get(chunk, tier_rows, _read_entry)


def _read_entry(chunk: str, tier_rows: tuple[RiskTier, ...]) -> CatalogEntry | None:
    key, _, body = chunk.partition("\n")
    name = _unquote(key[2:-1])  # `  "NAME":`
    raw = _canonical_fields(body)
    if name is None or raw is None:
        return None
    tiers = {tier.name: tier for tier in tier_rows}
    try:
        entry = _entry(name, raw, tiers)
    except UserError:
        return None
    return entry if render_entry(entry, tiers[entry.request.risk]) == chunk else None


def read(path: Path) -> str:
    """The catalog's text (a missing file reads as an empty catalog)."""
    if not path.exists():
        return NEW_CATALOG
    return yaml_strict.read_file(
        path, "catalog", "save the file as UTF-8, then run: ecrctl validate"
    )


def parse_file(path: Path, tiers: dict[str, RiskTier]) -> tuple[Catalog, list[Problem]]:
    return parse(read(path), path, tiers)


def load_text(text: str, path: Path, tiers: dict[str, RiskTier]) -> Catalog:
    """The catalog in `text`, refusing one with any problem."""
    catalog, problems = parse(text, path, tiers)
    if problems:
        first = problems[0]
        raise FileError(first.path, first.line, first.message, FIX_HINT)
    return catalog


def load(path: Path, tiers: dict[str, RiskTier]) -> Catalog:
    """The catalog file, refusing one with any problem. A missing file is an empty catalog."""
    return load_text(read(path), path, tiers)


def _entry(name: str, raw: Any, tiers: dict[str, RiskTier]) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise UserError("must be a mapping")
    metadata = _section(raw, "metadata")
    access = raw.get("access") or {}
    aws = raw.get("aws") or {}
    governance = _section(raw, "governance")
    history = raw.get("history") or {}
    if not all(isinstance(s, dict) for s in (access, aws, history)):
        raise UserError("access, aws and history must be mappings")
    status = metadata.get("status")
    if status not in STATUSES:
        raise UserError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    env = metadata.get("environment")
    if not isinstance(env, str) or not env:
        raise UserError("metadata.environment is missing")
    for key in ("id", "owner", "risk", "description"):
        if key in metadata and not isinstance(metadata[key], str):
            raise UserError(f"metadata.{key} must be a string")
    replicate = metadata.get("replicate", False)
    if not isinstance(replicate, bool):
        raise UserError("metadata.replicate must be true or false")
    # An adopted repository (history.adopted_at) keeps its ECR name; new ones follow ADR-0092.
    adopted = isinstance(history, dict) and ADOPTED_AT in history
    request = policy.build_request(
        name=policy.check_ecr_name(name) if adopted else policy.check_name(name),
        env=env,
        owner=metadata.get("owner", ""),
        risk=metadata.get("risk", ""),
        registry_id=metadata.get("id", ""),
        description=metadata.get("description", ""),
        push_principals=_strings(access.get("push_principals", []), "push_principals"),
        pull_principals=_strings(access.get("pull_principals", []), "pull_principals"),
        ecr_name=adopted,
        # The tfvars entry of a deprecated repository says so too (the module drops push access).
        status="deprecated" if status == "deprecated" else "active",
        replicate=replicate,
    )
    tier = tiers[request.risk]
    replication.check_request(request, tier)
    expected = {
        "image_scanning": True,
        "scanning": tier.scanning,
        "encryption": tier.encryption_type,
        "image_tag_mutability": tier.image_tag_mutability,
        "lifecycle_policy": {"keep_image_count": tier.keep_image_count},
    }
    for key, want in expected.items():
        if governance.get(key) != want:
            raise UserError(
                f"governance.{key} is {governance.get(key)!r} but the {request.risk} tier requires"
                f" {want!r}"
            )
    url = aws.get("repository_url", "")
    if not isinstance(url, str):
        raise UserError("aws.repository_url must be a string")
    return CatalogEntry(
        request=request,
        status=Status(status),
        repository_url=url,
        history={str(k): str(v) for k, v in history.items()},
    )


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    section = raw.get(key)
    if not isinstance(section, dict):
        raise UserError(f"{key} section is missing")
    return section


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"access.{key} must be a list of strings")
    return value


def with_status(entry: CatalogEntry, status: Status, **history: str) -> CatalogEntry:
    """`entry` with `status` (its request's status as the catalog reads it) and more history."""
    request = replace(
        entry.request, status=Status.DEPRECATED if status == Status.DEPRECATED else Status.ACTIVE
    )
    return replace(entry, request=request, status=status, history={**entry.history, **history})


def same_request(a: RegistryRequest, b: RegistryRequest) -> bool:
    return a.attributes() == b.attributes()


def describe_difference(old: RegistryRequest, new: RegistryRequest) -> str:
    before, after = old.attributes(), new.attributes()
    keys = [*before, *(k for k in after if k not in before)]  # `status` only when not active
    diffs = [
        f"{key} {json.dumps(before.get(key, 'active'))} -> {json.dumps(after.get(key, 'active'))}"
        for key in keys
        if before.get(key) != after.get(key)
    ]
    return "; ".join(diffs)
