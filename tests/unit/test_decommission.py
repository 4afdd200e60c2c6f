"""decommission and restore without terraform: the active-use window (botocore's Stubber, since
the emulator records no pull times) and every fault path (moto's in-process ECR, with a stand-in
for terraform that destroys the way the module does: never a repository that holds images)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from orchestrator.adapters.ecr import Ecr, ImageInfo, Manifest, activity
from orchestrator.adapters.emulator import CREDENTIALS
from orchestrator.context import Session
from orchestrator.errors import AwsError, Incomplete, PlanRefused, TerraformError, UserError
from orchestrator.files import catalog, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import backup, decommission
from orchestrator.lifecycle import restore as restore_core
from orchestrator.models import Action, ApplyResult, PlanResult, ResourceChange, Rule, Violation
from orchestrator.models import module_address as target
from orchestrator.ops import validate as validate_op
from orchestrator.rules import guard
from tests.helpers import cli, create_entry, push, snapshot

ENV = "dev"
NAME = "web-frontend"
OWNER = "app-team-web"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# moto stamps pushes with the wall clock: "now" two months on makes every image idle.
LATER = datetime.now(UTC) + timedelta(days=60)


def client() -> Any:
    return boto3.client(
        "ecr",
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


LIFECYCLE = json.dumps({"rules": [{
    "rulePriority": 1, "description": "Keep the last 20 images (low risk tier)",
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20},
    "action": {"type": "expire"},
}]})  # fmt: skip


class FakeTerraform:
    """Terraform's part, played on moto: state, a plan with the guard's verdict, an apply."""

    def __init__(self, ecr_client: Any) -> None:
        self.client = ecr_client
        self.ecr = Ecr(ecr_client)
        self.instances: set[str] = set()
        self.fail_applies = 0
        self.objection: Violation | None = None
        self.calls: list[str] = []

    def provision(self, name: str, risk: str = "low") -> None:
        self.client.create_repository(
            repositoryName=name, tags=[{"Key": "RiskTier", "Value": risk}]
        )
        self.client.put_lifecycle_policy(
            repositoryName=name,
            lifecyclePolicyText=LIFECYCLE,
        )
        self.instances.add(name)

    def state(self) -> dict[str, Any]:
        self.calls.append("state")
        resources = [
            {"module": target(n), "mode": "managed", "type": kind, "name": "this"}
            for n in sorted(self.instances)
            for kind in ("aws_ecr_repository", "aws_ecr_lifecycle_policy")
        ]
        return {"version": 4, "serial": 7, "lineage": "fake", "resources": resources}

    def _changes(self, name: str, action: str) -> tuple[ResourceChange, ...]:
        return tuple(
            ResourceChange(f"{target(name)}.{kind}.this", action, name)
            for kind in ("aws_ecr_lifecycle_policy", "aws_ecr_repository")
        )

    def plan(self, name: str, var_file: Path, out: Path) -> tuple[PlanResult, list[Violation]]:
        self.calls.append("plan")
        configured = set(tfvars.load(var_file, ENV).entries)
        if name in configured:
            changes = () if name in self.instances else self._changes(name, "create")
        else:
            changes = self._changes(name, "delete") if name in self.instances else ()
        objections = guard.violations(changes, {name}, configured & {name})
        if self.objection:
            objections.append(self.objection)
        return PlanResult(ENV, (target(name),), (name,), out, changes), objections

    def apply(self, plan: PlanResult) -> ApplyResult:
        self.calls.append("apply")
        name = plan.repositories[0]
        if self.fail_applies:
            self.fail_applies -= 1
            raise TerraformError(
                "terraform apply failed (exit 1): connection reset", ["terraform"], 1, "reset"
            )
        if {c.action for c in plan.changes} == {"delete"}:
            try:  # force_delete stays off: a repository with images is not deleted
                self.client.delete_repository(repositoryName=name)
            except ClientError as exc:
                raise TerraformError(
                    f"terraform apply failed (exit 1): {exc}", ["terraform"], 1, str(exc)
                ) from None
            self.instances.discard(name)
        elif plan.changes:
            self.provision(name)
        return ApplyResult(plan, tuple(c.address for c in plan.changes))


@pytest.fixture
def fake(repo: Workspace) -> Iterator[FakeTerraform]:
    with mock_aws():
        yield FakeTerraform(client())


def provisioned(ws: Workspace, fake: FakeTerraform, name: str = NAME, risk: str = "low") -> None:
    create_entry(ws, name, ENV, OWNER, risk)
    fake.provision(name, risk)


def run(
    ws: Workspace,
    fake: FakeTerraform,
    name: str = NAME,
    now: datetime = LATER,
    confirm: bool = True,
    **options: Any,
) -> decommission.DecommissionResult:
    ctx = Session(ws, clock=lambda: now).at(ENV)
    return decommission.decommission(
        ctx, name, decommission.Options(**options), lambda _r: confirm, backend=fake
    )


def entry(ws: Workspace, name: str = NAME) -> Any:
    return catalog.load(ws.catalog_file, tiers_file.load(ws.tiers_file)).entries[name]


def in_tfvars(ws: Workspace, name: str = NAME) -> bool:
    return name in tfvars.load(ws.tfvars_file(ENV), ENV).entries


def digests(fake: FakeTerraform, name: str = NAME) -> list[str]:
    return sorted(i.digest for i in fake.ecr.images(name))


def bundles(ws: Workspace) -> list[Path]:
    """Finished bundles: backups/{env}/{name}/{timestamp}."""
    return sorted(p for p in (ws.root / "backups").glob("*/*/*") if not p.name.startswith("."))


# -- the active-use window --------------------------------------------------------------------


def image(pushed: datetime | None, pulled: datetime | None = None) -> ImageInfo:
    return ImageInfo("sha256:" + "a" * 64, ("v1",), pushed, pulled)


@pytest.mark.parametrize(
    ("pushed", "pulled", "days", "active"),
    [
        (NOW - timedelta(days=30), None, 30, True),  # exactly at the edge: still in use
        (NOW - timedelta(days=30, seconds=1), None, 30, False),
        (NOW - timedelta(days=400), NOW - timedelta(days=30), 30, True),  # pulled, not pushed
        (NOW - timedelta(days=400), NOW - timedelta(days=30, seconds=1), 30, False),
        (NOW - timedelta(days=400), NOW - timedelta(days=29), 30, True),
        (NOW + timedelta(minutes=5), None, 30, True),  # a clock ahead of ours
        (NOW - timedelta(days=10), None, 7, False),  # the window is configurable
        (NOW, None, 0, True),
        (NOW - timedelta(seconds=1), None, 0, False),
        (None, None, 30, False),
    ],
)
def test_active_use_window_counts_pushes_and_pulls_at_its_edges(
    pushed: datetime | None, pulled: datetime | None, days: int, active: bool
) -> None:
    result = activity([image(pushed, pulled)], NOW, days)
    assert result.active is active
    assert result.since == NOW - timedelta(days=days)


def test_activity_reports_the_latest_push_and_pull() -> None:
    old, recent = NOW - timedelta(days=90), NOW - timedelta(days=2)
    result = activity([image(old, recent), image(NOW - timedelta(days=60))], NOW, 30)
    assert result.last_push == NOW - timedelta(days=60) and result.last_pull == recent
    assert [(event, when) for _, event, when in result.recent] == [("pull", recent)]


def stubbed(
    pushed: datetime, pulled: datetime | None, repository: bool = False
) -> tuple[Any, Stubber]:
    """A client answering describe_images (after describe_repositories, when asked) from a stub."""
    ecr_client = client()
    stub = Stubber(ecr_client)
    if repository:
        stub.add_response(
            "describe_repositories",
            {"repositories": [{"repositoryName": NAME, "repositoryArn": "arn:x"}]},
            {"repositoryNames": [NAME]},
        )
    detail: dict[str, Any] = {
        "registryId": "123456789012",
        "repositoryName": NAME,
        "imageDigest": "sha256:" + "b" * 64,
        "imageTags": ["v2", "latest"],
        "imagePushedAt": pushed,
    }
    if pulled is not None:
        detail["lastRecordedPullTime"] = pulled
    stub.add_response("describe_images", {"imageDetails": [detail]}, {"repositoryName": NAME})
    return ecr_client, stub


def test_images_reads_push_and_pull_times() -> None:
    pulled = NOW - timedelta(days=3)
    ecr_client, stub = stubbed(NOW - timedelta(days=200), pulled)
    with stub:
        images = Ecr(ecr_client).images(NAME)
    stub.assert_no_pending_responses()
    assert images == [ImageInfo("sha256:" + "b" * 64, ("latest", "v2"),
                                NOW - timedelta(days=200), pulled)]  # fmt: skip
    assert activity(images, NOW, 30).active


def test_decommission_refuses_a_repository_pulled_within_the_window(repo: Workspace) -> None:
    ecr_client, stub = stubbed(NOW - timedelta(days=200), NOW - timedelta(days=1), True)
    backend = FakeTerraform(ecr_client)
    backend.instances.add(NAME)
    create_entry(repo, NAME, ENV, OWNER)
    before = snapshot(repo.root)
    with stub, pytest.raises(UserError) as info:
        run(repo, backend, now=NOW)
    assert "in use" in info.value.message and "pull of sha256:bbbb" in info.value.message
    assert "--force" in (info.value.hint or "")
    assert snapshot(repo.root) == before and backend.calls == ["state"]
    assert not (repo.root / "backups").exists()


def test_an_aws_failure_is_one_line_with_exit_3() -> None:
    ecr_client = client()
    stub = Stubber(ecr_client)
    stub.add_client_error(
        "describe_images", "AccessDeniedException", "User: arn:aws:iam::1:user/x is not\nallowed"
    )
    with stub, pytest.raises(AwsError) as info:
        Ecr(ecr_client).images(NAME)
    assert info.value.exit_code == 3 and "\n" not in info.value.message
    assert info.value.message.startswith("ECR DescribeImages on 'web-frontend' failed")
    assert "credentials" in (info.value.hint or "")


def test_put_image_reports_what_the_registry_refuses() -> None:
    ecr_client = client()
    stub = Stubber(ecr_client)
    manifest = Manifest("sha256:" + "c" * 64, "application/vnd.oci.image.manifest.v1+json", "{}")
    stub.add_client_error("put_image", "LayersNotFoundException", "layers sha256:dd are missing")
    stub.add_client_error("put_image", "ImageAlreadyExistsException", "already there")
    stub.add_response("put_image", {"image": {}}, {
        "repositoryName": NAME, "imageManifest": "{}", "imageDigest": manifest.digest,
        "imageManifestMediaType": manifest.media_type, "imageTag": "v3",
    })  # fmt: skip
    stub.add_client_error("put_image", "AccessDeniedException", "no")
    ecr = Ecr(ecr_client)
    with stub:
        refused = ecr.put_image(NAME, manifest, "v1")
        present = ecr.put_image(NAME, manifest, "v2")
        restored = ecr.put_image(NAME, manifest, "v3")
        with pytest.raises(AwsError):
            ecr.put_image(NAME, manifest, None)
    assert (refused.outcome, refused.reason) == ("refused", "LayersNotFoundException: layers"
                                                 " sha256:dd are missing")  # fmt: skip
    assert present.outcome == "present" and restored.outcome == "restored"


# -- decommission: the sequence and its faults --------------------------------------------------


def test_decommission_backs_up_then_empties_and_destroys(
    repo: Workspace, fake: FakeTerraform
) -> None:
    provisioned(repo, fake)
    pushed = sorted(
        [push(fake.client, NAME, "one", "v1", "stable"), push(fake.client, NAME, "two", "v2")]
    )
    result = run(repo, fake, reason="replaced by web-next")
    assert fake.calls == ["state", "plan", "apply"]
    assert sorted(result.emptied) == pushed and NAME not in fake.instances
    bundle = backup.load(repo.root / str(result.backup), tiers_file.load(repo.tiers_file))
    assert sorted(bundle.digests) == pushed
    assert {i.tags for i in bundle.images} == {("stable", "v1"), ("v2",)}
    assert bundle.tags == [{"Key": "RiskTier", "Value": "low"}]  # tags.json: Key/Value, by key
    decommissioned = entry(repo)
    assert decommissioned.status == "decommissioned" and not in_tfvars(repo)
    assert decommissioned.history == {
        "decommissioned_at": LATER.replace(microsecond=0).isoformat(),
        "decommission_reason": "replaced by web-next",
        "backup": result.backup,
    }
    assert {s.status for s in result.steps} == {"done"}


def test_a_backup_failing_half_way_changes_nothing(
    repo: Workspace, fake: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioned(repo, fake)
    pushed = [push(fake.client, NAME, "one", "v1"), push(fake.client, NAME, "two", "v2")]
    before = snapshot(repo.root)
    real_write, written = backup._write_file, []

    def failing_write(path: Path, data: bytes) -> None:
        if len(written) == 4:
            raise OSError(28, "No space left on device")
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(backup, "_write_file", failing_write)
    with pytest.raises(backup.BackupError) as info:
        run(repo, fake)
    assert "No space left on device" in info.value.message
    assert "nothing was changed" in (info.value.hint or "")
    assert len(written) == 4 and not any(p.exists() for p in written)
    assert not [p for p in (repo.root / "backups").rglob("*") if p.is_file()]
    assert snapshot(repo.root) == before
    assert sorted(digests(fake)) == sorted(pushed) and NAME in fake.instances
    assert "apply" not in fake.calls


def test_a_backup_that_cannot_read_a_manifest_changes_nothing(
    repo: Workspace, fake: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioned(repo, fake)
    push(fake.client, NAME, "one", "v1")
    before = snapshot(repo.root)

    def denied(self: Ecr, name: str, wanted: list[str]) -> list[Manifest]:
        raise AwsError("ECR BatchGetImage on 'web-frontend' failed: AccessDeniedException: no")

    monkeypatch.setattr(Ecr, "manifests", denied)
    with pytest.raises(AwsError):
        run(repo, fake)
    assert snapshot(repo.root) == before and len(digests(fake)) == 1
    assert "apply" not in fake.calls and bundles(repo) == []


def test_a_destroy_failing_midway_says_where_things_are_and_a_rerun_finishes(
    repo: Workspace, fake: FakeTerraform
) -> None:
    provisioned(repo, fake)
    push(fake.client, NAME, "one", "v1")
    fake.fail_applies = 1
    with pytest.raises(Incomplete) as info:
        run(repo, fake, reason="gone")
    error = info.value
    assert error.exit_code == 3
    assert "connection reset" in error.message
    assert "catalog marks web-frontend decommissioned and the tfvars entry is removed" in (
        error.message
    )
    assert "1 image(s) deleted" in error.message and "not (fully) destroyed" in error.message
    assert "ecrctl decommission web-frontend --env dev --auto-approve" in (error.hint or "")
    first = entry(repo)
    assert first.status == "decommissioned" and not in_tfvars(repo)
    assert NAME in fake.instances and digests(fake) == []

    fake.calls.clear()
    again = run(repo, fake, now=LATER + timedelta(hours=1))
    assert again.resumed and fake.calls == ["state", "plan", "apply"]
    assert NAME not in fake.instances
    assert [s.step for s in again.steps if s.status == "skipped"] == ["check", "backup", "files"]
    assert entry(repo).history == first.history  # the first run's date, reason and backup
    assert len(bundles(repo)) == 1


def _stopped_at_deleting_images(
    repo: Workspace, fake: FakeTerraform, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """A first run on a repository with one image that stops (Incomplete) when ECR refuses to
    delete the images, after the backup."""
    provisioned(repo, fake)
    push(fake.client, NAME, "one", "v1")

    def refused(self: Ecr, name: str, wanted: list[str]) -> list[str]:
        raise AwsError(f"ECR BatchDeleteImage on 'web-frontend' failed: {why}")

    with monkeypatch.context() as patch:
        patch.setattr(Ecr, "delete_images", refused)
        with pytest.raises(Incomplete):
            run(repo, fake)


def test_a_rerun_backs_up_images_pushed_after_the_first_run(
    repo: Workspace, fake: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stopped_at_deleting_images(repo, fake, monkeypatch, "ThrottlingException: slow")
    first_backup = entry(repo).history["backup"]
    late = push(fake.client, NAME, "two", "v2")
    again = run(repo, fake, now=LATER + timedelta(hours=1))
    assert again.backup != first_backup and entry(repo).history["backup"] == again.backup
    tiers = tiers_file.load(repo.tiers_file)
    assert late in backup.load(repo.root / str(again.backup), tiers).digests
    assert NAME not in fake.instances and len(bundles(repo)) == 2


def test_a_rerun_reuses_a_backup_that_still_holds_every_image(
    repo: Workspace, fake: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stopped_at_deleting_images(repo, fake, monkeypatch, "ThrottlingException")
    again = run(repo, fake, now=LATER + timedelta(hours=1))
    assert again.backup == entry(repo).history["backup"] and len(bundles(repo)) == 1
    assert len(again.emptied) == 1 and NAME not in fake.instances


def test_an_unknown_name_changes_nothing(repo: Workspace, fake: FakeTerraform) -> None:
    provisioned(repo, fake)
    before = snapshot(repo.root)
    with pytest.raises(UserError) as info:
        run(repo, fake, name="ghost-service")
    assert "no repository 'ghost-service' in the catalog" in info.value.message
    assert snapshot(repo.root) == before and fake.calls == []


def test_an_already_decommissioned_name_changes_nothing(
    repo: Workspace, fake: FakeTerraform
) -> None:
    provisioned(repo, fake)
    done = run(repo, fake)
    before = snapshot(repo.root)
    fake.calls.clear()
    with pytest.raises(UserError) as info:
        run(repo, fake, force=True)
    assert "already decommissioned" in info.value.message
    assert str(done.backup) in info.value.message and "ecrctl restore" in (info.value.hint or "")
    assert snapshot(repo.root) == before and fake.calls == ["state"]


def test_the_high_tier_refuses_skip_backup(repo: Workspace, fake: FakeTerraform) -> None:
    provisioned(repo, fake, risk="high")
    before = snapshot(repo.root)
    with pytest.raises(UserError) as info:
        run(repo, fake, skip_backup=True, force=True)
    assert "backup is mandatory" in info.value.message
    assert snapshot(repo.root) == before and "plan" not in fake.calls


def test_skip_backup_deletes_images_only_with_force(repo: Workspace, fake: FakeTerraform) -> None:
    provisioned(repo, fake)
    push(fake.client, NAME, "one", "v1")
    before = snapshot(repo.root)
    with pytest.raises(UserError) as info:
        run(repo, fake, skip_backup=True)
    assert "--force --skip-backup" in (info.value.hint or "")
    assert snapshot(repo.root) == before and len(digests(fake)) == 1
    result = run(repo, fake, skip_backup=True, force=True)
    assert result.backup is None and len(result.emptied) == 1 and bundles(repo) == []
    assert entry(repo).history["backup"] == "none (--skip-backup)"
    assert NAME not in fake.instances


def test_a_plan_the_guard_refuses_changes_nothing(repo: Workspace, fake: FakeTerraform) -> None:
    provisioned(repo, fake)
    outside = ResourceChange("aws_iam_role.x", Action.DELETE, None)
    fake.objection = Violation(outside, Rule.OUTSIDE_REQUEST, "outside the requested repositories")
    before = snapshot(repo.root)
    with pytest.raises(PlanRefused) as refused:
        run(repo, fake)
    assert refused.value.addresses == ["aws_iam_role.x"]
    assert "aws_iam_role.x (delete): outside the requested repositories" in refused.value.message
    assert snapshot(repo.root) == before and bundles(repo) == []


def test_a_declined_confirmation_changes_nothing(repo: Workspace, fake: FakeTerraform) -> None:
    provisioned(repo, fake)
    push(fake.client, NAME, "one", "v1")
    before = snapshot(repo.root)
    with pytest.raises(UserError, match="cancelled"):
        run(repo, fake, confirm=False)
    assert snapshot(repo.root) == before and bundles(repo) == [] and len(digests(fake)) == 1


def test_dry_run_shows_every_step_and_changes_nothing(repo: Workspace, fake: FakeTerraform) -> None:
    provisioned(repo, fake)
    push(fake.client, NAME, "one", "v1")
    before = snapshot(repo.root)
    result = run(repo, fake, dry_run=True, confirm=False)
    assert [(s.step, s.status) for s in result.steps] == [
        ("check", "done"), ("backup", "would"), ("files", "would"), ("empty", "would"),
        ("destroy", "would"),
    ]  # fmt: skip
    assert result.plan is not None and {c.action for c in result.plan.changes} == {"delete"}
    assert fake.calls == ["state", "plan"]
    assert snapshot(repo.root) == before and bundles(repo) == [] and len(digests(fake)) == 1


def test_a_repository_terraform_does_not_manage_is_refused(
    repo: Workspace, fake: FakeTerraform
) -> None:
    create_entry(repo, NAME, ENV, OWNER)
    fake.client.create_repository(repositoryName=NAME)
    before = snapshot(repo.root)
    with pytest.raises(UserError, match="does not manage it"):
        run(repo, fake)
    assert snapshot(repo.root) == before


def test_a_repository_never_applied_leaves_only_the_files(
    repo: Workspace, fake: FakeTerraform
) -> None:
    create_entry(repo, NAME, ENV, OWNER)
    result = run(repo, fake)
    assert fake.calls == ["state"] and result.plan is None
    assert entry(repo).status == "decommissioned" and not in_tfvars(repo)
    assert len(bundles(repo)) == 1


# -- restore ------------------------------------------------------------------------------------


def decommissioned(repo: Workspace, fake: FakeTerraform) -> tuple[Path, list[str]]:
    provisioned(repo, fake)
    pushed = [push(fake.client, NAME, "one", "v1", "stable"), push(fake.client, NAME, "two", "v2")]
    result = run(repo, fake)
    return repo.root / str(result.backup), pushed


def restore(repo: Workspace, fake: FakeTerraform, bundle: Path) -> restore_core.RestoreResult:
    session = Session(repo, clock=lambda: LATER)
    return restore_core.restore(session, bundle, None, lambda _r: True, backend=fake)


def test_restore_brings_back_the_entries_and_the_manifests(
    repo: Workspace, fake: FakeTerraform
) -> None:
    bundle, pushed = decommissioned(repo, fake)
    result = restore(repo, fake, bundle)
    restored = entry(repo)
    assert restored.status == "active" and in_tfvars(repo)
    assert restored.history["restored_from"] == str(bundle.relative_to(repo.root))
    assert NAME in fake.instances and sorted(digests(fake)) == sorted(pushed)
    tags = {i.digest: i.tags for i in fake.ecr.images(NAME)}
    assert sorted(tags.values()) == [("stable", "v1"), ("v2",)]
    assert [o.outcome for o in result.images] == ["restored"] * 3
    assert cli_validate_ok(repo)


def cli_validate_ok(repo: Workspace) -> bool:
    return not validate_op.validate(repo, ENV)


def test_a_damaged_bundle_is_refused(repo: Workspace, fake: FakeTerraform) -> None:
    bundle, _ = decommissioned(repo, fake)
    index = json.loads((bundle / "images" / "index.json").read_text())
    manifest = bundle / index[0]["manifest"]
    manifest.write_text(manifest.read_text().replace("2", "3", 1))
    before = snapshot(repo.root)
    with pytest.raises(backup.BackupError, match="does not match its checksum"):
        restore(repo, fake, bundle)
    assert snapshot(repo.root) == before and NAME not in fake.instances


def test_a_bundle_with_an_unlisted_or_missing_file_is_refused(
    repo: Workspace, fake: FakeTerraform
) -> None:
    bundle, _ = decommissioned(repo, fake)
    (bundle / "extra.txt").write_text("x")
    with pytest.raises(backup.BackupError, match=r"does not list: extra\.txt"):
        backup.verify(bundle)
    (bundle / "extra.txt").unlink()
    (bundle / "tags.json").unlink()
    with pytest.raises(backup.BackupError, match=r"missing tags\.json"):
        backup.verify(bundle)


def test_a_restore_stopped_by_a_failed_apply_is_finished_by_a_rerun(
    repo: Workspace, fake: FakeTerraform
) -> None:
    bundle, pushed = decommissioned(repo, fake)
    fake.fail_applies = 1
    with pytest.raises(Incomplete) as info:
        restore(repo, fake, bundle)
    assert "catalog and tfvars hold web-frontend again" in info.value.message
    assert "ecrctl restore" in (info.value.hint or "")
    assert entry(repo).status == "active" and NAME not in fake.instances
    again = restore(repo, fake, bundle)
    assert again.resumed and NAME in fake.instances and sorted(digests(fake)) == sorted(pushed)


def test_restore_refuses_a_name_that_is_active_with_other_attributes(
    repo: Workspace, fake: FakeTerraform
) -> None:
    bundle, _ = decommissioned(repo, fake)
    catalog_text = repo.catalog_file.read_text()
    # Someone reused the name meanwhile (a hand edit: create refuses decommissioned names).
    repo.catalog_file.write_text(
        catalog_text.replace('status: "decommissioned"', 'status: "active"').replace(
            'owner: "app-team-web"', 'owner: "app-team-other"'
        )
    )
    before = snapshot(repo.root)
    with pytest.raises(UserError, match="with other attributes"):
        restore(repo, fake, bundle)
    assert snapshot(repo.root) == before


# -- the command line ---------------------------------------------------------------------------


def test_without_a_terminal_decommission_needs_auto_approve(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "decommission", NAME, "--env", ENV)
    assert result.code == 1 and "--auto-approve" in result.stderr


def test_an_unknown_name_through_the_cli_is_one_clear_line(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo.root)
    result = cli(capsys, "decommission", "ghost-service", "--env", ENV, "--auto-approve")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "no repository 'ghost-service' in the catalog" in result.stderr
    assert snapshot(repo.root) == before


def test_restore_of_a_directory_that_is_no_bundle_is_refused(
    repo: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "restore", str(tmp_path), "--auto-approve")
    assert result.code == 1 and "not an ecrctl backup" in result.stderr


def test_decommission_and_restore_rewrite_the_scanning_filters(
    repo: Workspace, fake: FakeTerraform
) -> None:
    from orchestrator.files import tfvars

    def filters() -> list[str] | None:
        return (tfvars.load(repo.tfvars_file(ENV), ENV)).scan_filters

    provisioned(repo, fake, name="shop-api", risk="medium")
    provisioned(repo, fake, risk="high")
    assert filters() == ["shop-api*", f"{NAME}*"]
    result = run(repo, fake)
    assert filters() == ["shop-api*"]
    restore(repo, fake, repo.root / str(result.backup))
    assert filters() == ["shop-api*", f"{NAME}*"]
    assert cli_validate_ok(repo)
