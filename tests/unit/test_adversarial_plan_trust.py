"""ecrctl's reader of a saved plan file (adapters/planfile.py) against hand-made plan files: it
reads what Go's protobuf reader would, refuses what it was not made for, and never guesses
(issue 23, item 1). Plans made by the real terraform: tests/e2e/test_adversarial_plan_trust.py."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from orchestrator.adapters import planfile
from orchestrator.errors import UserError
from orchestrator.models import Action

ADDR = 'module.ecr_repositories["web-frontend"].aws_ecr_repository.this'


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _change(action: int, addr: str = ADDR, *extra: bytes) -> bytes:
    return _field(3, _field(13, addr.encode()) + _field(9, _field(1, action)) + b"".join(extra))


def _plan(tmp_path: Path, *parts: bytes, version: int = 3, terraform: str = "1.11.4") -> Path:
    body = _field(1, version) + _field(14, terraform.encode()) + b"".join(parts)
    path = tmp_path / "p.tfplan"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tfplan", body)
        archive.writestr("tfstate", '{"version": 4, "resources": []}')
    return path


def test_actions_read_as_terraform_names_them(tmp_path: Path) -> None:
    plan = planfile.read(
        _plan(
            tmp_path,
            _change(3),
            _change(5, "a.b"),
            _change(6, "c.d", _field(12, 1)),  # replaced because tainted
            _change(0, "e.f"),  # no-op: not a change
            _change(2, "g.h"),  # read: not a change
            _change(0, "i.j", _field(9, _field(5, _field(1, b"id")))),  # import only
        )
    )
    found = {c.address: (c.action, c.reason, c.importing) for c in plan.changes}
    assert found == {
        ADDR: (Action.UPDATE, None, False),
        "a.b": (Action.DELETE, None, False),
        "c.d": (Action.REPLACE, "tainted", False),
        "i.j": (Action.IMPORT, None, True),
    }


def test_a_message_given_twice_is_merged_and_the_last_scalar_wins(tmp_path: Path) -> None:
    # Go's proto.Unmarshal merges a repeated singular message: a delete appended after an
    # innocent "update" is what terraform applies, and what ecrctl must judge.
    rc = _field(13, ADDR.encode()) + _field(9, _field(1, 3)) + _field(9, _field(1, 5))
    (change,) = planfile.read(_plan(tmp_path, _field(3, rc))).changes
    assert change.action == Action.DELETE


@pytest.mark.parametrize(("version", "terraform"), [(4, "1.11.4"), (3, "1.12.0"), (3, "")])
def test_another_format_or_terraform_is_not_guessed_at(
    tmp_path: Path, version: int, terraform: str
) -> None:
    with pytest.raises(planfile.UnknownPlanFormat, match=r"reads format 3 of Terraform 1\.11"):
        planfile.read(_plan(tmp_path, _change(5), version=version, terraform=terraform))


def test_an_unknown_action_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not know"):
        planfile.read(_plan(tmp_path, _change(42)))


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("damage", ["not a zip", "two tfplan", "bad protobuf"])
def test_a_damaged_plan_file_is_refused_in_one_line(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "p.tfplan"
    if damage == "not a zip":
        path.write_bytes(b"plan")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("tfplan", b"\xff\xff" if damage == "bad protobuf" else _field(1, 3))
            if damage == "two tfplan":
                archive.writestr("tfplan", _field(1, 3))
    with pytest.raises(UserError) as caught:
        planfile.read(path)
    assert not isinstance(caught.value, planfile.UnknownPlanFormat)
    assert "\n" not in caught.value.message


def test_variables_read_as_cty_writes_them(tmp_path: Path) -> None:
    # [type JSON, value], msgpack: ecr_repositories = {"a-b": {"risk": "low", "pull": []}}
    value = b"\x92\xc4\x03\x22x\x22\x81\xa3a-b\x82\xa4risk\xa3low\xa4pull\x90"
    entry = _field(1, b"ecr_repositories") + _field(2, _field(1, value))
    plan = planfile.read(_plan(tmp_path, _field(2, entry)))
    assert plan.variables == {"ecr_repositories": {"a-b": {"risk": "low", "pull": []}}}
