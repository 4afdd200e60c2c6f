"""`ecrctl catalog sync`: the Backstage catalog of one environment, written from Terraform state.

Over 400 lines: the region rules, the one sync and the file each entity set goes to (registry,
shared entities, root Location, catalog URLs, stale files) are one all-or-nothing write.

Terraform is the source of truth (not the ECR API, not the root outputs): the repositories are
the `aws_ecr_repository.this` instances of `module.ecr_repositories[...]` in the state that
Terraform's S3 backend holds (Terraform.state_pull: the object read straight from S3, or
`terraform state pull`), which loads no provider and calls no AWS API but the backend.
Root outputs can be stale after a targeted apply (an output depends on every module instance, and
`-target` skips what it does not name), so they are never read; neither are sensitive values.

Everything is computed first and written last, together, under the workspace lock: bad input
(no state, corrupt files, a foreign file in the way) raises one error and changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.adapters import emulator
from orchestrator.adapters.state import read_state
from orchestrator.adapters.terraform import Terraform
from orchestrator.context import Environment
from orchestrator.errors import UserError
from orchestrator.files import catalog, yaml_strict
from orchestrator.files.workspace import ENV_NAME, Workspace
from orchestrator.models import CatalogEntry, FileChange, RepoOutputs, Status, SyncResult
from orchestrator.ops import backstage, owners
from orchestrator.ops.backstage import Entity, Placement

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
PRIMARY_ENV_VARIABLE = "ECRCTL_PRIMARY_ENV"
DEFAULT_PRIMARY_ENV = "prod"


# -- region ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    name: str
    source: str


def profile_region(environ: Mapping[str, str]) -> str | None:
    """The region of the active AWS profile (~/.aws/config, or AWS_CONFIG_FILE), if any."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=environ.get("AWS_PROFILE") or None)
        region = session.get_scoped_config().get("region")
    except botocore.exceptions.BotoCoreError:
        return None
    return region if isinstance(region, str) and region else None


def resolve_region(
    flag: str | None,
    env: str,
    tfvars_region: str | None,
    environ: Mapping[str, str] = os.environ,
    profile: Callable[[Mapping[str, str]], str | None] = profile_region,
) -> Region:
    """RB-0025's order: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region; then the
    environment's own `aws_region`. The emulator environment ignores the shell's AWS settings,
    as everything else in ecrctl does for it."""
    candidates: list[tuple[str, Callable[[], str | None]]] = [("--region", lambda: flag)]
    if env != emulator.LOCAL_ENV:
        profile_name = environ.get("AWS_PROFILE") or "default"
        candidates += [
            ("AWS_REGION", lambda: environ.get("AWS_REGION")),
            ("AWS_DEFAULT_REGION", lambda: environ.get("AWS_DEFAULT_REGION")),
            (f"profile {profile_name}", lambda: profile(environ)),
        ]
    candidates.append((f"envs/{env}/terraform.tfvars", lambda: tfvars_region))
    for source, read in candidates:
        value = read()
        if value:
            if not REGION.match(value):
                raise UserError(f"region {value!r} (from {source}) is not an AWS region name")
            return Region(value, source)
    raise UserError(
        f"no region for {env}: none of --region, AWS_REGION, AWS_DEFAULT_REGION, a profile"
        f" region or aws_region in envs/{env}/terraform.tfvars is set",
        f"pass --region, or set aws_region in envs/{env}/terraform.tfvars",
    )


def primary_env(environ: Mapping[str, str] = os.environ) -> str:
    value = environ.get(PRIMARY_ENV_VARIABLE) or DEFAULT_PRIMARY_ENV
    if not ENV_NAME.fullmatch(value):
        raise UserError(f"{PRIMARY_ENV_VARIABLE}={value!r} is not an environment name")
    return value


# -- the sync --------------------------------------------------------------------------------


@dataclass
class _Planned:
    path: Path
    old: str | None
    new: str
    unchanged: bool  # the same but for platform/last-sync (or byte-identical)


def sync(
    ctx: Environment,
    region: str | None = None,
    check: bool = False,
    *,
    terraform: Terraform | None = None,
    region_source: str = "--region",
) -> SyncResult:
    """Write (or with `check`, compare) the catalog of `env` from its Terraform state.

    `region_source` names where an explicit `region` came from, for the report.
    """
    ws, env, environ, progress = ctx.workspace, ctx.env, ctx.environ, ctx.progress
    env_tfvars = ctx.tfvars
    resolved = resolve_region(region, env, env_tfvars.region, environ)
    if region:
        resolved = Region(resolved.name, region_source)
    if env_tfvars.region and resolved.name != env_tfvars.region:
        raise UserError(
            f"region {resolved.name} (from {resolved.source}) is not the region of {env}:"
            f" envs/{env}/terraform.tfvars manages {env_tfvars.region} (one region per environment)",
            f"pass --region {env_tfvars.region}, or unset {resolved.source}"
            if resolved.source.isupper()
            else f"pass --region {env_tfvars.region}",
        )
    placement = Placement(env, resolved.name, primary=env == primary_env(environ))
    if ctx.shards > 1:  # every shard's state and the registry's: GetObjects, no provider
        progress(f"reading the {len(ctx.states)} states of {env}")
        outputs = read_state(ctx.held_together(), env)
    else:
        if terraform is None:
            terraform = ctx.terraform()
        terraform.init()
        progress(f"reading the state of {env}")
        outputs = read_state(terraform.state_pull(), env)
    elsewhere = sorted({r.region for r in outputs.repositories} - {resolved.name})
    if elsewhere:
        raise UserError(
            f"the state of {env} holds repositories in {', '.join(elsewhere)}, not only in"
            f" {resolved.name}",
            "one region per environment: move them, or sync the region they are in",
        )
    if len(outputs.accounts) > 1:
        raise UserError(
            f"the state of {env} names several AWS accounts: {', '.join(sorted(outputs.accounts))}"
        )
    account = next(iter(outputs.accounts), None)
    last_sync = ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    # The catalog alone: a sync writes URLs, never an environment's tfvars.
    with ctx.catalog_transaction() as txn:
        cat = txn.catalog
        warnings: list[str] = []
        groups = owners.load(ws, environ)
        owned: dict[str, list[str]] = {}
        planned = [
            _registry_file(
                ws,
                placement,
                outputs.repositories,
                cat,
                account,
                last_sync,
                warnings,
                owned,
                outputs.replication,
            ),
            *_shared_files(ws),
            _root_location(ws, placement, groups),
        ]
        filled = _filled_urls(cat, env, outputs.repositories, warnings)
        for entry in filled:
            txn.put(entry)
        catalog_text, _ = txn.render()
        if ws.catalog_file.exists():
            planned.append(_Planned(ws.catalog_file, cat.text, catalog_text, not filled))
        warnings += _stale_files(ws, placement)
        unresolved = _unresolved_owners(groups, owned, warnings)
        changes = tuple(
            FileChange(
                ws.relative(p.path),
                "unchanged" if p.unchanged else ("create" if p.old is None else "update"),
            )
            for p in planned
            if p.old is not None or p.new
        )
        txn.commit(
            others=tuple(
                (p.path, p.old, p.new)
                for p in planned
                if p.path != ws.catalog_file and (p.old is not None or p.new)
            ),
            dry_run=check,
        )
    return SyncResult(
        env=env,
        region=resolved.name,
        region_source=resolved.source,
        account=account,
        repo_count=len(outputs.repositories),
        registry_file=ws.relative(placement.registry_file(ws.catalog_dir)),
        last_sync=last_sync,
        files=changes,
        warnings=tuple(warnings),
        check=check,
        unresolved_owners=unresolved,
        owners_checked=groups is not None,
    )


def _existing(path: Path) -> str | None:
    if not path.exists():
        return None
    return yaml_strict.read_file(path, "catalog file", "fix or delete the file, then sync again")


def _registry_file(
    ws: Workspace,
    placement: Placement,
    repos: tuple[RepoOutputs, ...],
    cat: catalog.Catalog,
    account: str | None,
    last_sync: str,
    warnings: list[str],
    owned: dict[str, list[str]] | None = None,
    replicated: Mapping[str, str] | None = None,
) -> _Planned:
    """The registry file; `owned` gets each owner ref with the entities it owns; `replicated`
    says where each replicated repository goes."""
    path = placement.registry_file(ws.catalog_dir)
    old = _existing(path)
    env = placement.env
    entities: list[Entity] = [
        backstage.registry_entity(placement, len(repos), last_sync, account, cat.physical_registry)
    ]
    for repo in repos:
        entry = cat.entries.get(repo.name)
        if entry is not None and entry.request.env != env:
            warnings.append(
                f"{repo.name}: catalogued for environment {entry.request.env}, found in the"
                f" state of {env}"
            )
            entry = None
        elif entry is None:
            warnings.append(f"{repo.name}: in the Terraform state of {env} but not in the catalog")
        owner, risk, registry_id = _governance(repo, entry)
        entities.append(
            backstage.repository_entity(
                placement,
                repo,
                owner,
                risk,
                registry_id,
                entry,
                (replicated or {}).get(repo.name, ""),
            )
        )
    if owned is not None:
        for entity in entities:
            ref = f"resource:{entity['metadata']['name']}"
            owned.setdefault(entity["spec"]["owner"], []).append(ref)
    comment = (
        f"{backstage.REGISTRY_TITLE}: environment {env}, region {placement.region}.\n"
        f"{backstage.GENERATED}\n"
        f"Refresh with: ecrctl catalog sync --env {env}"
    )
    new = backstage.render(entities, comment)
    if old is None:
        return _Planned(path, None, new, False)
    if _same_but_last_sync(old, new):
        # Exactly what this sync writes, but for the time: this registry's file, valid as written.
        return _Planned(path, old, new, True)
    _claimed_by(path, old, placement)
    return _Planned(path, old, new, False)


_LAST_SYNC = re.compile(
    rf'^( +{re.escape(backstage.ANNOTATION_LAST_SYNC)}: )"([^"\\\n]*)"$', re.MULTILINE
)


def _same_but_last_sync(old: str, new: str) -> bool:
    """Whether `new` is `old` once its (first) platform/last-sync is set back to old's."""
    found = _LAST_SYNC.search(old)
    if found is None:
        return False
    return _LAST_SYNC.sub(lambda m: f'{m.group(1)}"{found.group(2)}"', new, count=1) == old


def _governance(repo: RepoOutputs, entry: CatalogEntry | None) -> tuple[str, str, str]:
    """Owner, risk and catalog ID as applied (the tags), else as catalogued."""
    request = entry.request if entry else None
    owner = repo.tags.get("Owner") or (request.owner if request else "")
    risk = repo.tags.get("RiskTier") or (request.risk if request else "")
    registry_id = repo.tags.get("RegistryId") or (request.registry_id if request else "")
    missing = [
        k for k, v in (("owner", owner), ("risk", risk), ("registry ID", registry_id)) if not v
    ]
    if missing:
        raise UserError(
            f"{repo.name}: no {', '.join(missing)} in its tags or in the catalog",
            "the repository was not created by ecrctl; add it to the catalog or import it",
        )
    return owner, risk, registry_id


def _claimed_by(path: Path, text: str, placement: Placement) -> None:
    """Refuse a registry file at `path` that is not valid or holds another registry."""
    for doc in backstage.load_documents(path, text):
        if not isinstance(doc, dict) or doc.get("kind") != "Resource":
            continue
        if backstage.as_dict(doc.get("spec")).get("type") != "container-registry":
            continue
        annotations = backstage.as_dict(backstage.as_dict(doc.get("metadata")).get("annotations"))
        env = annotations.get(backstage.ANNOTATION_ENVIRONMENT)
        region = annotations.get(backstage.ANNOTATION_REGION)
        if env != placement.env or (not placement.primary and region != placement.region):
            raise UserError(
                f"{path} holds the registry of {env}/{region}, not of"
                f" {placement.env}/{placement.region}; refusing to overwrite it",
                f"{PRIMARY_ENV_VARIABLE} decides which environment owns"
                " catalog/resources/ecr-registry.yaml: set it as it was, or move the file",
            )
        return
    raise UserError(
        f"{path} exists but holds no ECR registry resource; refusing to overwrite it",
        "move it away, then sync again",
    )


def _shared_files(ws: Workspace) -> list[_Planned]:
    """System, Domain, Component: created once, then left alone. Locations: target added once."""
    planned = []
    for relative, entity in backstage.shared_entities().items():
        path = ws.catalog_dir / relative
        old = _existing(path)
        if old is None:
            new = backstage.render([entity], backstage.CREATED_ONCE)
            planned.append(_Planned(path, None, new, False))
            continue
        if not backstage.holds(
            backstage.load_documents(path, old), entity["kind"], entity["metadata"]["name"]
        ):
            raise UserError(
                f"{path} does not hold the {entity['kind']} {entity['metadata']['name']!r}",
                "restore the entity in that file, or move the file away and sync again",
            )
        planned.append(_Planned(path, old, old, True))
    for relative, (name, target) in backstage.LOCATIONS.items():
        path = ws.catalog_dir / relative
        old = _existing(path)
        if old is None:
            new = backstage.render(
                [backstage.location_entity(name, [target])], backstage.CREATED_ONCE
            )
            planned.append(_Planned(path, None, new, False))
            continue
        new = backstage.with_location_target(path, old, name, target)
        planned.append(_Planned(path, old, new, new == old))
    return planned


def _root_location(ws: Workspace, placement: Placement, groups: owners.Groups | None) -> _Planned:
    """catalog/all.yaml: the Location to register, listing every file Backstage should read.

    Created once; afterwards each target missing from it (this environment's registry file, a
    new Group file or template) is added once, keeping every other byte."""
    path = ws.catalog_dir / backstage.ROOT_LOCATION_FILE
    targets = [f"./{relative}" for relative in backstage.LOCATIONS]
    targets += [f"./{backstage.COMPONENT_FILE}", f"./{placement.registry_path}"]
    found = [
        *(groups.catalog_files if groups else ()),
        *ws.catalog_dir.glob(backstage.TEMPLATES_GLOB),
    ]
    targets += [f"./{p.relative_to(ws.catalog_dir).as_posix()}" for p in sorted(found)]
    old = _existing(path)
    if old is None:
        entity = backstage.location_entity(backstage.ROOT_LOCATION_NAME, targets)
        return _Planned(path, None, backstage.render([entity], backstage.CREATED_ONCE), False)
    new = old
    for target in targets:
        new = backstage.with_location_target(path, new, backstage.ROOT_LOCATION_NAME, target)
    return _Planned(path, old, new, new == old)


def _unresolved_owners(
    groups: owners.Groups | None, owned: dict[str, list[str]], warnings: list[str]
) -> tuple[str, ...]:
    """Each owner with no Group in the catalog, with what it owns; a warning if none are known."""
    shared = [
        f"{e['kind'].lower()}:{e['metadata']['name']}" for e in backstage.shared_entities().values()
    ]
    owned = {**owned}
    owned[backstage.PLATFORM_OWNER] = [*owned.get(backstage.PLATFORM_OWNER, []), *shared]
    if groups is None:
        warnings.append(
            "owners not checked: no catalog/groups/ and no"
            f" {owners.GROUPS_VARIABLE} to say which Groups the catalog holds"
            " (docs/BACKSTAGE.md)"
        )
        return ()
    return tuple(
        f"{owner} (owner of {', '.join(sorted(owned[owner]))})"
        for owner in sorted(owned)
        if not groups.resolves(owner)
    )


def _filled_urls(
    cat: catalog.Catalog, env: str, repos: tuple[RepoOutputs, ...], warnings: list[str]
) -> list[CatalogEntry]:
    """env's live entries whose aws.repository_url differs from Terraform's, with it filled in."""
    urls = {r.name: r.url for r in repos}
    filled = []
    for name in sorted(cat.entries):
        entry = cat.entries[name]
        if entry.request.env != env or entry.status == Status.DECOMMISSIONED:
            continue
        url = urls.get(name, "")
        if not url:
            warnings.append(
                f"{name}: catalogued ({entry.status}) but not in the state of {env} yet"
            )
        if entry.repository_url != url:
            filled.append(replace(entry, repository_url=url))
    return filled


def _stale_files(ws: Workspace, placement: Placement) -> list[str]:
    """Registry files of this environment for a region it no longer manages."""
    if placement.primary:
        return []
    here = placement.registry_file(ws.catalog_dir)
    return [
        f"{ws.relative(p)} is for a region {placement.env} no longer manages; delete it if so"
        for p in sorted(here.parent.glob("ecr-registry-*.yaml"))
        if p != here
    ]
