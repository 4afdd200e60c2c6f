"""validate: every problem in the catalog and the tfvars, each with its file and line."""

from __future__ import annotations

from orchestrator.errors import FileError, UserError
from orchestrator.files import catalog, scan_filters, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import (
    Problem,
    RiskTier,
    Status,
)
from orchestrator.rules import replication, scanning, settings


def validate(ws: Workspace, env: str | None = None) -> list[Problem]:
    """Every problem in the catalog and the tfvars of `env` (or of every environment)."""
    import hcl2  # deferred: only validate needs the second, independent HCL reader

    problems: list[Problem] = []
    tiers = tiers_file.load(ws.tiers_file)
    envs = [env] if env else ws.environments()
    if env:
        ws.env_dir(env)
    cat_path = ws.relative(ws.catalog_file)
    cat: catalog.Catalog | None = None
    try:
        cat, entry_problems = catalog.parse_file(ws.catalog_file, tiers)
        problems += entry_problems
    except UserError as exc:
        problems.append(Problem(cat_path, _line(exc), _reason(exc)))
    known_envs = set(ws.environments())
    all_tfvars: dict[str, tfvars.Tfvars] = {}
    for name in envs:
        path = ws.tfvars_file(name)
        rel = ws.relative(path)
        try:
            all_tfvars[name] = tfvars.load(path, name)
            scan_problems = scanning.check_filters(
                all_tfvars[name].scan_filters, all_tfvars[name].entries, tiers
            )
        except UserError as exc:
            problems.append(Problem(rel, _line(exc), _reason(exc)))
            continue
        document = all_tfvars[name].document
        line = document.attr_lines.get(scanning.VARIABLE, 1)
        problems += [Problem(rel, line, message) for message in scan_problems]
        # Every setting outside ecr_repositories holds to its rule (rules/settings.py).
        for key, message in settings.problems(document.values, name):
            problems.append(Problem(rel, document.attr_lines.get(key, 1), message))
        held = all_tfvars[name]
        wanted = list(scanning.cover_of(held.entries, tiers).filters)
        # Only this list: a missing registry_replication_filters is reported below, by itself.
        if not scan_problems and not scan_filters.same_filters(
            held.filters(scanning.VARIABLE), wanted
        ):
            shown = ", ".join(map(repr, wanted[:5])) + (" ..." if len(wanted) > 5 else "")
            problems.append(
                Problem(
                    rel,
                    line,
                    f"{scanning.VARIABLE} is not what ecrctl computes from ecr_repositories"
                    f" ({shown or 'no filters: no line'}); ecrctl writes it on every change",
                )
            )
        problems += _replication_problems(rel, held, tiers)
        try:
            hcl2.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # python-hcl2 raises lark errors of many kinds
            problems.append(
                Problem(rel, 1, f"python-hcl2 cannot parse it: {str(exc).splitlines()[0]}")
            )
    problems += _replication_sources(ws, all_tfvars)
    if cat is None:
        return problems
    ids: dict[str, str] = {}
    for entry in cat.entries.values():
        req = entry.request
        line = cat.lines.get(req.name, 1)
        if req.registry_id in ids:
            problems.append(
                Problem(
                    cat_path,
                    line,
                    f"registry ID {req.registry_id} is used by"
                    f" both {ids[req.registry_id]!r} and {req.name!r}",
                )
            )
        ids[req.registry_id] = req.name
        if req.env not in known_envs:
            problems.append(
                Problem(
                    cat_path,
                    line,
                    f"{req.name!r}: environment {req.env!r} does not exist under envs/",
                )
            )
            continue
        tf = all_tfvars.get(req.env)
        if tf is None:
            continue
        rel = ws.relative(tf.path)
        in_tf = tf.entries.get(req.name)
        if entry.status == Status.DECOMMISSIONED:
            if in_tf is not None:
                problems.append(
                    Problem(
                        rel,
                        _tf_line(tf, req.name),
                        f"{req.name!r} is decommissioned in the catalog but still in the tfvars",
                    )
                )
        elif in_tf is None:
            problems.append(
                Problem(cat_path, line, f"{req.name!r} ({entry.status}) is missing from {rel}")
            )
        elif not catalog.same_request(in_tf, req):
            problems.append(
                Problem(
                    rel,
                    _tf_line(tf, req.name),
                    f"{req.name!r} differs from the"
                    " catalog: " + catalog.describe_difference(req, in_tf),
                )
            )
    for name, tf in all_tfvars.items():
        for repo in tf.entries:
            if repo not in cat.entries:
                problems.append(
                    Problem(
                        ws.relative(tf.path), _tf_line(tf, repo), f"{repo!r} is not in {cat_path}"
                    )
                )
            elif cat.entries[repo].request.env != name:
                problems.append(
                    Problem(
                        ws.relative(tf.path),
                        _tf_line(tf, repo),
                        f"{repo!r} is catalogued for environment {cat.entries[repo].request.env!r}",
                    )
                )
    return problems


def _replication_problems(rel: str, tf: tfvars.Tfvars, tiers: dict[str, RiskTier]) -> list[Problem]:
    """The replication filters as registry.tf would refuse them, or not what ecrctl writes."""
    lines = tf.document.attr_lines
    line = lines.get(replication.VARIABLE, lines.get(replication.DESTINATIONS, 1))
    try:
        written = tf.replication_filters
        if not tf.replication_destinations:
            if written:
                return [
                    Problem(
                        rel,
                        line,
                        f"{replication.VARIABLE} is set but replication_destinations is empty:"
                        " nothing replicates; delete the line",
                    )
                ]
            return []
        found = replication.check_filters(written, tf.entries, tiers)
        wanted = scan_filters.replication_filters(tf, tiers)
    except UserError as exc:
        return [Problem(rel, _line(exc) if isinstance(exc, FileError) else line, _reason(exc))]
    if not found and not scan_filters.same_filters(written, wanted):
        # After a hand edit of replication_destinations no ecrctl command rewrites the list:
        # say the line to write (in full while it is short).
        shown = ", ".join(f'"{f}"' for f in wanted[:10]) + (" ..." if len(wanted) > 10 else "")
        found.append(
            f"{replication.VARIABLE} is not what ecrctl computes from ecr_repositories and the"
            f" destinations: write {replication.VARIABLE} = [{shown}] above ecr_repositories"
            " (ecrctl rewrites it on every change of ecr_repositories)"
        )
    return [Problem(rel, line, message) for message in found]


def _replication_sources(ws: Workspace, envs: dict[str, tfvars.Tfvars]) -> list[Problem]:
    """A managed environment replicating into another's registry needs that registry's
    permission: the destination's replication_sources must list the source's account."""
    found = []
    by_registry = {
        (acct, tf.region): (name, tf)
        for name, tf in envs.items()
        if isinstance(acct := tf.document.values.get(settings.ACCOUNT), str)
    }
    for name, tf in envs.items():
        account = tf.document.values.get(settings.ACCOUNT)
        for destination in tf.replication_destinations:
            if destination.registry_id is None:
                continue
            target = by_registry.get((destination.registry_id, destination.region))
            if target is None or target[0] == name:
                continue
            other, other_tf = target
            rel = ws.relative(other_tf.path)
            line = other_tf.document.attr_lines.get(settings.SOURCES, 1)
            if not isinstance(account, str):
                found.append(
                    Problem(
                        ws.relative(tf.path),
                        tf.document.attr_lines.get(settings.DESTINATIONS, 1),
                        f"replicates into {other}'s registry ({destination}), which must let"
                        f" this account in: declare account_id in envs/{name}/terraform.tfvars",
                    )
                )
                continue
            sources = other_tf.document.values.get(settings.SOURCES) or []
            if account not in sources:
                found.append(
                    Problem(
                        rel,
                        line,
                        f"{name} ({account}) replicates into this registry, but"
                        f" replication_sources does not list {account}: ECR would refuse its"
                        f' replication; add "{account}" to replication_sources',
                    )
                )
    return found


def _tf_line(tf: tfvars.Tfvars, name: str) -> int:
    spans = tf.document.spans.get(tfvars.VARIABLE)
    return spans.lines.get(name, 1) if spans else 1


def _line(exc: UserError) -> int:
    return exc.line if isinstance(exc, FileError) else 1


def _reason(exc: UserError) -> str:
    """The error without its `path:line: ` (a Problem names the file itself, once)."""
    return exc.reason if isinstance(exc, FileError) else exc.message
