"""Generated Backstage entities checked by Backstage's own validator (node)."""

from __future__ import annotations

import pytest

from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace
from orchestrator.ops import backstage
from tests.backstage_model import (
    all_entities,
    assert_relations_resolve,
    assert_valid,
    catalog_entities,
)
from tests.helpers import create_entry, snapshot
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


def test_every_generated_entity_passes_backstages_validator(repo: Workspace) -> None:
    three_tiers(repo)
    result = run_sync(repo)
    assert result.repo_count == 3
    files = catalog_entities(repo.catalog_dir)
    assert sorted(files) == sorted(
        [
            "all-domains.yaml",
            "all-systems.yaml",
            "all.yaml",
            "components/ecr-registry.yaml",
            "domains/delivery-domain.yaml",
            LOCAL_FILE,
            "systems/container-registry-system.yaml",
        ]
    )
    entities = all_entities(repo.catalog_dir)
    refs = assert_valid(entities)
    assert_relations_resolve(entities, refs)
    registry, *repos = files[LOCAL_FILE]
    annotations = registry["metadata"]["annotations"]
    assert registry["metadata"]["title"].startswith("Master AWS ECR Registry")
    assert registry["spec"] == {
        "type": "container-registry",
        "owner": "group:platform-team",
        "system": "container-registry",
        "dependencyOf": ["component:ecr-registry"],
    }
    assert annotations["platform/repo-count"] == "3"
    assert annotations["platform/last-sync"] == T1
    assert annotations["platform/region"] == "us-east-1"
    assert annotations["platform/aws-account-id"] == ACCOUNT
    by_name = {r["metadata"]["title"]: r for r in repos}
    assert sorted(by_name) == sorted(TIERS)
    pg = by_name["payments-gateway"]
    assert pg["spec"]["owner"] == "group:app-team-payments"
    assert pg["spec"]["system"] == "container-registry"
    assert pg["spec"]["dependsOn"] == [f"resource:{registry['metadata']['name']}"]
    assert pg["metadata"]["annotations"] == {
        "platform/ecr-repository-name": "payments-gateway",
        "platform/ecr-repository-url": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/payments-gateway",
        "platform/ecr-repository-arn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments-gateway",
        "platform/risk-tier": "high",
        "platform/registry-id": "REGISTRY_PAYMENTS_GATEWAY",
        "platform/aws-registry-id": ACCOUNT,
        "platform/environment": "local",
        "platform/region": "us-east-1",
        "platform/catalog-status": "active",
        "aws.amazon.com/amazon-ecr-arn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments-gateway",
    }
    system = files["systems/container-registry-system.yaml"][0]
    assert system["kind"] == "System" and system["spec"]["domain"] == "delivery"
    assert files["all-systems.yaml"][0]["spec"]["targets"] == [
        "./systems/container-registry-system.yaml"
    ]
    assert files["all-domains.yaml"][0]["spec"]["targets"] == ["./domains/delivery-domain.yaml"]
    # The one Location to register lists every file Backstage should read.
    assert files["all.yaml"][0]["spec"]["targets"] == [
        "./all-systems.yaml",
        "./all-domains.yaml",
        "./components/ecr-registry.yaml",
        f"./{LOCAL_FILE}",
    ]
    # The registry catalog now knows each repository's URL.
    text = repo.catalog_file.read_text()
    for name in TIERS:
        assert f'repository_url: "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}"' in text


def test_the_primary_environment_writes_catalog_resources_ecr_registry_yaml(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_entry(repo, "ledger-ui", env="prod")
    FakeTerraform.states["prod"] = state(repository("ledger-ui", region="eu-west-2"))
    result = run_sync(repo, "prod")
    assert result.registry_file == "catalog/resources/ecr-registry.yaml"
    registry, repo_entity = catalog_entities(repo.catalog_dir)["resources/ecr-registry.yaml"]
    assert registry["metadata"]["name"] == "ecr-registry"
    assert registry["metadata"]["title"] == "Master AWS ECR Registry"
    assert repo_entity["metadata"]["name"] == "ecr-repo-ledger-ui"
    assert repo_entity["spec"]["dependsOn"] == ["resource:ecr-registry"]
    assert_valid(all_entities(repo.catalog_dir))
    # Another environment declared primary must not take the file over silently.
    monkeypatch.setenv(ECRCTL_PRIMARY, "local")
    three_tiers(repo)
    before = snapshot(repo.root, tree=True)
    with pytest.raises(UserError, match="holds the registry of prod/eu-west-2"):
        run_sync(repo, "local")
    assert snapshot(repo.root, tree=True) == before


def test_several_environments_never_clobber_each_other(repo: Workspace) -> None:
    three_tiers(repo)
    create_entry(repo, "ledger-api", env="dev")
    create_entry(repo, "ledger-ui", env="prod")
    FakeTerraform.states["dev"] = state(repository("ledger-api", region="eu-west-2"))
    FakeTerraform.states["prod"] = state(repository("ledger-ui", region="eu-west-2"))
    for env in ("local", "dev", "prod"):
        run_sync(repo, env)
    first = snapshot(repo.root, tree=True)
    for env in ("prod", "dev", "local"):  # another order, same files
        run_sync(repo, env)
    assert snapshot(repo.root, tree=True) == first
    files = catalog_entities(repo.catalog_dir)
    assert {p for p in files if p.startswith("resources/")} == {
        "resources/ecr-registry.yaml",
        "resources/dev/ecr-registry-eu-west-2.yaml",
        LOCAL_FILE,
    }
    counts = {
        p: d[0]["metadata"]["annotations"]["platform/repo-count"]
        for p, d in files.items()
        if p.startswith("resources/")
    }
    assert counts == {
        "resources/ecr-registry.yaml": "1",
        "resources/dev/ecr-registry-eu-west-2.yaml": "1",
        LOCAL_FILE: "3",
    }
    entities = all_entities(repo.catalog_dir)
    # One System, one Domain, one Component, three Locations however many environments sync.
    kinds = [e["kind"] for e in entities]
    assert kinds.count("System") == kinds.count("Domain") == kinds.count("Component") == 1
    assert kinds.count("Location") == 3
    # The root Location lists each environment's registry file once, in the order first synced.
    assert files["all.yaml"][0]["spec"]["targets"][3:] == [
        f"./{LOCAL_FILE}",
        "./resources/dev/ecr-registry-eu-west-2.yaml",
        "./resources/ecr-registry.yaml",
    ]
    assert_relations_resolve(entities, assert_valid(entities))


def test_names_backstage_would_refuse_or_misread_are_made_safe(repo: Workspace) -> None:
    long_name = "-".join(["a" * 60] * 4)  # 243 characters: a valid ECR name
    names = [long_name, "0o12", "on", "012"]
    FakeTerraform.states["dev"] = state(
        *(repository(n, region="eu-west-2", owner="app-team-odd") for n in names)
    )
    result = run_sync(repo, "dev")
    assert result.repo_count == 4
    assert any("not in the catalog" in w for w in result.warnings)
    entities = all_entities(repo.catalog_dir)
    assert_valid(entities)
    titles = {e["metadata"]["title"] for e in entities if e["spec"].get("type") == "ecr-repository"}
    assert titles == set(names)  # strings all, never 10 or True
    assert all(len(e["metadata"]["name"]) <= 63 for e in entities)


def test_locations_gain_the_target_once_and_keep_every_other_byte(repo: Workspace) -> None:
    three_tiers(repo)
    mine = (
        "# Our systems. Keep this comment.\n"
        "apiVersion: backstage.io/v1alpha1\n"
        "kind: Location\n"
        "metadata:\n"
        "  name: all-systems\n"
        "spec:\n"
        "  targets:\n"
        "    - ./systems/audio-playback.yaml   # the first one\n"
        "    - ./systems/billing.yaml\n"
    )
    path = repo.catalog_dir / "all-systems.yaml"
    path.write_text(mine)
    system_file = repo.catalog_dir / backstage.SYSTEM_FILE
    system_file.parent.mkdir(parents=True)
    edited = (
        "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n"
        "  name: container-registry\n  description: edited by the platform team\n"
        "spec:\n  owner: group:platform-team\n  domain: delivery\n"
    )
    system_file.write_text(edited)
    run_sync(repo)
    assert path.read_text() == mine + '    - "./systems/container-registry-system.yaml"\n'
    assert system_file.read_text() == edited  # created once; never rewritten
    run_sync(repo, at=T2)
    assert path.read_text().count("container-registry-system.yaml") == 1
    # Listed already (in another spelling): nothing added.
    path.write_text(
        mine.replace("./systems/billing.yaml", "systems/container-registry-system.yaml")
    )
    text = path.read_text()
    run_sync(repo)
    assert path.read_text() == text
    assert_valid(all_entities(repo.catalog_dir))
