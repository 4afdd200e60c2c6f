"""The one reader of Terraform state (Terraform.state_pull, which loads no provider).

catalog sync reads the repositories it holds (validated: a state ecrctl cannot vouch for is refused),
drift reads each repository's attributes, backup keeps the resources of one module instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import UserError
from orchestrator.models import (
    RepoOutputs,
    RiskTier,
    Settings,
    instance_of,
    module_address,
    settings_of_tier,
)
from orchestrator.rules import documents

_ARN = re.compile(r"^arn:aws[a-z-]*:ecr:([a-z0-9-]+):([0-9]{12}):repository/(.+)$")


def repository_of(resource: dict[str, Any]) -> str | None:
    """The repository name if a state resource is module.ecr_repositories[NAME]'s repository."""
    name = instance_of(str(resource.get("module") or ""))
    if (
        name is None
        or resource.get("mode") != "managed"
        or resource.get("module") != module_address(name)
        or resource.get("type") != "aws_ecr_repository"
        or resource.get("name") != "this"
    ):
        return None
    return name


def managed_repositories(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> attributes of every module.ecr_repositories[NAME].aws_ecr_repository.this."""
    found: dict[str, dict[str, Any]] = {}
    for resource in state.get("resources") or []:
        name = repository_of(resource) if isinstance(resource, dict) else None
        if name is None:
            continue
        for instance in resource.get("instances") or []:
            if isinstance(instance, dict) and isinstance(instance.get("attributes"), dict):
                found[name] = instance["attributes"]
    return found


def instance_state(state: dict[str, Any], address: str) -> dict[str, Any]:
    """The state with only the resources of one module instance (and its header)."""
    return {
        **{
            k: state[k] for k in ("version", "terraform_version", "serial", "lineage") if k in state
        },
        "resources": [r for r in state.get("resources", []) if r.get("module") == address],
    }


@dataclass(frozen=True)
class StateOutputs:
    repositories: tuple[RepoOutputs, ...]
    accounts: frozenset[str]  # AWS accounts the state's registry-level resources name
    # name -> where the state's replication configuration replicates it (replicated ones only)
    replication: dict[str, str] = field(default_factory=dict)


def read_state(state: dict[str, Any], env: str) -> StateOutputs:
    """The repositories in a raw state (Terraform.state_pull), refusing what is not one."""
    where = f"the Terraform state of {env}"
    # A backend with no state object yet gives nothing, or an empty state with no lineage.
    if not state or (not state.get("lineage") and not state.get("resources")):
        raise UserError(
            f"{env} has no Terraform state yet: nothing was ever applied there",
            f"apply a repository first: ecrctl apply NAME --env {env}",
        )
    if state.get("version") != 4 or not isinstance(state.get("resources", []), list):
        raise UserError(
            f"{where} is not a Terraform state ecrctl reads (version {state.get('version')!r})",
            "check the backend configuration in envs/ENV/backend.hcl",
        )
    repos: dict[str, RepoOutputs] = {}
    accounts: set[str] = set()
    for resource in state.get("resources") or []:
        if not isinstance(resource, dict) or resource.get("mode") != "managed":
            continue
        instances = resource.get("instances") or []
        if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
            raise UserError(f"{where}: resource {resource.get('type')} has malformed instances")
        if resource.get("module") is None and resource.get("type") == (
            "aws_ecr_registry_scanning_configuration"
        ):
            for instance in instances:
                registry = (instance.get("attributes") or {}).get("registry_id")
                if (
                    isinstance(registry, str)
                    and registry
                    and not _sensitive(instance, "registry_id")
                ):
                    accounts.add(registry)
        name = repository_of(resource)
        if name is None:
            continue
        current = [i for i in instances if "attributes" in i]
        if not current:
            continue  # only deposed objects left: the repository no longer exists
        repos[name] = _repository(name, current[0], where)
    places = {n: replication_of(state, n) for n in repos}
    return StateOutputs(
        tuple(repos[n] for n in sorted(repos)),
        frozenset(accounts | {r.aws_registry_id for r in repos.values()}),
        {n: where for n, where in places.items() if where != "none"},
    )


def _sensitive(instance: dict[str, Any], attribute: str) -> bool:
    """Whether terraform marked `attribute` (or anything inside it) sensitive."""
    for path in instance.get("sensitive_attributes") or []:
        steps = path if isinstance(path, list) else [path]
        first = steps[0] if steps else None
        if isinstance(first, dict) and first.get("value") == attribute:
            return True
    return False


def _repository(name: str, instance: dict[str, Any], where: str) -> RepoOutputs:
    address = f"{module_address(name)}.aws_ecr_repository.this"
    attributes = instance.get("attributes")
    if not isinstance(attributes, dict):
        raise UserError(f"{where}: {address} has no attributes")
    values: dict[str, str] = {}
    for key in ("repository_url", "arn", "registry_id"):
        value = attributes.get(key)
        if _sensitive(instance, key):
            raise UserError(
                f"{where}: {address}.{key} is marked sensitive; it is never written to the catalog"
            )
        if not isinstance(value, str) or not value:
            raise UserError(
                f"{where}: {address} has no {key}",
                f"the state is incomplete; run a plan to see what terraform thinks: ecrctl plan"
                f" {name} --env ENV",
            )
        values[key] = value
    match = _ARN.match(values["arn"])
    if not match or match.group(3) != name:
        raise UserError(f"{where}: {address} has an unexpected ARN {values['arn']!r}")
    tags: dict[str, str] = {}
    raw_tags = attributes.get("tags")
    if isinstance(raw_tags, dict) and not _sensitive(instance, "tags"):
        tags = {str(k): v for k, v in raw_tags.items() if isinstance(v, str)}
    return RepoOutputs(
        name=name,
        url=values["repository_url"],
        arn=values["arn"],
        aws_registry_id=values["registry_id"],
        region=match.group(1),
        tags=tags,
    )


def replication_of(state: dict[str, Any], name: str) -> str:
    """Where the state's replication configuration replicates `name` ("none" if nowhere), as
    models.settings_of_request shows it: REGION, or REGION (ACCOUNT) for another account."""
    for resource in state.get("resources") or []:
        if resource.get("module") is not None or resource.get("mode") != "managed":
            continue
        if resource.get("type") != "aws_ecr_replication_configuration":
            continue
        for instance in resource.get("instances") or []:
            attributes = instance.get("attributes") or {}
            own = attributes.get("registry_id")
            for config in attributes.get("replication_configuration") or []:
                for rule in config.get("rule") or []:
                    filters = [f.get("filter", "") for f in rule.get("repository_filter") or []]
                    if filters and not any(name.startswith(f) for f in filters):
                        continue
                    places = [
                        d.get("region", "")
                        if d.get("registry_id") == own
                        else f"{d.get('region', '')} ({d.get('registry_id', '')})"
                        for d in rule.get("destination") or []
                    ]
                    if places:
                        return ", ".join(places)
    return "none"


def settings_of(state: dict[str, Any], name: str, tiers: dict[str, RiskTier]) -> Settings | None:
    """The settings the state records for `name`'s module instance; None if it has none."""
    module = module_address(name)
    repository: dict[str, Any] | None = None
    policy_text: str | None = None
    lifecycle: documents.Retention | None = None
    for resource in state.get("resources") or []:
        if resource.get("module") != module or resource.get("mode") != "managed":
            continue
        instances = resource.get("instances") or [{}]
        attributes = instances[0].get("attributes") or {}
        if resource.get("type") == "aws_ecr_repository":
            repository = attributes
        elif resource.get("type") == "aws_ecr_repository_policy":
            policy_text = attributes.get("policy")
        elif resource.get("type") == "aws_ecr_lifecycle_policy":
            lifecycle = documents.read_lifecycle_policy(attributes.get("policy"))
    if repository is None:
        return None
    tier = tiers.get(str((repository.get("tags") or {}).get("RiskTier", "")))
    if tier is None:
        return None
    # The grants of the module's statements (IAM ARNs, organizations, services for the
    # repository's own account); a statement of another shape grants nothing a request names.
    grants = (
        documents.read_repository_policy(policy_text, str(repository.get("registry_id") or ""))
        or documents.Grants()
    )
    held = settings_of_tier(
        tier, grants.push, grants.pull, status="?", replication=replication_of(state, name)
    )
    encryption = (repository.get("encryption_configuration") or [{}])[0].get("encryption_type")
    return Settings(
        **{
            **held.to_dict(),
            "image_tag_mutability": repository.get("image_tag_mutability")
            or held.image_tag_mutability,
            "encryption": encryption or held.encryption,
            "push_principals": held.push_principals,
            "pull_principals": held.pull_principals,
            "protected_tag_prefixes": held.protected_tag_prefixes,
            # What the lifecycle policy in the state keeps: the tier's rules may have changed.
            **(lifecycle.to_settings() if lifecycle else {}),
        }
    )
