"""ecrctl catalog sync on a faked Terraform state: entities, determinism, --check, regions, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import AwsError, TerraformError, UserError
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import ApplyResult, PlanResult
from orchestrator.ops import apply as apply_op
from orchestrator.ops import backstage
from orchestrator.ops import sync as sync_mod
from tests.helpers import cli, create_entry, disk_full_for, snapshot
from tests.sync_fakes import (  # noqa: F401  (fake_terraform is an autouse fixture)
    ACCOUNT,
    ECRCTL_PRIMARY,
    LOCAL_FILE,
    T1,
    T2,
    TIERS,
    FakeTerraform,
    fake_terraform,
    registry_doc,
    repository,
    run_sync,
    state,
    three_tiers,
)


def test_a_second_sync_with_nothing_new_changes_only_last_sync(repo: Workspace) -> None:
    three_tiers(repo)
    run_sync(repo, at=T1)
    before = snapshot(repo.root, tree=True)
    again = run_sync(repo, at=T2)
    after = snapshot(repo.root, tree=True)
    assert again.up_to_date
    assert {f.action for f in again.files} == {"unchanged"}
    changed = [p for p in after if after[p] != before.get(p)]
    assert changed == [f"catalog/{LOCAL_FILE}"]
    old_lines = before[changed[0]].decode().splitlines()
    new_lines = after[changed[0]].decode().splitlines()
    diff = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert diff == [(f'    platform/last-sync: "{T1}"', f'    platform/last-sync: "{T2}"')]


def test_check_exits_1_when_out_of_date_and_changes_nothing(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    three_tiers(repo)
    before = snapshot(repo.root, tree=True)
    stale = cli(capsys, "catalog", "sync", "--env", "local", "--check")
    assert stale.code == 1
    assert f"out of date: catalog/{LOCAL_FILE} (would create)" in stale.stdout
    assert snapshot(repo.root, tree=True) == before
    assert cli(capsys, "catalog", "sync", "--env", "local").code == 0
    assert cli(capsys, "catalog", "sync", "--env", "local", "--check").code == 0
    # A repository applied since: out of date again, and --check still writes nothing.
    create_entry(repo, "orders-api")
    FakeTerraform.states["local"] = state(
        *(repository(n, risk=r) for n, r in TIERS.items()), repository("orders-api")
    )
    synced = snapshot(repo.root, tree=True)
    again = cli(capsys, "catalog", "sync", "--env", "local", "--check", "--output", "json")
    assert again.code == 1
    assert '"up_to_date": false' in again.stdout
    assert snapshot(repo.root, tree=True) == synced


def test_sensitive_values_never_reach_the_yaml(repo: Workspace) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    leaky = repository("web-frontend")
    leaky["instances"][0]["attributes"]["kms_private"] = secret
    leaky["instances"][0]["sensitive_attributes"] = [[{"type": "get_attr", "value": "kms_private"}]]
    FakeTerraform.states["local"] = state(
        leaky, outputs={"token": {"value": secret, "type": "string", "sensitive": True}}
    )
    create_entry(repo, "web-frontend")
    run_sync(repo)
    for path, content in snapshot(repo.root, tree=True).items():
        assert secret.encode() not in content, path
    # A sensitive attribute ecrctl would have to write is refused, not written.
    marked = repository("web-frontend")
    marked["instances"][0]["sensitive_attributes"] = [
        [{"type": "get_attr", "value": "repository_url"}]
    ]
    FakeTerraform.states["local"] = state(marked)
    with pytest.raises(UserError, match="marked sensitive"):
        run_sync(repo)


def test_repository_urls_follow_the_state_and_decommissioned_entries_keep_theirs(
    repo: Workspace,
) -> None:
    three_tiers(repo)
    run_sync(repo)
    # search-api disappears from the state (destroyed outside a decommission): its URL is cleared.
    FakeTerraform.states["local"] = state(
        repository("web-frontend"), repository("payments-gateway", risk="high")
    )
    result = run_sync(repo)
    assert result.repo_count == 2
    assert any("search-api: catalogued (active) but not in the state" in w for w in result.warnings)
    from orchestrator.files import catalog

    tiers = tiers_file.load(repo.tiers_file)
    entries = catalog.load(repo.catalog_file, tiers).entries
    assert entries["search-api"].repository_url == ""
    assert entries["web-frontend"].repository_url.endswith("/web-frontend")


# -- region -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "environ", "profile", "expected"),
    [
        (
            "eu-west-1",
            {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"},
            "us-west-2",
            ("eu-west-1", "--region"),
        ),
        (
            None,
            {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"},
            "us-west-2",
            ("eu-west-2", "AWS_REGION"),
        ),
        (
            None,
            {"AWS_DEFAULT_REGION": "eu-west-3"},
            "us-west-2",
            ("eu-west-3", "AWS_DEFAULT_REGION"),
        ),
        (None, {"AWS_PROFILE": "ops"}, "us-west-2", ("us-west-2", "profile ops")),
        (None, {}, None, ("eu-central-1", "envs/dev/terraform.tfvars")),
    ],
)
def test_region_order_is_rb_0025s(
    flag: str | None,
    environ: dict[str, str],
    profile: str | None,
    expected: tuple[str, str],
) -> None:
    region = sync_mod.resolve_region(flag, "dev", "eu-central-1", environ, lambda _e: profile)
    assert (region.name, region.source) == expected


def test_the_profile_region_comes_from_the_aws_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-south-1\n\n[profile ops]\nregion = ca-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert sync_mod.profile_region({}) == "ap-south-1"
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert sync_mod.profile_region({"AWS_PROFILE": "ops"}) == "ca-central-1"
    region = sync_mod.resolve_region(None, "dev", "eu-west-2", {"AWS_PROFILE": "ops"})
    assert (region.name, region.source) == ("ca-central-1", "profile ops")
    assert sync_mod.profile_region({"AWS_PROFILE": "missing"}) is None


def test_the_emulator_environment_ignores_the_shells_region() -> None:
    region = sync_mod.resolve_region(None, "local", "us-east-1", {"AWS_REGION": "eu-west-2"})
    assert (region.name, region.source) == ("us-east-1", "envs/local/terraform.tfvars")


def test_a_region_the_environment_does_not_manage_is_one_error(
    repo: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTerraform.states["dev"] = state(repository("ledger-api", region="eu-west-2"))
    before = snapshot(repo.root, tree=True)
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    result = cli(capsys, "catalog", "sync", "--env", "dev")
    assert result.code == 1
    assert "region us-east-2 (from AWS_REGION) is not the region of dev" in result.stderr
    assert "unset AWS_REGION" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli(capsys, "catalog", "sync", "--env", "dev", "--region", "nowhere").code == 1
    assert snapshot(repo.root, tree=True) == before
    assert FakeTerraform.calls == []  # refused before terraform ran
    # --region wins over AWS_REGION.
    assert cli(capsys, "catalog", "sync", "--env", "dev", "--region", "eu-west-2").code == 0


# -- bad input: one error, nothing changed ----------------------------------------------------


def _corrupt_catalog(ws: Workspace) -> None:
    ws.catalog_file.write_text(ws.catalog_file.read_text() + "repositories: {}\n")


def _broken_yaml_catalog(ws: Workspace) -> None:
    ws.catalog_file.write_text('version: "1.0"\nrepositories: [unclosed\n')


def _no_state(ws: Workspace) -> None:
    FakeTerraform.states["local"] = {}


def _empty_state(ws: Workspace) -> None:
    # What `terraform state pull` prints when the backend holds no state object yet.
    FakeTerraform.states["local"] = {"version": 4, "serial": 0, "lineage": "", "resources": []}


def _missing_url(ws: Workspace) -> None:
    FakeTerraform.states["local"] = state(repository("web-frontend", repository_url=""))


def _foreign_state(ws: Workspace) -> None:
    FakeTerraform.states["local"] = {"version": 3, "lineage": "abc", "modules": []}


def _malformed_state(ws: Workspace) -> None:
    broken = repository("web-frontend")
    broken["instances"] = ["not an instance"]
    FakeTerraform.states["local"] = state(broken)


def _unreadable_state(ws: Workspace) -> None:
    FakeTerraform.states["local"] = TerraformError(
        "the state of local is not readable JSON", [], 0, "garbage"
    )


def _backend_down(ws: Workspace) -> None:
    FakeTerraform.states["local"] = TerraformError(
        "terraform state pull failed (exit 1): NoSuchBucket", [], 1, "NoSuchBucket"
    )


def _corrupt_registry_file(ws: Workspace) -> None:
    path = ws.catalog_dir / LOCAL_FILE
    path.write_text(path.read_text() + "  bad: [\n")


def _system_file_replaced(ws: Workspace) -> None:
    (ws.catalog_dir / backstage.SYSTEM_FILE).write_text("kind: System\nmetadata:\n  name: other\n")


def _location_without_location(ws: Workspace) -> None:
    (ws.catalog_dir / "all-systems.yaml").write_text("# nothing here\nkind: Component\n")


@pytest.mark.parametrize(
    ("breakage", "message", "code"),
    [
        (_corrupt_catalog, "key 'repositories' appears twice", 1),
        (_broken_yaml_catalog, "ecr-catalog.yaml", 1),
        (_no_state, "local has no Terraform state yet", 1),
        (_empty_state, "local has no Terraform state yet", 1),
        (_missing_url, "has no repository_url", 1),
        (_foreign_state, "is not a Terraform state ecrctl reads", 1),
        (_malformed_state, "aws_ecr_repository has malformed instances", 1),
        (_unreadable_state, "not readable JSON", 3),
        (_backend_down, "NoSuchBucket", 3),
        (_corrupt_registry_file, "not valid YAML", 1),
        (_system_file_replaced, "does not hold the System 'container-registry'", 1),
        (_location_without_location, "holds no Location entity", 1),
    ],
)
def test_bad_input_is_one_clear_error_and_leaves_every_file_unchanged(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    breakage: Any,
    message: str,
    code: int,
) -> None:
    three_tiers(repo)
    run_sync(repo)
    FakeTerraform.states["local"] = state(
        *(repository(n, risk=r) for n, r in TIERS.items()), repository("orders-api")
    )
    breakage(repo)
    before = snapshot(repo.root, tree=True)
    result = cli(capsys, "catalog", "sync", "--env", "local")
    assert result.code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ecrctl: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(repo.root, tree=True) == before


def test_a_failed_write_restores_every_file(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_tiers(repo)
    run_sync(repo)
    create_entry(repo, "orders-api")
    FakeTerraform.states["local"] = state(
        *(repository(n, risk=r) for n, r in TIERS.items()), repository("orders-api")
    )
    before = snapshot(repo.root, tree=True)
    disk_full_for(monkeypatch, "ecr-catalog.yaml")
    with pytest.raises(OSError):
        run_sync(repo, at=T2)
    assert snapshot(repo.root, tree=True) == before


# -- files created once -----------------------------------------------------------------------


def test_stale_region_files_are_reported_not_deleted(repo: Workspace) -> None:
    three_tiers(repo)
    old = repo.catalog_dir / "resources" / "local" / "ecr-registry-eu-west-1.yaml"
    old.parent.mkdir(parents=True)
    old.write_text("# from before the move\n")
    result = run_sync(repo)
    assert any("ecr-registry-eu-west-1.yaml is for a region" in w for w in result.warnings)
    assert old.exists()


# -- apply runs the sync ----------------------------------------------------------------------


def _plan(env: str) -> PlanResult:
    return PlanResult(env, (), ("web-frontend",), Path("/tmp/x.tfplan"), ())


def test_apply_reports_the_sync_and_fails_when_only_the_sync_failed(
    repo: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI around a stubbed apply: --no-sync reaches it, a sync_error becomes the exit code
    (the real apply and its sync are below, in test_a_real_apply_whose_catalog_sync_fails...)."""
    seen: dict[str, Any] = {}

    def fake_apply(*args: Any, sync: bool = True, **kwargs: Any) -> ApplyResult:
        seen["sync"] = sync
        error = AwsError("state bucket unreachable", "check the network") if sync else None
        return ApplyResult(_plan("local"), (), sync_error=error)

    monkeypatch.setattr(apply_op, "apply", fake_apply)
    failed = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert seen["sync"] is True
    assert failed.code == 3
    assert "applied, but the catalog sync failed: state bucket unreachable" in failed.stderr
    skipped = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve", "--no-sync")
    assert seen["sync"] is False
    assert skipped.code == 0
    as_json = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve", "-o", "json")
    assert '"catalog_sync_error": "state bucket unreachable"' in as_json.stdout


# -- the catalog sync after a real apply ------------------------------------------------------

WEB = 'module.ecr_repositories["web-frontend"].aws_ecr_repository.this'
UNREACHABLE = "reading the state of local failed: could not connect to the state bucket"
UNREACHABLE_HINT = (
    "check the network to the state bucket, then run: ecrctl catalog sync --env local"
)


def _state_bucket_unreachable(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The apply went through; the state read after it cannot reach the backend (exit 3)."""

    def unreachable(self: FakeTerraform) -> dict[str, Any]:
        FakeTerraform.calls.append(f"state pull {self.env}")
        raise AwsError(UNREACHABLE, UNREACHABLE_HINT)

    monkeypatch.setattr(FakeTerraform, "state_pull", unreachable)


def _foreign_registry_file(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone else's file stands where the sync writes the registry entity (exit 1)."""
    path = ws.catalog_dir / LOCAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\n")


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize(
    ("breakage", "code", "message", "hint"),
    [
        pytest.param(
            _state_bucket_unreachable, 3, UNREACHABLE, UNREACHABLE_HINT, id="state-unreachable"
        ),
        pytest.param(
            _foreign_registry_file,
            1,
            f"catalog/{LOCAL_FILE} exists but holds no ECR registry resource",
            "move it away, then sync again",
            id="foreign-registry-file",
        ),
    ],
)
def test_a_real_apply_whose_catalog_sync_fails_stands_and_exits_as_the_sync(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    breakage: Any,
    code: int,
    message: str,
    hint: str,
    output: str,
) -> None:
    """The real ops.apply.apply behind the real CLI: terraform apply succeeds, the sync after it
    fails for a reason of its own. The apply is reported, the exit code and hint are the sync's."""
    create_entry(repo, "web-frontend")
    breakage(repo, monkeypatch)
    before = snapshot(repo.root, tree=True)
    result = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve", "-o", output)

    # The apply stands: terraform applied the plan and the state holds the repository.
    calls = FakeTerraform.calls
    assert "plan local" in calls[: calls.index("apply local")]
    assert "state pull local" in calls[calls.index("apply local") :]  # the sync ran after it
    held = [r["module"] for r in FakeTerraform.states["local"]["resources"] if "module" in r]
    assert held == ['module.ecr_repositories["web-frontend"]']
    if output == "json":
        reported = json.loads(result.stdout)
        assert reported["applied"] == [WEB]
        assert reported["catalog_sync"] is None
        assert message in reported["catalog_sync_error"]
    else:
        assert "applied 1 change(s) to local" in result.stdout
    # The sync's failure decides the exit code and the hint, in one error line.
    assert result.code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ecrctl: error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("ecrctl: error: applied, but the catalog sync failed: ")
    assert message in errors[0]
    assert f"  hint: {hint}" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    # The failed sync wrote nothing (a file in its way is left as it was), nor did the apply.
    assert snapshot(repo.root, tree=True) == before


def test_sync_reads_state_only(repo: Workspace) -> None:
    three_tiers(repo)
    run_sync(repo)
    assert FakeTerraform.calls == ["init local", "state pull local"]


def test_the_help_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "catalog", "sync", "--help")
    assert result.code == 0
    assert re.search(r"--check", result.stdout) and "--region" in result.stdout
