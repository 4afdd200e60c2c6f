"""envs/{env}/terraform.tfvars: read the `ecr_repositories` map, add or remove one entry.

Every byte outside the entry being added or removed is kept as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import FileError, UserError
from orchestrator.files import hcl, memo
from orchestrator.files.workspace import read_text
from orchestrator.models import RegistryRequest
from orchestrator.rules import policy, replication, scanning, shards

VARIABLE = "ecr_repositories"
ENTRY_KEYS = (
    "id",
    "owner",
    "risk",
    "description",
    "push_principals",
    "pull_principals",
    "adopt",  # the import markers of an adopted repository (terraform/imports.tf)
    "adopt_kms_key",
    "status",
    "replicate",  # asks for replication where the tier allows it (rules/replication.py)
)
REQUIRED_KEYS = ("id", "owner", "risk")
FIX_HINT = "fix the file by hand (git diff shows what changed), then run: ecrctl validate"
_ENTRY_TAIL = re.compile(r"[ \t]*,?[ \t]*(?:(?:#|//)[^\n]*)?\n?")


@dataclass(frozen=True)
class Tfvars:
    path: Path
    env: str
    document: hcl.Document
    entries: dict[str, RegistryRequest]

    @property
    def text(self) -> str:
        return self.document.text

    @property
    def scan_filters(self) -> list[str] | None:
        """registry_scan_filters as the file holds it (None when it does not set it)."""
        return self.filters(scanning.VARIABLE)

    @property
    def replication_filters(self) -> list[str] | None:
        """registry_replication_filters as the file holds it (None when it does not set it)."""
        return self.filters(replication.VARIABLE)

    @property
    def replication_destinations(self) -> tuple[replication.Destination, ...]:
        """replication_destinations (rules/settings.py holds its form)."""
        return replication.destinations_of(self.document.values.get(replication.DESTINATIONS))

    def filters(self, variable: str) -> list[str] | None:
        """A list-of-filters variable ecrctl writes (None when the file does not set it)."""
        value = self.document.values.get(variable)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FileError(
                self.path,
                self.document.attr_lines.get(variable, 1),
                f"{variable} must be a list of strings",
                "delete the line: ecrctl writes it again on its next change",
            )
        return list(value)

    @property
    def shards(self) -> int:
        """state_shards: how many state shards the environment is split into (1 when absent)."""
        value = self.document.values.get(shards.SETTING, 1)
        problem = shards.check_setting(value)
        if problem is not None:
            raise FileError(
                self.path,
                self.document.attr_lines.get(shards.SETTING, 1),
                problem,
                f"put back the value the states have; to change it: ecrctl shards migrate"
                f" --env {self.env} --to S",
            )
        assert isinstance(value, int)
        return value

    @property
    def region(self) -> str | None:
        region = self.document.values.get("aws_region")
        return region if isinstance(region, str) else None

    def with_shards(self, count: int) -> str:
        """The file's text with `state_shards = count` (no line at all for 1, the default)."""
        text, span = self.text, self.document.attr_spans.get(shards.SETTING)
        if span is not None:
            start, end = span
            end = end + 1 if text.startswith("\n", end) else end
            text = text[:start] + text[end:]
        if count == 1:
            return text
        line = f"{shards.SETTING} = {count} # changed only by: ecrctl shards migrate\n\n"
        at = text.find(f"\n{VARIABLE} =")  # just before the entries
        at = len(text) if at < 0 else at + 1
        return text[:at] + line + text[at:]

    def with_entry(self, request: RegistryRequest) -> str:
        """The file's text with `request` added, in name order among the existing entries."""
        text, entry = self.text, render_entry(request)
        spans = self.document.spans.get(VARIABLE)
        if spans is None:
            if VARIABLE in self.document.values:
                raise self._error(
                    f"{VARIABLE} is not an object", self.document.attr_lines[VARIABLE]
                )
            separator = "" if text.endswith("\n") or not text else "\n"
            return f"{text}{separator}{VARIABLE} = {{\n{entry}}}\n"
        following = [start for key, (start, _) in spans.items.items() if key > request.name]
        if following:
            at = min(following)
            return text[:at] + entry + text[at:]
        if not spans.items and "\n" not in text[spans.open : spans.close]:
            # `ecr_repositories = {}` on one line: open it up.
            return text[: spans.open] + "{\n" + entry + text[spans.close :]
        line_start = text.rfind("\n", 0, spans.close) + 1
        if text[line_start : spans.close].strip():
            return text[: spans.close] + "\n" + entry + text[spans.close :]
        return text[:line_start] + entry + text[line_start:]

    def without_entry(self, name: str) -> str:
        return self.without_entries([name])

    def without_entries(self, names: Iterable[str]) -> str:
        """The file's text without the entries `names` (each in it), in one pass from the end."""
        text, items = self.text, self.document.spans[VARIABLE].items
        for name in sorted(set(names), key=lambda n: items[n][0], reverse=True):
            start, end = items[name]
            if self.text[end - 1] != "\n":  # ends mid-line: take its `,` and comment too
                tail = _ENTRY_TAIL.match(self.text, end)
                end = tail.end() if tail else end
            text = text[:start] + text[end:]
        return text

    def _error(self, message: str, line: int) -> FileError:
        return FileError(self.path, line, message, FIX_HINT)


def render_entry(request: RegistryRequest) -> str:
    """One entry as `terraform fmt` would lay it out."""
    fields: list[tuple[str, str]] = [
        ("id", hcl.quote(request.registry_id)),
        ("owner", hcl.quote(request.owner)),
        ("risk", hcl.quote(request.risk)),
    ]
    if request.description:
        fields.append(("description", hcl.quote(request.description)))
    fields.append(("push_principals", hcl.render_list(request.push_principals)))
    fields.append(("pull_principals", hcl.render_list(request.pull_principals)))
    if request.adopt:
        fields.append(("adopt", hcl.render_list(request.adopt)))
    if request.adopt_kms_key:
        fields.append(("adopt_kms_key", hcl.quote(request.adopt_kms_key)))
    if request.status != "active":
        fields.append(("status", hcl.quote(request.status)))
    if request.replicate:
        fields.append(("replicate", "true"))
    width = max(len(key) for key, _ in fields)
    body = "".join(f"    {key.ljust(width)} = {value}\n" for key, value in fields)
    return f"  {hcl.quote(request.name)} = {{\n{body}  }}\n"


def parse(text: str, path: Path, env: str) -> Tfvars:
    """The entries of a tfvars text; UserError at the first problem. A command parses each
    file once (context.Environment keeps what it read)."""
    canonical = _parse_canonical(text, path, env)
    return canonical if canonical is not None else _parse_hcl(text, path, env)


def _parse_hcl(text: str, path: Path, env: str) -> Tfvars:
    try:
        document = hcl.parse(text)
    except hcl.HclSyntaxError as exc:
        raise FileError(path, exc.line, exc.reason, FIX_HINT) from None
    tfvars = Tfvars(path, env, document, {})
    raw = document.values.get(VARIABLE, {})
    if not isinstance(raw, dict):
        raise tfvars._error(f"{VARIABLE} must be an object", document.attr_lines[VARIABLE])
    line_of = document.spans[VARIABLE].lines if VARIABLE in document.spans else {}
    for name, value in raw.items():
        line = line_of.get(name, document.attr_lines.get(VARIABLE, 1))
        try:
            tfvars.entries[name] = _entry(name, value, env)
        except UserError as exc:
            raise tfvars._error(f"entry {name!r}: {exc.message}", line) from None
    return tfvars


# -- the canonical fast path -----------------------------------------------------------------
# A tfvars whose ecr_repositories map closes the file and holds only entries exactly as
# render_entry writes them is read line by line: each entry is accepted only if rendering what
# was read gives back its very text, which Terraform reads as that request. The lines above the
# map go through the HCL reader, as does any file that is not in this form.

_CANONICAL_OPEN = re.compile(rf"^{VARIABLE} = \{{\n", re.MULTILINE)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')  # one string literal, escapes included
_CANONICAL_ITEM = re.compile(rf"^  ({_STRING.pattern}) = \{{\n", re.MULTILINE)
_CANONICAL_FIELD = re.compile(r"    ([a-z_]+) +=( .*)")


def _canonical_value(token: str) -> str | bool | list[str | None] | None:
    if token == "true":
        return True
    if token.startswith("["):
        return [hcl.unquote(m.group()) for m in _STRING.finditer(token)]
    return hcl.unquote(token)


def _parse_canonical(text: str, path: Path, env: str) -> Tfvars | None:
    opening = _CANONICAL_OPEN.search(text)
    close = len(text) - 2
    if opening is None or not text.endswith("\n}\n"):
        return None
    items = list(_CANONICAL_ITEM.finditer(text, opening.end(), close))
    if not items or items[0].start() != opening.end():
        return None
    try:
        head = hcl.parse(text[: opening.start()])
    except hcl.HclSyntaxError:
        return None
    if VARIABLE in head.values:
        return None
    spans = hcl.ObjectSpans(open=opening.end() - 2, close=close)
    raw: dict[str, dict[str, Any]] = {}
    entries: dict[str, RegistryRequest] = {}
    line = text.count("\n", 0, opening.end()) + 1
    for index, item in enumerate(items):
        end = items[index + 1].start() if index + 1 < len(items) else close
        read = _canonical_entry(text[item.start() : end], env)
        if read is None or read[1].name in raw:
            return None
        name = read[1].name
        raw[name], entries[name] = read
        spans.items[name] = (item.start(), end)
        spans.lines[name] = line
        line += text.count("\n", item.start(), end)
    document = hcl.extended(head, text, VARIABLE, raw, spans, opening.start())
    return Tfvars(path, env, document, entries)


# What each entry read as, by (text, env): the value terraform reads, and the request.
ENTRIES: memo.Entries[str, tuple[dict[str, Any], RegistryRequest]] = memo.Entries()


def _canonical_entry(chunk: str, env: str) -> tuple[dict[str, Any], RegistryRequest] | None:
    """What `chunk` (one entry, its key line included) holds, if it is exactly what ecrctl writes."""
    return ENTRIES.get(chunk, env, _read_entry)


def _read_entry(chunk: str, env: str) -> tuple[dict[str, Any], RegistryRequest] | None:
    key, *lines = chunk.splitlines()
    name = hcl.unquote(key[2:-4])  # `  "NAME" = {`
    fields = [_CANONICAL_FIELD.fullmatch(line) for line in lines[:-1]]  # the last closes it
    if name is None or not lines or not all(fields):
        return None
    value = {m.group(1): _canonical_value(m.group(2)[1:]) for m in fields if m}
    try:
        request = _entry(name, value, env)
    except UserError:
        return None
    return (value, request) if render_entry(request) == chunk else None


def load(path: Path, env: str) -> Tfvars:
    return parse(read_text(path, "tfvars file"), path, env)


def request_of(name: str, value: Any, env: str) -> RegistryRequest:
    """One `ecr_repositories` entry (a name and its object) as a request, checked as a file's are;
    e.g. the entries a saved plan was made with."""
    return _entry(name, value, env)


def _entry(name: str, value: Any, env: str) -> RegistryRequest:
    if not isinstance(value, dict):
        raise UserError("must be an object")
    unknown = sorted(set(value) - set(ENTRY_KEYS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} (allowed: {', '.join(ENTRY_KEYS)})")
    missing = [key for key in REQUIRED_KEYS if key not in value]
    if missing:
        raise UserError(f"missing key {missing[0]!r}")
    strings = {
        key: value.get(key, "") for key in ("id", "owner", "risk", "description", "adopt_kms_key")
    }
    strings["status"] = value.get("status", "active")
    lists = {key: value.get(key, []) for key in ("push_principals", "pull_principals", "adopt")}
    if not all(isinstance(v, str) for v in strings.values()):
        raise UserError("id, owner, risk, description, status and adopt_kms_key must be strings")
    if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in lists.values()):
        raise UserError("push_principals, pull_principals and adopt must be lists of strings")
    replicate = value.get("replicate", False)
    if not isinstance(replicate, bool):
        raise UserError("replicate must be true or false")
    return policy.build_request(
        name=name,
        env=env,
        owner=strings["owner"],
        risk=strings["risk"],
        registry_id=strings["id"],
        description=strings["description"],
        push_principals=lists["push_principals"],
        pull_principals=lists["pull_principals"],
        adopt=lists["adopt"],
        adopt_kms_key=strings["adopt_kms_key"],
        # ECR's rule: an adopted repository keeps its name. `ecrctl validate` checks that a
        # name outside ADR-0092's rule belongs to an adopted catalog entry.
        ecr_name=True,
        status=strings["status"],
        replicate=replicate,
    )
