"""catalog/ecr-catalog.yaml, the registry catalog of ADR-0092: read safely, edit one entry.

The file is read with the safe loader (no tags, duplicate keys refused) and each entry is
written by a small deterministic emitter, so unrelated lines stay byte-for-byte and names such
as `on`, `no` or `012` stay strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import policy
from .errors import UserError
from .models import STATUSES, CatalogEntry, Problem, RegistryRequest, RiskTier
from .workspace import read_text

VERSION = "1.0"
FIX_HINT = "fix the file by hand (git diff shows what changed), then run: ecrctl validate"
NEW_CATALOG = f"""\
# ECR registry catalog (ADR-0092). Managed by ecrctl: change it with `ecrctl create` and
# `ecrctl decommission`; `ecrctl validate` checks it against envs/*/terraform.tfvars.
version: "{VERSION}"
physical_registry: "platform-ecr"
repositories: {{}}
"""
_BLANK_OR_COMMENT = re.compile(r"^\s*(#.*)?$")
MAX_DEPTH = 32  # ecrctl writes 5 levels


@dataclass
class Catalog:
    path: Path
    text: str
    physical_registry: str
    entries: dict[str, CatalogEntry]
    lines: dict[str, int] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    repositories_node: yaml.Node | None = None

    def with_entry(self, entry: CatalogEntry, tiers: dict[str, RiskTier]) -> str:
        """Text with `entry` added in name order, or replacing the entry of the same name."""
        text, name = self.text, entry.request.name
        rendered = render_entry(entry, tiers[entry.request.risk])
        if name in self.spans:
            start, end = self.spans[name]
            return text[:start] + rendered + text[end:]
        node = self.repositories_node
        if node is None or (
            isinstance(node, yaml.MappingNode) and node.flow_style and not self.spans
        ):
            # `repositories: {}` (or no key at all): rewrite that one line as a block.
            body = "repositories:\n" + rendered
            if node is None:
                return text + ("" if text.endswith("\n") or not text else "\n") + body
            line_start = text.rfind("\n", 0, node.start_mark.index) + 1
            line_end = text.find("\n", node.end_mark.index)
            line_end = len(text) if line_end < 0 else line_end + 1
            return text[:line_start] + body + text[line_end:]
        if isinstance(node, yaml.MappingNode) and node.flow_style:
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


def _reject_duplicates(node: yaml.Node, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise UserError(
                        f"{path}:{key.start_mark.line + 1}: key {key.value!r} appears twice",
                        FIX_HINT,
                    )
                seen.add(key.value)
            _reject_duplicates(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicates(item, path)


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


def _reject_aliases_and_depth(text: str, path: Path) -> None:
    """Refuse tags, aliases and deep nesting before anything is built from the text.

    ecrctl never writes any of them. An alias can make a tiny file expand exponentially ("billion
    laughs") or refer to itself, and YAML parsers slow down with the square of nesting depth.
    The events are read lazily, so a hostile file costs no more than MAX_DEPTH levels.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else 1
        tag = getattr(event, "tag", None)
        if tag is not None and not isinstance(event, yaml.DocumentStartEvent):
            # ecrctl writes no tags; `!!python/...`, `!!binary` or `!!timestamp` mean a hand edit.
            raise UserError(
                f"{path}:{line}: YAML tags ({tag}) are not allowed in the catalog",
                FIX_HINT,
            )
        if isinstance(event, yaml.AliasEvent):
            raise UserError(
                f"{path}:{line}: YAML aliases (*{event.anchor}) are not allowed in the catalog",
                FIX_HINT,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise UserError(
                    f"{path}:{line}: nested more than {MAX_DEPTH} levels deep",
                    FIX_HINT,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse(text: str, path: Path, tiers: dict[str, RiskTier]) -> tuple[Catalog, list[Problem]]:
    """Read the catalog. Broken YAML raises UserError; entry-level problems are returned."""
    try:
        _reject_aliases_and_depth(text, path)
        loader = yaml.CSafeLoader(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                _reject_duplicates(root, path)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml may place an error found at the end of the text one line past its last line.
        line = min(mark.line + 1, text.count("\n") + 1) if mark else 1
        reason = exc.problem or exc.context or "invalid YAML"
        raise UserError(f"{path}:{line}: {reason}", FIX_HINT) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        # libyaml counts in UTF-8 bytes.
        line = text.encode("utf-8", "surrogatepass")[: exc.position].count(b"\n") + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise UserError(f"{path}:{line}: {exc.reason} ({char!r})", FIX_HINT) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}:1: invalid YAML ({exc})", FIX_HINT) from None
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise UserError(
            f"{path}:1: the catalog must be a mapping with version and repositories", FIX_HINT
        )
    lines = {k.value: k.start_mark.line + 1 for k, _ in root.value if isinstance(k.value, str)}
    if str(data.get("version")) != VERSION:
        raise UserError(
            f"{path}:{lines.get('version', 1)}: unsupported catalog version"
            f" {data.get('version')!r}",
            FIX_HINT,
        )
    repositories = data.get("repositories") or {}
    if not isinstance(repositories, dict):
        raise UserError(
            f"{path}:{lines.get('repositories', 1)}: repositories must be a mapping of name to"
            " entry",
            FIX_HINT,
        )
    repo_node = next((v for k, v in root.value if k.value == "repositories"), None)
    catalog = Catalog(
        path, text, str(data.get("physical_registry", "")), {}, repositories_node=repo_node
    )
    problems: list[Problem] = []
    if isinstance(repo_node, yaml.MappingNode):
        pairs = repo_node.value
        for index, (key, _value) in enumerate(pairs):
            name = key.value
            line = key.start_mark.line + 1
            if key.tag != "tag:yaml.org,2002:str":
                # `012:` is the integer 10 and `on:` is true to YAML: not a repository name.
                raise UserError(
                    f"{path}:{line}: repository name"
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


def _read(path: Path) -> str:
    return read_text(path, "catalog") if path.exists() else NEW_CATALOG


def parse_file(path: Path, tiers: dict[str, RiskTier]) -> tuple[Catalog, list[Problem]]:
    return parse(_read(path), path, tiers)


def load_text(text: str, path: Path, tiers: dict[str, RiskTier]) -> Catalog:
    """The catalog in `text`, refusing one with any problem."""
    catalog, problems = parse(text, path, tiers)
    if problems:
        raise UserError(str(problems[0]), FIX_HINT)
    return catalog


def load(path: Path, tiers: dict[str, RiskTier]) -> Catalog:
    """The catalog file, refusing one with any problem. A missing file is an empty catalog."""
    return load_text(_read(path), path, tiers)


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
    request = policy.build_request(
        name=policy.check_name(name),
        env=env,
        owner=metadata.get("owner", ""),
        risk=metadata.get("risk", ""),
        registry_id=metadata.get("id", ""),
        description=metadata.get("description", ""),
        push_principals=_strings(access.get("push_principals", []), "push_principals"),
        pull_principals=_strings(access.get("pull_principals", []), "pull_principals"),
    )
    tier = tiers[request.risk]
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
        status=status,
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


def with_status(entry: CatalogEntry, status: str, **history: str) -> CatalogEntry:
    return replace(entry, status=status, history={**entry.history, **history})


def same_request(a: RegistryRequest, b: RegistryRequest) -> bool:
    return a.attributes() == b.attributes()


def describe_difference(old: RegistryRequest, new: RegistryRequest) -> str:
    before, after = old.attributes(), new.attributes()
    diffs = [
        f"{key} {json.dumps(before[key])} -> {json.dumps(after[key])}"
        for key in before
        if before[key] != after[key]
    ]
    return "; ".join(diffs)
