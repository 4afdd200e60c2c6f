"""End to end: what Backstage's own catalog backend makes of the catalog ecrctl writes.

Two environments in two regions on the emulator (`local` in us-east-1, the primary one here,
and `dev` in eu-west-2), applied by real terraform; then the root Location ecrctl wrote,
catalog/all.yaml, is registered in a real Backstage catalog backend (tests/backstage-backend/)
and everything is asserted through the catalog's REST API, before and after a decommission in
each environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.files.workspace import Workspace
from orchestrator.ops import sync as sync_mod
from tests.backstage_backend import Backstage
from tests.conftest import Aws
from tests.helpers import REPO, cli, create, wait_for

pytestmark = pytest.mark.e2e

DEV_REGION = "eu-west-2"
DEV_BUCKET = "ecrctl-dev-tfstate"
# name -> (env, risk, owner)
REPOS = {
    "web-frontend": ("local", "low", "app-team-web"),
    "payments-gateway": ("local", "high", "app-team-payments"),
    "ledger-api": ("dev", "medium", "app-team-ledger"),
    "ledger-ui": ("dev", "low", "app-team-ledger"),
}
DECOMMISSIONED = {"local": "web-frontend", "dev": "ledger-ui"}
GROUPS = ["platform-team", "app-team-web", "app-team-payments", "app-team-ledger"]
REGISTRY = {
    "local": "resource:default/ecr-registry",
    "dev": "resource:default/ecr-registry.dev.eu-west-2",
}


def _repo_ref(name: str) -> str:
    env = REPOS[name][0]
    return f"resource:default/ecr-repo-{name}" + ("" if env == "local" else f".dev.{DEV_REGION}")


def _groups_file(names: list[str]) -> str:
    docs = [
        "---\napiVersion: backstage.io/v1alpha1\nkind: Group\n"
        f"metadata:\n  name: {name}\nspec:\n  type: team\n  children: []\n"
        for name in names
    ]
    return "".join(docs)


@pytest.fixture
def two_envs(local: Workspace, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """`local` (us-east-1, primary) and `dev` (eu-west-2, its own state bucket), one emulator."""
    monkeypatch.setenv(sync_mod.PRIMARY_ENV_VARIABLE, "local")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "ECRCTL_BACKSTAGE_GROUPS"):
        monkeypatch.delenv(key, raising=False)
    aws.client("s3").create_bucket(
        Bucket=DEV_BUCKET, CreateBucketConfiguration={"LocationConstraint": DEV_REGION}
    )
    (local.root / "envs" / "dev" / "backend.hcl").write_text(
        f'bucket = "{DEV_BUCKET}"\nkey = "ecr/dev/terraform.tfstate"\nregion = "{DEV_REGION}"\n'
        "use_lockfile = true\nencrypt = true\nuse_path_style = true\n"
    )
    # The platform's Groups and the request template, as the repository ships them.
    (local.catalog_dir / "groups").mkdir()
    (local.catalog_dir / "groups" / "teams.yaml").write_text(_groups_file(GROUPS))
    shutil.copytree(REPO / "catalog" / "templates", local.catalog_dir / "templates")
    yield local


def _emulator(aws: Aws, region: str) -> dict[str, dict[str, Any]]:
    import boto3

    ecr = boto3.client(
        "ecr",
        endpoint_url=aws.endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}


def _relations(entity: dict[str, Any], kind: str) -> set[str]:
    return {r["targetRef"] for r in entity.get("relations", []) if r["type"] == kind}


def _settled(backstage: Backstage, refs: set[str], gone: set[str]) -> dict[str, Any] | None:
    """Every ref in the catalog, stitched with its relations, none of `gone`; else None."""
    found = {}
    for ref in refs:
        entity = backstage.entity(ref)
        if entity is None or "relations" not in entity:
            return None
        found[ref] = entity
    if any(backstage.entity(ref) is not None for ref in gone):
        return None
    return found


def _assert_catalog(
    backstage: Backstage, ws: Workspace, aws: Aws, live: list[str], gone: set[str]
) -> None:
    regions = {"local": "us-east-1", "dev": DEV_REGION}
    held = {env: _emulator(aws, region) for env, region in regions.items()}
    assert {n for env in held for n in held[env]} == set(live)
    refs = {
        "system:default/container-registry",
        "domain:default/delivery",
        "component:default/ecr-registry",
        "location:default/ecrctl-catalog",
        "location:default/all-systems",
        "location:default/all-domains",
        "template:default/ecr-request",
        *REGISTRY.values(),
        *(_repo_ref(n) for n in live),
        *(f"group:default/{g}" for g in GROUPS),
    }

    def dependents(found: dict[str, Any], env: str) -> set[str]:
        registry = found[REGISTRY[env]]
        return _relations(registry, "dependencyOf") - {"component:default/ecr-registry"}

    def current() -> dict[str, Any] | None:
        """The catalog once it has caught up: counts and relations as the files say."""
        found = _settled(backstage, refs, {_repo_ref(n) for n in gone})
        if found is None:
            return None
        for env in regions:
            count = found[REGISTRY[env]]["metadata"]["annotations"]["platform/repo-count"]
            if count != str(len(held[env])) or dependents(found, env) != {
                _repo_ref(n) for n in live if REPOS[n][0] == env
            }:
                return None
        return found

    found = wait_for(
        current, 90, 0.25, what=f"Backstage: {len(refs)} entities, {sorted(gone)} gone"
    )
    assert backstage.processing_errors() == []
    for ref, entity in found.items():
        assert not [i for i in entity.get("status", {}).get("items", [])], (ref, entity["status"])
    system = found["system:default/container-registry"]
    assert _relations(system, "partOf") == {"domain:default/delivery"}
    assert _relations(found["domain:default/delivery"], "hasPart") == {
        "system:default/container-registry"
    }
    for env, ref in REGISTRY.items():
        registry = found[ref]
        assert registry["metadata"]["annotations"]["platform/region"] == regions[env]
        assert _relations(registry, "partOf") == {"system:default/container-registry"}
        assert _relations(registry, "ownedBy") == {"group:default/platform-team"}
    for name in live:
        env, _risk, owner = REPOS[name]
        entity = found[_repo_ref(name)]
        annotations = entity["metadata"]["annotations"]
        assert _relations(entity, "dependsOn") == {REGISTRY[env]}
        assert _relations(entity, "partOf") == {"system:default/container-registry"}
        assert _relations(entity, "ownedBy") == {f"group:default/{owner}"}
        # The owner resolves: its Group lists the repository among what it owns.
        assert _repo_ref(name) in _relations(found[f"group:default/{owner}"], "ownerOf")
        assert annotations["aws.amazon.com/amazon-ecr-arn"] == held[env][name]["repositoryArn"]
        assert annotations["platform/ecr-repository-url"] == held[env][name]["repositoryUri"]
        assert annotations["backstage.io/managed-by-origin-location"] == (
            f"file:{ws.catalog_dir / 'all.yaml'}"
        )


def test_backstage_ingests_both_environments_and_forgets_decommissioned_repositories(
    two_envs: Workspace,
    aws: Aws,
    backstage: Backstage,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = two_envs
    for name, (env, risk, owner) in REPOS.items():
        create(capsys, name, env=env, owner=owner, risk=risk)
    for env in ("local", "dev"):
        names = [n for n, (e, _, _) in REPOS.items() if e == env]
        applied = cli(capsys, "apply", *names, "--env", env, "--auto-approve")
        assert applied.code == 0, applied.stderr
        assert "unresolved owner" not in applied.stderr
    check = cli(capsys, "catalog", "sync", "--env", "dev", "--check")
    assert check.code == 0, check.stdout + check.stderr

    with backstage.location(ws.catalog_dir / "all.yaml"):
        _assert_catalog(backstage, ws, aws, list(REPOS), gone=set())

        for env, name in DECOMMISSIONED.items():
            done = cli(
                capsys, "decommission", name, "--env", env, "--reason", "replaced",
                "--auto-approve",
            )  # fmt: skip
            assert done.code == 0, done.stderr
        live = [n for n in REPOS if n not in DECOMMISSIONED.values()]
        # Gone, not kept as decommissioned: the repository no longer exists, so an entity page
        # (and the ECR plugin reading its ARN) would show something that is not there.
        backstage.refresh("location:default/ecrctl-catalog")
        _assert_catalog(backstage, ws, aws, live, gone=set(DECOMMISSIONED.values()))
