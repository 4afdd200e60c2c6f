"""ecrctl drift: does the registry still look like what Terraform and the catalog say?

Four sources, compared per repository of one environment:
- the refresh-only plan (`terraform plan -refresh-only`): what changed behind Terraform's back
  in the resources it manages (a setting edited, a policy or the repository deleted);
- the state (Terraform.state_pull): what Terraform manages;
- the tfvars and the catalog: what was requested;
- the registry itself (describe_repositories, every page): what exists, and its settings next
  to its risk tier; and DescribeRegistry: its replication configuration next to what the
  tfvars derive (destinations, filters), which the refresh-only plan misses when Terraform
  holds none (a configuration put by hand where nothing should replicate).
Nothing is changed. `drift` is true when anything differs; the CLI turns it into exit code 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.adapters import ecr
from orchestrator.adapters.state import managed_repositories
from orchestrator.context import Environment, State
from orchestrator.models import ResourceChange, Status
from orchestrator.ops import layout
from orchestrator.ops.plan import side_by_side
from orchestrator.rules import replication

KINDS = {
    "unmanaged": "in the registry, not managed by Terraform",
    "missing": "managed by Terraform, missing from the registry",
    "settings": "settings differ from the risk tier",
    "terraform": "changed outside Terraform (refresh-only plan)",
    "not_applied": "requested in the tfvars, not in the state",
    "pending_removal": "in the state, no longer in the tfvars",
    "catalog": "the catalog and the tfvars disagree",
    "replication": "the registry's replication configuration differs from the tfvars",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    repository: str | None
    detail: str
    remedy: str = ""  # the command that puts it back, where ecrctl knows one

    def to_dict(self) -> dict[str, Any]:
        found = {"kind": self.kind, "repository": self.repository, "detail": self.detail}
        return {**found, "remedy": self.remedy} if self.remedy else found


# A setting changed outside Terraform goes back to what the tfvars ask by the targeted plan and
# apply of its repository (in place: the guard refuses anything that would replace it).
REMEDIABLE = ("terraform", "settings")


def remedy(finding: Finding, env: str, configured: set[str]) -> str:
    registry_wide = finding.kind == "replication" or (
        finding.kind == "terraform" and finding.repository is None
    )
    if registry_wide and configured:
        # Every targeted plan carries the registry-wide resources (ops/plan.REGISTRY_TARGETS).
        return (
            f"ecrctl apply {min(configured)} --env {env} (any repository's apply puts the"
            " registry-wide configuration back)"
        )
    if finding.kind not in REMEDIABLE or finding.repository not in configured:
        return ""
    if finding.detail.startswith("encryption "):
        return (
            "ECR cannot re-encrypt a repository: create a new one at the tier, move the images,"
            f" decommission this one (ecrctl decommission {finding.repository} --env {env})"
        )
    return f"ecrctl apply {finding.repository} --env {env}"


@dataclass(frozen=True)
class DriftReport:
    env: str
    region: str | None
    findings: tuple[Finding, ...]
    counts: dict[str, int] = field(default_factory=dict)  # registry, state, tfvars, catalog
    statuses: dict[str, str] = field(default_factory=dict)  # catalog status of each repository

    @property
    def drift(self) -> bool:
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "region": self.region,
            "drift": self.drift,
            "counts": dict(self.counts),
            "findings": [f.to_dict() for f in self.findings],
            "statuses": dict(self.statuses),
        }


def drift(
    ctx: Environment, registry: ecr.Ecr | None = None, only: str | None = None
) -> DriftReport:
    """What differs between the tfvars, the catalog, the states and the registry. `only`: one
    state (a shard's number or name, `registry`): its refresh alone, and its repositories."""
    ws, env, progress = ctx.workspace, ctx.env, ctx.progress
    ws.env_dir(env)
    tiers = ctx.tiers
    env_tfvars = ctx.tfvars
    configured = env_tfvars.entries
    cat = ctx.catalog
    catalogued = {
        n: e
        for n, e in cat.entries.items()
        if e.request.env == env and e.status != Status.DECOMMISSIONED
    }
    states = ctx.states if only is None else [ctx.state_named(only)]
    layout.check(ctx, states)
    progress(f"reading the state of {env}")
    if only is None:
        managed = managed_repositories(ctx.held_together())
    else:  # one state's repositories: the rest of the registry is not this run's to judge
        managed = managed_repositories(ctx.held(states[0]))
        configured = {n: r for n, r in configured.items() if states[0].holds(n)}
        catalogued = {n: e for n, e in catalogued.items() if states[0].holds(n)}

    def refresh(state: State) -> list[ResourceChange]:
        terraform = ctx.terraform(state)
        terraform.init()
        return terraform.refresh_only(ctx.tfvars_file)

    # Every state refreshed side by side (one terraform per core).
    refreshed = [c for part in side_by_side(refresh, states) for c in part]
    registry = registry or ctx.ecr()
    progress(f"ECR describe_repositories ({env})")
    existing = registry.repositories()
    if only is not None:
        existing = {n: r for n, r in existing.items() if states[0].holds(n)}

    findings: list[Finding] = []
    for change in refreshed:
        findings.append(
            Finding(
                "terraform", change.instance, f"{change.address}: {change.action} outside Terraform"
            )
        )
    for name in sorted(set(existing) - set(managed)):
        tags = registry.tags(existing[name]["repositoryArn"])
        if tags.get("ManagedBy") == "ecrctl" and tags.get("Environment") not in (None, env):
            continue  # another environment's repository in a shared account
        owner = tags.get("Owner")
        findings.append(
            Finding(
                "unmanaged",
                name,
                "exists in the registry but not in the Terraform state"
                + (f" (tagged Owner={owner})" if owner else ""),
            )
        )
    for name in sorted(set(managed) - set(existing)):
        findings.append(Finding("missing", name, "in the Terraform state but not in the registry"))
    for name in sorted(set(configured) - set(managed)):
        findings.append(
            Finding("not_applied", name, f"requested in envs/{env}/terraform.tfvars, never applied")
        )
    for name in sorted(set(managed) - set(configured)):
        findings.append(
            Finding("pending_removal", name, f"no longer in envs/{env}/terraform.tfvars")
        )
    for name in sorted(set(catalogued) ^ set(configured)):
        where = "the catalog" if name in catalogued else f"envs/{env}/terraform.tfvars"
        findings.append(Finding("catalog", name, f"only in {where}"))
    for name in sorted(set(existing) & set(configured)):
        findings += _settings(name, existing[name], configured[name].risk, tiers, registry)
    if states[0].holds_registry or only is None:  # a shard's run leaves it to the registry's
        progress(f"ECR describe_registry ({env})")
        findings += _replication(ctx, registry)
    counts = {
        "registry": len(existing),
        "state": len(managed),
        "tfvars": len(configured),
        "catalog": len(catalogued),
    }
    findings = [replace(f, remedy=remedy(f, env, set(configured))) for f in findings]
    statuses = {n: str(e.status) for n, e in sorted(catalogued.items())}
    return DriftReport(env, env_tfvars.region, tuple(findings), counts, statuses)


def _settings(
    name: str, repo: dict[str, Any], risk: str, tiers: dict[str, Any], registry: ecr.Ecr
) -> list[Finding]:
    tier = tiers[risk]
    differ = []
    mutability = repo.get("imageTagMutability")
    if mutability != tier.image_tag_mutability:
        differ.append(
            f"image tag mutability {mutability}, the {risk} tier wants {tier.image_tag_mutability}"
        )
    encryption = (repo.get("encryptionConfiguration") or {}).get("encryptionType")
    if encryption != tier.encryption_type:
        differ.append(f"encryption {encryption}, the {risk} tier wants {tier.encryption_type}")
    if not (repo.get("imageScanningConfiguration") or {}).get("scanOnPush", False):
        differ.append("scan on push is off")
    tags = registry.tags(repo["repositoryArn"])
    for key, want in (("RiskTier", risk), ("ManagedBy", "ecrctl")):
        if tags.get(key) != want:
            differ.append(f"tag {key}={tags.get(key)!r}, expected {want!r}")
    return [Finding("settings", name, d) for d in differ]


def _replication(ctx: Environment, registry: ecr.Ecr) -> list[Finding]:
    """The registry's replication rules next to the one rule the tfvars derive (registry.tf)."""
    tf = ctx.tfvars
    account, rules = registry.replication()
    wanted = replication.replication(
        tf.replication_filters, tf.replication_destinations, tf.entries, ctx.tiers
    )
    want = replication.rules_of(wanted, account)
    held: list[replication.Rule] = [
        (
            sorted(
                (d.get("region", ""), d.get("registryId", "")) for d in r.get("destinations", [])
            ),
            sorted(f.get("filter", "") for f in r.get("repositoryFilters", [])),
        )
        for r in rules
    ]
    if held == want:
        return []

    def shown(rules: list[replication.Rule]) -> str:
        if not rules:
            return "none"
        return "; ".join(
            f"to {', '.join(f'{r}@{a}' for r, a in places)} for prefixes {', '.join(filters)}"
            for places, filters in rules
        )

    return [
        Finding(
            "replication",
            None,
            f"the registry replicates {shown(held)}; the tfvars ask {shown(want)}",
        )
    ]


def render_markdown(report: DriftReport) -> str:
    """The drift report for $GITHUB_STEP_SUMMARY."""
    verdict = "⚠️ drift found" if report.drift else "✅ no drift"
    counts = ", ".join(f"{n} in the {k}" for k, n in report.counts.items())
    lines = [f"### ECR drift in `{report.env}`: {verdict}", "", f"{counts}.", ""]
    if report.findings:
        lines += ["| Kind | Repository | Status | Detail | Fix |", "|---|---|---|---|---|"]
        for f in report.findings:
            detail = f.detail.replace("|", "\\|")
            status = report.statuses.get(f.repository or "", "-")
            fix = f"`{f.remedy}`" if f.remedy.startswith("ecrctl ") else f.remedy or "-"
            lines.append(f"| {f.kind} | `{f.repository or '-'}` | {status} | {detail} | {fix} |")
        lines.append("")
    return "\n".join(lines)
