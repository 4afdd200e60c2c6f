"""State shards on the emulator: an environment of one state keeps its state as it was, a
sharded one plans and applies side by side, and `ecrctl shards migrate` moves states without an
AWS change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.context import Session, State
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import shards as shards_core
from orchestrator.ops.plan import side_by_side
from orchestrator.rules import shards
from tests.conftest import Aws
from tests.gitrepo import ci_apply, ci_plan, commit, event, git, init_repo, merge_pull_request
from tests.helpers import cli, create, push

BUCKET = "ecrctl-local-tfstate"
MAIN_KEY = "ecr/local/terraform.tfstate"


def _get(aws: Aws, key: str) -> dict[str, Any]:
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    found: dict[str, Any] = json.loads(body)
    return found


def _put(aws: Aws, key: str, state: dict[str, Any]) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(state).encode())


def _plan(capsys: pytest.CaptureFixture[str], *names: str) -> dict[str, Any]:
    result = cli(capsys, "plan", *names, "--env", "local", "--output", "json")
    assert result.code == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_an_environment_of_one_state_plans_no_change_after_the_registry_gained_its_gate(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state written before state shards (the scanning configuration without `count`) plans
    a move of that address only: nothing created, changed or destroyed in AWS; then nothing."""
    create(capsys, "search-api", risk="medium")
    assert cli(capsys, "apply", "search-api", "--env", "local", "--auto-approve").code == 0
    arn = aws.client("ecr").describe_repositories()["repositories"][0]["repositoryArn"]
    # The state as the root before this change wrote it: the same object, no index key.
    state = _get(aws, MAIN_KEY)
    (scan,) = [r for r in state["resources"] if r["type"].startswith("aws_ecr_registry_scan")]
    del scan["instances"][0]["index_key"]
    state["serial"] += 1
    _put(aws, MAIN_KEY, state)

    plan = _plan(capsys, "search-api")
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("aws_ecr_registry_scanning_configuration.this[0]", "move")
    ]
    assert (
        cli(capsys, "apply", "--env", "local", "--plan", plan["plan_file"], "--auto-approve").code
        == 0
    )
    assert _plan(capsys, "search-api")["changes"] == []
    assert (
        not aws.client("s3")
        .list_objects_v2(Bucket=BUCKET, Prefix="ecr/local/shards/")
        .get("Contents")
    )
    assert aws.client("ecr").describe_repositories()["repositories"][0]["repositoryArn"] == arn


def _full_plans(ws: Workspace) -> dict[str, list[tuple[str, str]]]:
    """An untargeted plan of every state of `local`, side by side: what each would change."""
    ctx = Session(ws).at("local")

    def run(state: State) -> list[tuple[str, str]]:
        terraform = ctx.terraform(state)
        terraform.init()
        out = ws.state_dir / f"full-{state.name}.tfplan"
        return [(c.address, c.action) for c in terraform.plan([], out, ctx.tfvars_file)]

    return dict(zip([s.name for s in ctx.states], side_by_side(run, ctx.states), strict=True))


def _registry(aws: Aws) -> dict[str, tuple[str, list[str]]]:
    """name -> (ARN, image digests) of every repository the emulator holds."""
    ecr = aws.client("ecr")
    return {
        r["repositoryName"]: (
            r["repositoryArn"],
            sorted(
                i["imageDigest"]
                for i in ecr.list_images(repositoryName=r["repositoryName"])["imageIds"]
            ),
        )
        for r in ecr.describe_repositories()["repositories"]
    }


def _keys(aws: Aws) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="ecr/local/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _migrate(capsys: pytest.CaptureFixture[str], to: int) -> dict[str, Any]:
    result = cli(
        capsys, "shards", "migrate", "--env", "local", "--to", str(to), "--yes", "-o", "json"
    )
    assert result.code == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_a_fleet_migrates_1_to_4_to_2_shards_and_lives_on_4_with_nothing_recreated(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One environment through the whole story: three repositories with images on one state;
    a migration to 4 shards cut short and finished by its rerun; create in two shards, plans
    side by side, apply, a stale plan refused, update, drift, catalog sync, decommission,
    restore, adopt and validate on 4 shards; then a migration to 2. After each migration every state's full plan is empty and the registry
    holds the same repositories (ARNs) and images."""
    ecr = aws.client("ecr")
    create(capsys, "payments-gateway", risk="medium")  # shard 3 of 4, 1 of 2
    create(capsys, "search-api")  # 0 of 4, 0 of 2
    create(capsys, "user-api")  # 2 of 4, 0 of 2
    names = ["payments-gateway", "search-api", "user-api"]
    assert cli(capsys, "apply", *names, "--env", "local", "--auto-approve").code == 0
    for name in names:
        push(ecr, name, name, "v1")
    before = _registry(aws)
    assert _keys(aws) == [MAIN_KEY]

    # 1 -> 4, cut short after two state writes (as a kill would): the rerun finishes it.
    real_write = shards_core._write
    writes: list[str] = []

    def dying_write(backend: Any, key: str, content: dict[str, Any]) -> None:
        if len(writes) == 2:
            raise KeyboardInterrupt  # ecrctl reports it and exits, leaving the plan
        writes.append(key)
        real_write(backend, key, content)

    monkeypatch.setattr(shards_core, "_write", dying_write)
    assert cli(capsys, "shards", "migrate", "--env", "local", "--to", "4", "--yes").code != 0
    refused = cli(capsys, "plan", "search-api", "--env", "local")
    assert refused.code == 1 and "migration of local is unfinished" in refused.stderr
    monkeypatch.setattr(shards_core, "_write", real_write)
    done = _migrate(capsys, 4)
    assert done["resumed"] and done["states"] == {
        "registry": 0,
        "shard-00": 1,
        "shard-01": 0,
        "shard-02": 1,
        "shard-03": 1,
    }
    assert "state_shards = 4" in local.tfvars_file("local").read_text()
    assert _full_plans(local) == {
        n: [] for n in ["registry", "shard-00", "shard-01", "shard-02", "shard-03"]
    }
    assert _registry(aws) == before
    assert not [k for k in _keys(aws) if k.endswith(".tflock")]
    assert _get(aws, MAIN_KEY)["resources"] == []
    assert list((local.state_dir / "migrations").glob("local-*/shard-*.tfstate")) == []
    assert len(list((local.state_dir / "migrations").glob("local-*/main.tfstate"))) == 1

    # On 4 shards: two new repositories in shards 0 and 3, planned side by side with the
    # registry state (billing-api's tier scans continuously: the registry's filters move).
    create(capsys, "web-frontend")  # shard 0
    create(capsys, "billing-api", risk="medium")  # shard 3
    first = _plan(capsys, "web-frontend", "billing-api")
    assert {c["repository"] for c in first["changes"]} == {"billing-api", "web-frontend", None}
    parts = json.loads(Path(first["plan_file"]).read_text())["parts"]
    assert [p["state"] for p in parts] == ["registry", "shard-00", "shard-03"]
    # A second plan in shard 0, made before the first is applied, is stale afterwards.
    assert (
        cli(capsys, "update", "search-api", "--env", "local", "--description", "search").code == 0
    )
    second = _plan(capsys, "search-api")
    assert (
        cli(capsys, "apply", "--env", "local", "--plan", first["plan_file"], "--auto-approve").code
        == 0
    )
    stale = cli(capsys, "apply", "--env", "local", "--plan", second["plan_file"], "--auto-approve")
    assert stale.code == 1 and "is stale" in stale.stderr
    assert "Description" not in str(ecr.list_tags_for_resource(resourceArn=before["search-api"][0]))
    assert cli(capsys, "apply", "search-api", "--env", "local", "--auto-approve").code == 0
    tags = ecr.list_tags_for_resource(resourceArn=before["search-api"][0])["tags"]
    assert {"Key": "Description", "Value": "search"} in tags
    held = {k: shards.held_repositories(_get(aws, k)) for k in _keys(aws) if "/shards/" in k}
    assert held == {
        "ecr/local/shards/00/terraform.tfstate": {"search-api", "web-frontend"},
        "ecr/local/shards/01/terraform.tfstate": set(),
        "ecr/local/shards/02/terraform.tfstate": {"user-api"},
        "ecr/local/shards/03/terraform.tfstate": {"payments-gateway", "billing-api"},
    }
    drift = cli(capsys, "drift", "--env", "local", "-o", "json")
    assert drift.code == 0, drift.stdout + drift.stderr
    assert json.loads(drift.stdout)["counts"]["state"] == 5
    one = cli(capsys, "drift", "--env", "local", "--shard", "3", "-o", "json")
    assert one.code == 0 and json.loads(one.stdout)["counts"]["state"] == 2
    # A lock a dead run left on shard 3 blocks that shard only, and is released by its name.
    key = "ecr/local/shards/03/terraform.tfstate"
    lock = {"ID": "dead-run", "Operation": "OperationTypeApply", "Info": "", "Who": "ci@gone"}
    lock |= {"Version": "1.11.4", "Created": "2026-12-03T10:00:00Z", "Path": f"{BUCKET}/{key}"}
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"{key}.tflock", Body=json.dumps(lock))
    blocked = cli(capsys, "plan", "billing-api", "--env", "local")
    assert blocked.code == 3
    assert "ecrctl unlock local dead-run --state shard-03" in blocked.stderr
    assert cli(capsys, "unlock", "local", "dead-run", "--state", "3", "--yes").code == 0
    assert f"{key}.tflock" not in _keys(aws)
    assert cli(capsys, "catalog", "sync", "--env", "local").code == 0
    registry_file = (local.catalog_dir / "resources/local/ecr-registry-us-east-1.yaml").read_text()
    assert (
        'platform/repo-count: "5"' in registry_file or "platform/repo-count: '5'" in registry_file
    )
    listed = cli(capsys, "list", "--env", "local", "-o", "json")
    assert listed.code == 0 and len(json.loads(listed.stdout)["repositories"]) == 5

    # Decommission (shard 2) and restore; a hand-made repository adopted lands in shard 1.
    shard = "ecr/local/shards/0{}/terraform.tfstate".format
    gone = cli(
        capsys, "decommission", "user-api", "--env", "local", "--force", "--reason", "test",
        "--auto-approve", "--output", "json",
    )  # fmt: skip
    assert gone.code == 0, gone.stderr
    assert "user-api" not in _registry(aws)
    assert shards.held_repositories(_get(aws, shard(2))) == set()
    bundle = local.root / json.loads(gone.stdout)["backup"]
    restored = cli(capsys, "restore", str(bundle), "--auto-approve", "--output", "json")
    assert restored.code == 0, restored.stderr
    assert _registry(aws)["user-api"][1] == before["user-api"][1]  # the same images
    assert shards.held_repositories(_get(aws, shard(2))) == {"user-api"}
    ecr.create_repository(repositoryName="mail-api")
    adopt = ["adopt", "mail-api", "--env", "local", "--owner", "app-team-mail", "--risk", "low"]
    assert cli(capsys, *adopt).code == 0
    assert cli(capsys, "apply", "mail-api", "--env", "local", "--auto-approve").code == 0
    assert shards.held_repositories(_get(aws, shard(1))) == {"mail-api"}
    assert cli(capsys, "validate", "--env", "local").code == 0

    # 4 -> 2: every state's full plan empty again, nothing recreated.
    before = _registry(aws)
    done = _migrate(capsys, 2)
    assert done["states"] == {"registry": 0, "shard-00": 3, "shard-01": 3}
    assert _full_plans(local) == {n: [] for n in ["registry", "shard-00", "shard-01"]}
    assert _registry(aws) == before
    assert all(
        _get(aws, f"ecr/local/shards/0{i}/terraform.tfstate")["resources"] == [] for i in (2, 3)
    )


def test_ci_plans_and_applies_a_pull_request_on_a_sharded_environment(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new environment of 4 shards: a pull request adding repositories in shards 0 and 3 is
    planned as one record (its full plan shown per state) and applied on merge, each repository
    into its shard's state and the registry's scanning into the registry state."""
    tfvars = local.tfvars_file("local")
    text = tfvars.read_text().replace(
        "\necr_repositories =", "\nstate_shards = 4\necr_repositories ="
    )
    tfvars.write_text(text)
    init_repo(local)
    git(local, "checkout", "-q", "-b", "ecr/request")
    create(capsys, "web-frontend")  # shard 0
    create(capsys, "billing-api", risk="medium")  # shard 3
    head = commit(local, "ECR request")
    event(tmp_path, monkeypatch, head)
    changes = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert [(s["env"], s["state"]) for s in json.loads(changes.stdout)["states"]] == [
        ("local", "registry"),
        ("local", "shard-00"),
        ("local", "shard-03"),
    ]
    result = ci_plan(capsys, tmp_path / "plan.md", "--full-plan")
    plan = result["plans"]["local"]
    assert {c["repository"] for c in plan["changes"]} == {"web-frontend", "billing-api", None}
    summary = (tmp_path / "plan.md").read_text()
    assert "# state shard-03 (ecr/local/shards/03/terraform.tfstate)" in summary
    assert _registry(aws) == {}
    merge = merge_pull_request(local, tmp_path, monkeypatch, head)
    done = ci_apply(capsys, merge, "--output", "json")
    assert done.code == 0, done.stderr
    assert sorted(_registry(aws)) == ["billing-api", "web-frontend"]
    assert shards.held_repositories(_get(aws, "ecr/local/shards/03/terraform.tfstate")) == {
        "billing-api"
    }
    registry = _get(aws, "ecr/local/registry/terraform.tfstate")
    assert shards.holds_registry_resources(registry) and not shards.held_repositories(registry)
    assert MAIN_KEY not in _keys(aws)
