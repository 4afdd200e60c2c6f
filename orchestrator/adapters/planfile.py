"""A saved plan read from the file terraform wrote, without terraform: the changes it will apply,
the variables it was planned with, and the prior state its plan refreshed.

`terraform show -json PLAN` gives the same, but loads the AWS provider again (some 3 s). The
file is a zip Terraform calls internal: `tfplan` (protobuf, package tfplan, format version 3),
`tfstate` (the refreshed prior state, JSON as `terraform state pull` gives it), and the
configuration. So this reader is pinned: it reads only format version 3 written by a Terraform
it was tested against (TESTED), and says so for any other (UnknownPlanFormat: the caller asks
`terraform show -json` instead). Protobuf is read as Go's proto.Unmarshal reads it (the last
value of a scalar wins, a message given twice is merged, unknown fields are skipped), so what
ecrctl reads is what terraform applies.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.models import Action, ResourceChange, instance_of

FORMAT_VERSION = 3
# The Terraform releases whose plan files this reader was tested against (tests/e2e).
TESTED = re.compile(r"^1\.11\.[0-9]+$")
PLAN_MEMBER, STATE_MEMBER = "tfplan", "tfstate"
_MAX_MEMBER = 256 * 1024 * 1024

# planproto: Plan, ResourceInstanceChange, Change (terraform 1.11, internal/plans/planproto).
_PLAN_VERSION, _PLAN_VARIABLES, _PLAN_CHANGES, _PLAN_TARGETS = 1, 2, 3, 5
_PLAN_TERRAFORM, _PLAN_ERRORED, _PLAN_APPLYABLE = 14, 20, 25
_RC_DEPOSED, _RC_CHANGE, _RC_REASON, _RC_ADDR, _RC_PREV_ADDR = 7, 9, 12, 13, 14
_CHANGE_ACTION, _CHANGE_IMPORTING = 1, 5
# Action enum -> what terraform's JSON stream calls it (views/json/change.go); None: no change.
_ACTIONS: dict[int, Action | None] = {
    0: None,  # NOOP (a move or an import when the address moved or an import block names it)
    1: Action.CREATE,
    2: None,  # READ: a data source, nothing applied
    3: Action.UPDATE,
    5: Action.DELETE,
    6: Action.REPLACE,  # DELETE_THEN_CREATE
    7: Action.REPLACE,  # CREATE_THEN_DELETE
    8: Action.REMOVE,  # FORGET
    9: Action.REPLACE,  # CREATE_THEN_FORGET
}
_REASONS = {
    1: "tainted",
    2: "requested",
    3: "cannot_update",
    4: "delete_because_no_resource_config",
    5: "delete_because_wrong_repetition",
    6: "delete_because_count_index",
    7: "delete_because_each_key",
    8: "delete_because_no_module",
    9: "replace_triggered_by",
    12: "delete_because_no_move_target",
}


class UnknownPlanFormat(UserError):
    """A plan file this reader was not made for (another format version or Terraform)."""


@dataclass(frozen=True)
class SavedPlan:
    terraform_version: str
    changes: tuple[ResourceChange, ...]
    variables: dict[str, Any]  # name -> value, as terraform planned with it
    targets: tuple[str, ...]
    applyable: bool
    errored: bool


def read(path: Path) -> SavedPlan:
    """The plan in a saved plan file. UnknownPlanFormat for a format this reader does not know;
    UserError for a file that is not a plan at all."""
    raw = _member(path, PLAN_MEMBER)
    try:
        plan = _message(raw, _PLAN_SCHEMA)
    except (ValueError, IndexError, struct.error):
        raise UserError(
            f"{path} is not a terraform plan (its tfplan does not decode)", "plan again"
        ) from None
    version = plan.get(_PLAN_VERSION, 0)
    terraform = _text(plan.get(_PLAN_TERRAFORM, b""))
    if version != FORMAT_VERSION or not TESTED.match(terraform):
        raise UnknownPlanFormat(
            f"{path} was written by Terraform {terraform or '?'} in plan format {version};"
            f" ecrctl reads format {FORMAT_VERSION} of Terraform 1.11 only",
        )
    changes = []
    for rc in plan.get(_PLAN_CHANGES, []):
        change = _change(rc, path)
        if change is not None:
            changes.append(change)
    variables = {}
    for entry in plan.get(_PLAN_VARIABLES, []):
        name = _text(entry.get(1, b""))
        variables[name] = _dynamic(entry.get(2, {}).get(1, b""), path, name)
    return SavedPlan(
        terraform,
        tuple(changes),
        variables,
        tuple(_text(t) for t in plan.get(_PLAN_TARGETS, [])),
        bool(plan.get(_PLAN_APPLYABLE, 0)),
        bool(plan.get(_PLAN_ERRORED, 0)),
    )


def prior_state(path: Path) -> dict[str, Any]:
    """The state the plan found after its refresh (`tfstate` in the plan file): what is, not
    what the last apply left. Empty when the environment has no state yet."""
    raw = _member(path, STATE_MEMBER)
    if not raw.strip():
        return {}
    try:
        state = json.loads(raw)
    except ValueError:
        raise UserError(f"{path} holds no readable prior state", "plan again") from None
    if not isinstance(state, dict) or state.get("version") != 4:
        raise UnknownPlanFormat(f"{path} holds a prior state ecrctl does not read")
    return state


def _member(path: Path, name: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            found = [i for i in archive.infolist() if i.filename == name]
            if len(found) != 1:
                raise UserError(
                    f"{path} holds {len(found)} {name!r} members: not a plan terraform wrote",
                    "plan again",
                )
            if found[0].file_size > _MAX_MEMBER:
                raise UserError(f"{path}: its {name} is too large for a plan", "plan again")
            return archive.read(found[0])
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError):
        raise UserError(f"{path} is not a terraform plan file", "plan again") from None


def _change(rc: dict[int, Any], path: Path) -> ResourceChange | None:
    address = _text(rc.get(_RC_ADDR, b""))
    change = rc.get(_RC_CHANGE, {})
    code = change.get(_CHANGE_ACTION, 0)
    if code not in _ACTIONS:
        raise UserError(
            f"{path} plans an action ecrctl does not know (code {code}) for {address}",
            "apply it with terraform by hand after review, or plan again",
        )
    action = _ACTIONS[code]
    importing = _CHANGE_IMPORTING in change
    previous = _text(rc.get(_RC_PREV_ADDR, b""))
    if action is None and code == 0:
        if previous and previous != address:
            action = Action.MOVE
        elif importing:
            action = Action.IMPORT
    if action is None:
        return None
    reason = _REASONS.get(rc.get(_RC_REASON, 0))
    if _RC_DEPOSED in rc and _text(rc[_RC_DEPOSED]):
        reason = reason or "deposed"
    return ResourceChange(address, action, instance_of(address), reason, importing)


# -- protobuf, the subset planproto uses ---------------------------------------------------------
# A schema maps a field number to (kind, repeated, sub-schema); fields not in it are skipped.
_Schema = dict[int, tuple[str, bool, Any]]
_DYNAMIC: _Schema = {1: ("bytes", False, None)}
_IMPORTING: _Schema = {1: ("bytes", False, None)}
_CHANGE: _Schema = {
    _CHANGE_ACTION: ("varint", False, None),
    _CHANGE_IMPORTING: ("message", False, _IMPORTING),
}
_RESOURCE_CHANGE: _Schema = {
    _RC_DEPOSED: ("bytes", False, None),
    _RC_CHANGE: ("message", False, _CHANGE),
    _RC_REASON: ("varint", False, None),
    _RC_ADDR: ("bytes", False, None),
    _RC_PREV_ADDR: ("bytes", False, None),
}
_VARIABLE: _Schema = {1: ("bytes", False, None), 2: ("message", False, _DYNAMIC)}
_PLAN_SCHEMA: _Schema = {
    _PLAN_VERSION: ("varint", False, None),
    _PLAN_VARIABLES: ("message", True, _VARIABLE),
    _PLAN_CHANGES: ("message", True, _RESOURCE_CHANGE),
    _PLAN_TARGETS: ("bytes", True, None),
    _PLAN_TERRAFORM: ("bytes", False, None),
    _PLAN_ERRORED: ("varint", False, None),
    _PLAN_APPLYABLE: ("varint", False, None),
}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, at
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def _message(data: bytes, schema: _Schema, into: dict[int, Any] | None = None) -> dict[int, Any]:
    found: dict[int, Any] = {} if into is None else into
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value: Any
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        else:
            raise ValueError(f"wire type {wire}")  # groups: never in planproto
        if at > len(data):
            raise ValueError("truncated")
        if number not in schema:
            continue
        kind, repeated, sub = schema[number]
        if (kind == "varint") != (wire == 0) or (kind != "varint" and wire != 2):
            raise ValueError(f"field {number}: wire type {wire}")
        if kind == "message":
            if repeated:
                found.setdefault(number, []).append(_message(value, sub))
            else:  # a singular message given twice is merged into one, as Go reads it
                found[number] = _message(value, sub, found.get(number, {}))
        elif repeated:
            found.setdefault(number, []).append(bytes(value))
        else:
            found[number] = bytes(value) if kind == "bytes" else value
    return found


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, bytes | bytearray) else ""


# -- msgpack, as cty writes a DynamicValue ------------------------------------------------------


class _Unknown:
    """A value terraform will know only at apply (cty's msgpack extension 0)."""

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN = _Unknown()


def _dynamic(data: bytes, path: Path, name: str) -> Any:
    """A variable's value: cty writes it with its type, as [type JSON, value]."""
    try:
        value, at = _unpack(data, 0)
        if at != len(data):
            raise ValueError("trailing bytes")
    except (ValueError, IndexError, struct.error, UnicodeDecodeError):
        raise UserError(f"{path}: variable {name!r} does not decode", "plan again") from None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes):
        return value[1]
    return value


def _unpack(data: bytes, at: int, depth: int = 0) -> tuple[Any, int]:
    if depth > 64:
        raise ValueError("nested too deep")
    byte = data[at]
    at += 1
    if byte <= 0x7F:
        return byte, at
    if byte >= 0xE0:
        return byte - 0x100, at
    if 0xA0 <= byte <= 0xBF:
        return _str(data, at, byte & 0x1F)
    if 0x90 <= byte <= 0x9F:
        return _array(data, at, byte & 0x0F, depth)
    if 0x80 <= byte <= 0x8F:
        return _map(data, at, byte & 0x0F, depth)
    fixed: dict[int, Any] = {0xC0: None, 0xC2: False, 0xC3: True}
    if byte in fixed:
        return fixed[byte], at
    sizes = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}
    if byte in sizes:
        width = sizes[byte]
        size = int.from_bytes(data[at : at + width], "big")
        at += width
        if byte >= 0xD9:
            return _str(data, at, size)
        if at + size > len(data):
            raise ValueError("truncated")
        return bytes(data[at : at + size]), at + size
    numbers = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h"}
    numbers |= {0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    if byte in numbers:
        fmt = numbers[byte]
        width = struct.calcsize(fmt)
        return struct.unpack(fmt, data[at : at + width])[0], at + width
    if byte in (0xDC, 0xDD):
        width = 2 if byte == 0xDC else 4
        return _array(data, at + width, int.from_bytes(data[at : at + width], "big"), depth)
    if byte in (0xDE, 0xDF):
        width = 2 if byte == 0xDE else 4
        return _map(data, at + width, int.from_bytes(data[at : at + width], "big"), depth)
    ext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if byte in ext:  # fixext: the type byte, then the data; cty's unknown is type 0
        return UNKNOWN, at + 1 + ext[byte]
    if byte in (0xC7, 0xC8, 0xC9):
        width = {0xC7: 1, 0xC8: 2, 0xC9: 4}[byte]
        size = int.from_bytes(data[at : at + width], "big")
        return UNKNOWN, at + width + 1 + size
    raise ValueError(f"msgpack type 0x{byte:02x}")


def _str(data: bytes, at: int, size: int) -> tuple[str, int]:
    if at + size > len(data):
        raise ValueError("truncated")
    return bytes(data[at : at + size]).decode("utf-8"), at + size


def _array(data: bytes, at: int, count: int, depth: int) -> tuple[list[Any], int]:
    items = []
    for _ in range(count):
        item, at = _unpack(data, at, depth + 1)
        items.append(item)
    return items, at


def _map(data: bytes, at: int, count: int, depth: int) -> tuple[dict[Any, Any], int]:
    found = {}
    for _ in range(count):
        key, at = _unpack(data, at, depth + 1)
        value, at = _unpack(data, at, depth + 1)
        found[key if not isinstance(key, list | dict) else repr(key)] = value
    return found, at
