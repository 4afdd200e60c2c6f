"""End to end: decommission with a verified backup, and restore, on moto's server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.files import catalog, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import backup
from tests.conftest import Aws
from tests.helpers import cli, create, push, snapshot

NAME = "payments-gateway"
CI_ROLE = "arn:aws:iam::123456789012:role/ci-publisher"
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/deployer"
MODULE = f'module.ecr_repositories["{NAME}"]'


def registry_view(ecr: Any) -> dict[str, Any]:
    """What the emulator holds for the repository: settings, policies, tags, images."""
    repo = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    images = ecr.describe_images(repositoryName=NAME)["imageDetails"]
    digests = sorted(i["imageDigest"] for i in images)
    got = ecr.batch_get_image(repositoryName=NAME, imageIds=[{"imageDigest": d} for d in digests])[
        "images"
    ]
    return {
        "arn": repo["repositoryArn"],
        "mutability": repo["imageTagMutability"],
        "encryption": repo["encryptionConfiguration"]["encryptionType"],
        "lifecycle": ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"],
        "policy": ecr.get_repository_policy(repositoryName=NAME)["policyText"],
        "tags": sorted(
            (t["Key"], t["Value"])
            for t in ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        ),
        "images": {i["imageDigest"]: sorted(i.get("imageTags", [])) for i in images},
        "manifests": {g["imageId"]["imageDigest"]: g["imageManifest"] for g in got},
    }


def test_decommission_backs_up_destroys_and_restore_brings_it_back(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, NAME, "--push-principal", CI_ROLE, "--pull-principal", DEPLOY_ROLE, risk="high")
    applied = cli(capsys, "apply", NAME, "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr
    assert repo_count(local) == "1"
    ecr = aws.client("ecr")
    push(ecr, NAME, "one", "v1.0.0", "stable")
    push(ecr, NAME, "two", "v1.1.0")
    before = registry_view(ecr)
    assert len(before["images"]) == 2
    files_before = snapshot(local.root)

    # Pushed a moment ago: refused, nothing changed, nothing run.
    busy = cli(capsys, "decommission", NAME, "--env", "local", "--auto-approve")
    assert busy.code == 1
    assert "in use" in busy.stderr and "--force" in busy.stderr
    # High tier: no way around the backup.
    unsaved = cli(
        capsys, "decommission", NAME, "--env", "local", "--force", "--skip-backup",
        "--auto-approve",
    )  # fmt: skip
    assert unsaved.code == 1 and "mandatory" in unsaved.stderr
    # The dry run shows the whole sequence and the destroy plan, and changes nothing.
    dry = cli(
        capsys, "decommission", NAME, "--env", "local", "--force", "--dry-run", "--output",
        "json",
    )  # fmt: skip
    assert dry.code == 0, dry.stderr
    preview = json.loads(dry.stdout)
    assert [s["step"] for s in preview["steps"]] == [
        "check", "backup", "files", "empty", "destroy",
    ]  # fmt: skip
    assert {s["status"] for s in preview["steps"]} == {"done", "would"}
    changes = preview["plan"]["changes"]
    assert {c["action"] for c in changes if c["repository"] == NAME} == {"delete"}
    assert f"{MODULE}.aws_ecr_repository.this" in {c["address"] for c in changes}
    assert all(c["repository"] in (NAME, None) for c in changes)
    assert snapshot(local.root) == files_before
    assert not (local.root / "backups").exists()
    assert registry_view(ecr) == before

    # With --force: backed up, verified, recorded, emptied, destroyed.
    done = cli(
        capsys, "decommission", NAME, "--env", "local", "--force", "--reason",
        "replaced by payments-v2", "--auto-approve", "--output", "json",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    result = json.loads(done.stdout)
    bundle_dir = local.root / result["backup"]
    assert bundle_dir.parent == local.root / "backups" / "local" / NAME
    assert sorted(result["emptied"]) == sorted(before["images"])
    _assert_bundle_matches(bundle_dir, before)

    repos = ecr.describe_repositories()["repositories"]
    assert NAME not in [r["repositoryName"] for r in repos]
    tiers = tiers_file.load(local.tiers_file)
    entry = catalog.load(local.catalog_file, tiers).entries[NAME]
    assert entry.status == "decommissioned"
    assert entry.history["decommission_reason"] == "replaced by payments-v2"
    assert entry.history["backup"] == result["backup"]
    assert entry.history["decommissioned_at"].startswith("20")
    assert NAME not in tfvars.load(local.tfvars_file("local"), "local").entries
    assert cli(capsys, "validate", "--env", "local").code == 0
    assert repo_count(local) == "0"  # the apply inside decommission synced the catalog

    # Again: already done, nothing changed.
    files_after = snapshot(local.root)
    again = cli(capsys, "decommission", NAME, "--env", "local", "--force", "--auto-approve")
    assert again.code == 1 and "already decommissioned" in again.stderr
    assert snapshot(local.root) == files_after

    # Restore: same settings, policies, tags and manifests.
    restored = cli(capsys, "restore", str(bundle_dir), "--auto-approve", "--output", "json")
    assert restored.code == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["refused"] == 0 and report["differences"] == []
    after = registry_view(ecr)
    for key in ("arn", "mutability", "encryption", "policy", "tags", "images", "manifests"):
        assert after[key] == before[key], key
    assert json.loads(after["lifecycle"]) == json.loads(before["lifecycle"])
    entry = catalog.load(local.catalog_file, tiers).entries[NAME]
    assert entry.status == "active"
    assert entry.history["restored_from"] == result["backup"]
    assert NAME in tfvars.load(local.tfvars_file("local"), "local").entries
    assert cli(capsys, "validate", "--env", "local").code == 0
    assert repo_count(local) == "1"


def repo_count(ws: Workspace) -> str:
    """platform/repo-count of the local registry entity the catalog sync wrote."""
    docs = yaml.safe_load_all(
        (ws.catalog_dir / "resources" / "local" / "ecr-registry-us-east-1.yaml").read_text()
    )
    registry = next(d for d in docs if d["spec"].get("type") == "container-registry")
    return str(registry["metadata"]["annotations"]["platform/repo-count"])


def _assert_bundle_matches(bundle_dir: Path, before: dict[str, Any]) -> None:
    """The bundle verifies, and holds what the emulator held, byte for byte."""
    sums = json.loads((bundle_dir / "manifest.json").read_text())["files"]
    for rel, want in sums.items():
        assert hashlib.sha256((bundle_dir / rel).read_bytes()).hexdigest() == want
    assert backup.verify(bundle_dir) == sums
    index = json.loads((bundle_dir / "images" / "index.json").read_text())
    assert {i["digest"]: sorted(i["tags"]) for i in index} == before["images"]
    for item in index:
        assert (bundle_dir / item["manifest"]).read_text() == before["manifests"][item["digest"]]
    repository = json.loads((bundle_dir / "repository.json").read_text())
    assert repository["repositoryArn"] == before["arn"]
    assert (bundle_dir / "repository-policy.json").read_text() == before["policy"]
    assert (bundle_dir / "lifecycle-policy.json").read_text() == before["lifecycle"]
    tags = json.loads((bundle_dir / "tags.json").read_text())
    assert sorted((t["Key"], t["Value"]) for t in tags) == before["tags"]
    state = json.loads((bundle_dir / "terraform-state.json").read_text())
    assert state["resources"] and {r["module"] for r in state["resources"]} == {MODULE}
    assert "aws_ecr_repository" in {r["type"] for r in state["resources"]}
    assert 'status: "active"' in (bundle_dir / "catalog-entry.yaml").read_text()
    assert f'"{NAME}" = {{' in (bundle_dir / "tfvars-entry.tfvars").read_text()
    info = json.loads((bundle_dir / "bundle.json").read_text())
    assert info["format"] == backup.FORMAT and info["reason"] == "replaced by payments-v2"
