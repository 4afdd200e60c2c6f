"""ecrctl shards migrate on an in-memory S3 backend: cut short after any write (as kill -9
would), the same command finishes it or, with the former count, rolls it back; states keep
their lineage and serials only grow; locks are held throughout and released at the end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.adapters import s3_state
from orchestrator.context import Environment, Session
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import shards as migration
from orchestrator.ops import layout
from orchestrator.rules import shards
from tests.helpers import create_entry

NAMES = ["payments-gateway", "search-api", "user-api", "mail-api", "billing-api"]
MAIN = "ecr/dev/terraform.tfstate"


class Killed(BaseException):
    """What a kill -9 leaves: nothing after the write it interrupts runs."""


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.puts = 0
        self.die_after: int | None = None

    def backend(self, *_args: Any) -> FakeS3:
        return self

    def put(self, key: str, text: str) -> None:
        if self.die_after is not None and self.puts >= self.die_after:
            raise Killed
        self.puts += 1
        self.objects[key] = text

    def get(self, key: str) -> str | None:
        return self.objects.get(key)

    def lock(self, key: str, info: str) -> bool:
        if f"{key}.tflock" in self.objects:
            return False
        self.objects[f"{key}.tflock"] = info
        return True

    def lock_holder(self, key: str) -> str | None:
        return self.objects.get(f"{key}.tflock")

    def unlock(self, key: str) -> None:
        del self.objects[f"{key}.tflock"]

    def state(self, key: str) -> dict[str, Any]:
        text = self.objects.get(key)
        return json.loads(text) if text else {}


def _one_state() -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {
            "mode": "managed",
            "module": f'module.ecr_repositories["{n}"]',
            "type": "aws_ecr_repository",
            "name": "this",
            "instances": [{"attributes": {"name": n, "arn": f"arn:{n}"}}],
        }
        for n in NAMES
    ]
    resources += [
        {"mode": "data", "type": "aws_partition", "name": "current", "instances": [{}]},
        {
            "mode": "managed",
            "type": "aws_ecr_registry_scanning_configuration",
            "name": "this",
            "each": "list",
            "instances": [{"index_key": 0, "attributes": {"scan_type": "ENHANCED"}}],
        },
    ]
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 7,
        "lineage": "one-lineage",
        "outputs": {"registry_scan_type": {"value": "ENHANCED", "type": "string"}},
        "resources": resources,
    }


@pytest.fixture
def s3(repo: Workspace, monkeypatch: pytest.MonkeyPatch) -> FakeS3:
    fake = FakeS3()
    fake.objects[MAIN] = json.dumps(_one_state())
    for name in NAMES:
        create_entry(repo, name, env="dev")
    monkeypatch.setattr(s3_state, "Backend", fake.backend)
    monkeypatch.setattr(Environment, "process_environ", property(lambda self: {}))
    monkeypatch.setattr(Environment, "held", lambda self, state: fake.state(state.key))
    return fake


def _ctx(repo: Workspace) -> Environment:
    return Session(repo).at("dev")


def _layout(s3: FakeS3, count: int) -> dict[str, set[str]]:
    return {s.name: shards.held_repositories(s3.state(s.key)) for s in shards.states(MAIN, count)}


def _expected(count: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {s.name: set() for s in shards.states(MAIN, count)}
    for name in NAMES:
        found[shards.state_of(name, MAIN, count).name].add(name)
    return found


def test_a_migration_puts_each_repository_in_its_shard_and_the_registry_alone(
    repo: Workspace, s3: FakeS3
) -> None:
    done = migration.migrate(_ctx(repo), 4)
    assert _layout(s3, 4) == _expected(4)
    registry = s3.state("ecr/dev/registry/terraform.tfstate")
    assert [r["type"] for r in registry["resources"]] == [
        "aws_partition",
        "aws_ecr_registry_scanning_configuration",
    ]
    assert registry["outputs"] == _one_state()["outputs"]
    assert s3.state(MAIN)["resources"] == [] and s3.state(MAIN)["lineage"] == "one-lineage"
    assert s3.state(MAIN)["serial"] == 8
    assert not [k for k in s3.objects if k.endswith(".tflock")]
    assert _ctx(repo).shards == 4 and done.states["registry"] == 0
    assert json.loads((done.backup / "main.tfstate").read_text()) == _one_state()
    assert not layout.migration_file(repo, "dev").exists()
    # and back to one state: the same repositories at the one key, its lineage kept
    migration.migrate(_ctx(repo), 1)
    assert _layout(s3, 1) == {"main": set(NAMES)}
    assert s3.state(MAIN)["lineage"] == "one-lineage" and s3.state(MAIN)["serial"] == 9
    assert "state_shards" not in repo.tfvars_file("dev").read_text()


@pytest.mark.parametrize("writes", range(6))
def test_killed_after_any_write_the_rerun_finishes_it(
    repo: Workspace, s3: FakeS3, writes: int
) -> None:
    s3.die_after = writes
    with pytest.raises(Killed):
        migration.migrate(_ctx(repo), 4)
    assert layout.migration_file(repo, "dev").exists()
    with pytest.raises(UserError, match="unfinished"):
        layout.check(_ctx(repo), _ctx(repo).states)
    # A terraform run meanwhile finds the states locked.
    assert s3.lock(MAIN, "{}") is False
    s3.die_after = None
    done = migration.migrate(_ctx(repo), 4)
    assert done.resumed and _layout(s3, 4) == _expected(4)
    assert not [k for k in s3.objects if k.endswith(".tflock")]
    serials = [s3.state(s.key)["serial"] for s in shards.states(MAIN, 4)]
    assert all(serial >= 1 for serial in serials)


@pytest.mark.parametrize("writes", range(6))
def test_killed_after_any_write_the_former_count_rolls_it_back(
    repo: Workspace, s3: FakeS3, writes: int
) -> None:
    s3.die_after = writes
    with pytest.raises(Killed):
        migration.migrate(_ctx(repo), 4)
    s3.die_after = None
    done = migration.migrate(_ctx(repo), 1)
    assert done.rolled_back
    assert s3.state(MAIN)["resources"] == _one_state()["resources"]
    assert s3.state(MAIN)["lineage"] == "one-lineage"
    assert s3.state(MAIN)["serial"] >= 7
    assert all(not s3.state(s.key).get("resources") for s in shards.states(MAIN, 4))
    assert "state_shards" not in repo.tfvars_file("dev").read_text()
    assert not [k for k in s3.objects if k.endswith(".tflock")]


@pytest.mark.parametrize("rollback_writes", range(5))
def test_a_rollback_cut_short_can_still_be_finished_forward(
    repo: Workspace, s3: FakeS3, rollback_writes: int
) -> None:
    """Killed forward after three state writes, then killed again while rolling back: the
    forward rerun writes every state again (the rollback wrote over states marked done)."""
    s3.die_after = 3
    with pytest.raises(Killed):
        migration.migrate(_ctx(repo), 4)
    s3.die_after = s3.puts + rollback_writes
    with pytest.raises(Killed):
        migration.migrate(_ctx(repo), 1)
    s3.die_after = None
    assert migration.migrate(_ctx(repo), 4).resumed
    assert _layout(s3, 4) == _expected(4)
    registry = s3.state("ecr/dev/registry/terraform.tfstate")
    assert shards.holds_registry_resources(registry)
    assert not shards.holds_registry_resources(s3.state(MAIN))


def test_a_state_locked_by_another_run_stops_the_migration_before_it_starts(
    repo: Workspace, s3: FakeS3
) -> None:
    s3.objects["ecr/dev/shards/02/terraform.tfstate.tflock"] = json.dumps(
        {"ID": "other-run", "Who": "ci@runner"}
    )
    with pytest.raises(UserError, match="locked by ci@runner"):
        migration.migrate(_ctx(repo), 4)
    assert s3.puts == 0 and not layout.migration_file(repo, "dev").exists()
    assert [k for k in s3.objects if k.endswith(".tflock")] == [
        "ecr/dev/shards/02/terraform.tfstate.tflock"
    ]


def test_another_count_while_one_is_unfinished_is_refused(repo: Workspace, s3: FakeS3) -> None:
    s3.die_after = 1
    with pytest.raises(Killed):
        migration.migrate(_ctx(repo), 4)
    s3.die_after = None
    with pytest.raises(UserError, match="from 1 to 4 shards is unfinished"):
        migration.migrate(_ctx(repo), 2)


def test_the_same_count_is_nothing_to_migrate(repo: Workspace, s3: FakeS3) -> None:
    with pytest.raises(UserError, match="already sets state_shards = 1"):
        migration.migrate(_ctx(repo), 1)
    assert s3.puts == 0
