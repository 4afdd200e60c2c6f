"""ecrctl shards migrate: move an environment's states to another shard count, with no AWS change.

The resources move between state objects in S3 (the states' JSON rewritten: every module
instance into its repository's shard, the registry-wide resources into the state that holds the
registry), never through terraform: no provider load, no refresh, no plan, nothing asked of AWS
but S3. A `terraform state mv -state/-state-out` on local copies would do the same surgery at the
price of one terraform process per moved instance, and `removed`/`import` blocks at the price of
a plan and apply (a provider load and a refresh of every resource) per state.

A migration is a small plan in .ecrctl/migrations/ENV.json (read by ops/layout.py, which refuses
every plan while it exists) with each step's status:

1. locks: every state object it reads or writes is locked with Terraform's own lock object;
2. backup: every current state copied to .ecrctl/migrations/ENV-ID/ (from here on the source
   of truth: a rerun recomputes everything from these copies, never from what it half wrote);
3. one write per new state (its lineage kept where the key already has one, its serial above
   both the key's and the copy's, so the S3 backend and terraform take it as the newer state),
   then an empty state at every old key no longer used;
4. `state_shards` in envs/ENV/terraform.tfvars (through the transaction);
5. the locks released, the plan file removed.

Killed at any point, the same command again finishes it; `--to` the former count rolls it back
(every old state written back from its copy, the new keys emptied, the tfvars restored). Each
direction marks the states it wrote; when a run goes the other way than the marks it finds (a
rollback cut short, then finished forward after all, or the reverse), it drops them first and
writes every state again, since the other direction may have written over a state marked done.
"""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.adapters import planfile, s3_state
from orchestrator.context import Environment, Session, State
from orchestrator.errors import UserError
from orchestrator.files.workspace import atomic_write
from orchestrator.models import instance_of
from orchestrator.ops import layout
from orchestrator.ops.plan import is_fresh
from orchestrator.rules import shards


@dataclass(frozen=True)
class Migration:
    env: str
    before: int
    after: int
    states: dict[str, int]  # state name -> repositories it holds afterwards
    backup: Path
    rolled_back: bool = False
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "from": self.before,
            "to": self.after,
            "states": self.states,
            "backup": str(self.backup),
            "rolled_back": self.rolled_back,
            "resumed": self.resumed,
        }


def listing(session: Session, env: str | None = None) -> list[dict[str, Any]]:
    """Every (environment, state) of the workspace, or of `env`: what a CI matrix runs one
    job per (the drift workflow). Reads each tfvars and backend.hcl; no terraform, no AWS."""
    envs = [env] if env is not None else session.workspace.environments()
    return [
        {"env": name, "state": state.name, "key": state.key}
        for name in envs
        for state in session.at(name).states
    ]


def check_count(to: int) -> None:
    """Refuse a shard count outside 1..99 (before anything is asked or read)."""
    problem = shards.check_setting(to)
    if problem is not None:
        raise UserError(f"--to: {problem.split(' (')[0]}", "e.g. ecrctl shards migrate --to 4")


def migrate(ctx: Environment, to: int) -> Migration:
    """Move `ctx`'s states to `to` shards (or finish / roll back a migration cut short)."""
    check_count(to)
    ws, env = ctx.workspace, ctx.env
    path = layout.migration_file(ws, env)
    plan = _load(path)
    resumed = plan is not None
    if plan is None:
        now = ctx.shards
        if to == now:
            raise UserError(f"envs/{env}/terraform.tfvars already sets state_shards = {to}")
        _refuse_pending_plans(ctx)
        run = ctx.now().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        plan = {
            "env": env,
            "from": now,
            "to": to,
            "base_key": ctx.backend_key,
            "lock_id": str(uuid.uuid4()),
            "backup": str(ws.state_dir / "migrations" / f"{env}-{run}"),
            "steps": {},
        }
        _save(path, plan)
    elif to not in (plan["from"], plan["to"]):
        raise UserError(
            f"a migration of {env} from {plan['from']} to {plan['to']} shards is unfinished",
            f"finish it: ecrctl shards migrate --env {env} --to {plan['to']}, or roll it back:"
            f" --to {plan['from']}",
        )
    if plan["base_key"] != ctx.backend_key:
        raise UserError(
            f"envs/{env}/backend.hcl's key changed during the migration of {env}",
            f"put back key = {plan['base_key']!r}, then run the migration again",
        )
    rollback = resumed and to == plan["from"]
    sources = shards.states(plan["base_key"], plan["from"])
    targets = shards.states(plan["base_key"], plan["to"])
    backend = s3_state.Backend(ctx.backend_file, ctx.process_environ)
    keys = sorted({s.key for s in sources + targets})
    _lock_all(ctx, backend, plan, keys, path)
    backup = Path(plan["backup"])
    if not plan["steps"].get("backup"):
        if rollback:  # nothing was written yet: only the locks and the plan to undo
            _release(backend, plan, keys)
            path.unlink()
            return Migration(env, plan["from"], plan["to"], {}, backup, True, True)
        _check_targets_free(ctx, backend, sources, targets)
        backup.mkdir(parents=True, exist_ok=True)
        for state in sources:
            atomic_write(backup / f"{state.name}.tfstate", backend.get(state.key) or "")
        plan["steps"]["backup"] = "done"
        _save(path, plan)
    copies = {s.name: _parse(s, (backup / f"{s.name}.tfstate").read_text()) for s in sources}
    if rollback:
        wanted = {s.key: copies[s.name] for s in sources}
        empty = [t.key for t in targets if t.key not in wanted]
        final = plan["from"]
    else:
        split = _split(copies, targets)
        wanted = {t.key: content for t, content in zip(targets, split, strict=True)}
        empty = [s.key for s in sources if s.key not in wanted]
        final = plan["to"]
    step = "rollback" if rollback else "write"
    if any(done.startswith("rollback:" if step == "write" else "write:") for done in plan["steps"]):
        # The other direction wrote over some of this one's states since they were marked done
        # (a rollback cut short, then finished forward after all, or the reverse): every state
        # is written again from the backup, and that is recorded before the first write.
        plan["steps"] = {"backup": "done"}
        _save(path, plan)
    for key, content in wanted.items():
        if plan["steps"].get(f"{step}:{key}") != "done":
            _write(backend, key, content)
            plan["steps"][f"{step}:{key}"] = "done"
            _save(path, plan)
    for key in empty:
        if plan["steps"].get(f"{step}:{key}") != "done":
            _write(backend, key, {"resources": [], "outputs": {}})
            plan["steps"][f"{step}:{key}"] = "done"
            _save(path, plan)
    with ctx.transaction() as txn:
        txn.set_shards(final)
        txn.commit()
    _release(backend, plan, keys)
    atomic_write(backup / "migration.json", json.dumps({**plan, "done": step}, indent=2))
    path.unlink()
    counts = {
        state.name: len(shards.held_repositories(wanted[state.key]))
        for state in (sources if rollback else targets)
    }
    return Migration(env, plan["from"], plan["to"], counts, backup, rollback, resumed)


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        found = None
    if not isinstance(found, dict) or not {"from", "to", "base_key", "lock_id"} <= set(found):
        raise UserError(
            f"{path} is not a migration plan ecrctl wrote",
            "restore it from its backup directory's migration.json, or remove it if no"
            " migration ran",
        )
    return found


def _save(path: Path, plan: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(plan, indent=2) + "\n")


def _lock_all(
    ctx: Environment, backend: s3_state.Backend, plan: dict[str, Any], keys: list[str], path: Path
) -> None:
    info = json.dumps(
        {
            "ID": plan["lock_id"],
            "Operation": "OperationTypeInvalid",
            "Info": f"ecrctl shards migrate --env {ctx.env} --to {plan['to']}",
            "Who": f"{getpass.getuser()}@{socket.gethostname()}",
            "Version": "ecrctl",
            "Created": ctx.now().isoformat(),
            "Path": "",
        }
    )
    for key in keys:
        if backend.lock(key, info):
            continue
        held = backend.lock_holder(key) or ""
        if plan["lock_id"] in held:
            continue  # this migration's own lock, from a run that was cut short
        _release(backend, plan, keys)
        if not plan["steps"]:
            path.unlink(missing_ok=True)
        holder = _holder(held)
        raise UserError(
            f"the state {key} of {ctx.env} is locked{holder}: the migration did not start",
            "wait for that run, or only if it died: ecrctl unlock (the lock ID above)",
        )


def _holder(held: str) -> str:
    try:
        info = json.loads(held)
        return f" by {info.get('Who')} (lock ID {info.get('ID')})"
    except (ValueError, AttributeError):
        return ""


def _release(backend: s3_state.Backend, plan: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        held = backend.lock_holder(key)
        if held is not None and plan["lock_id"] in held:
            backend.unlock(key)


def _refuse_pending_plans(ctx: Environment) -> None:
    """A saved plan that could still be applied would apply against the old layout."""
    folder = ctx.workspace.state_dir / "plans" / ctx.env
    for path in sorted(folder.glob("*.tfplan")) if folder.is_dir() else []:
        try:
            saved = planfile.read(path)
            prior = planfile.prior_state(path)
        except (UserError, OSError, ValueError):
            continue  # a plan set's manifest (its parts are looked at), or not a plan
        name = str(saved.variables.get("state_name", shards.MAIN))
        state = next((s for s in ctx.states if s.name == name), None)
        if state is None:
            continue
        if is_fresh(prior, ctx.held(state)):
            raise UserError(
                f"a saved plan of {ctx.env} is pending: {ctx.workspace.relative(path)}",
                f"apply it (ecrctl apply --env {ctx.env} --plan ...) or delete it, then migrate",
            )


def _check_targets_free(
    ctx: Environment, backend: s3_state.Backend, sources: list[State], targets: list[State]
) -> None:
    """A new key holding resources is another layout's state: never written over."""
    known = {s.key for s in sources}
    for state in targets:
        if state.key in known:
            continue
        text = backend.get(state.key)
        held = json.loads(text) if text and text.strip() else {}
        if shards.held_repositories(held) or shards.holds_registry_resources(held):
            raise UserError(
                f"the state {state.key} of {ctx.env} already holds resources, but the layout"
                f" of {ctx.shards} shard(s) does not use it: nothing was moved",
                "check envs/ENV/backend.hcl and state_shards, or move that state away first",
            )


def _parse(state: State, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        raise UserError(f"the state {state.key} is not readable JSON: nothing was moved") from None
    if not isinstance(found, dict) or found.get("version") != 4:
        raise UserError(f"the state {state.key} is not a Terraform state ecrctl reads")
    return found


def _split(copies: dict[str, dict[str, Any]], targets: list[State]) -> list[dict[str, Any]]:
    """The new states' contents: each module instance in its shard, the registry's resources in
    the state holding it, the data sources' last reads in every state."""
    resources = [r for state in copies.values() for r in state.get("resources") or []]
    registry = next((s for s in copies.values() if shards.holds_registry_resources(s)), {})
    with_outputs = [registry, *copies.values()]
    outputs = next((dict(s["outputs"]) for s in with_outputs if s.get("outputs")), {})
    version = next(
        (s["terraform_version"] for s in copies.values() if s.get("terraform_version")), None
    )
    kept: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    holder = next(t.name for t in targets if t.holds_registry)
    by_shard = {t.shard: t.name for t in targets if t.shard is not None}
    count, seen = targets[0].shards, set()
    for resource in resources:  # one pass: each resource's state computed once
        name = instance_of(str(resource.get("module", "")) + ".x")
        if name is not None:
            kept[holder if count == 1 else by_shard[shards.shard_of(name, count)]].append(resource)
        elif resource.get("mode") == "data":
            address = (resource.get("type"), resource.get("name"))
            if address not in seen:  # one read of each, whichever state made it, everywhere
                seen.add(address)
                for found in kept.values():
                    found.append(resource)
        else:
            kept[holder].append(resource)
    return [
        {"resources": kept[t.name], "outputs": outputs, "terraform_version": version}
        for t in targets
    ]


def _write(backend: s3_state.Backend, key: str, content: dict[str, Any]) -> None:
    """`content`'s resources and outputs as the state at `key`: the key's own lineage (a new
    one for a key never written) and a serial above both the key's and the content's."""
    text = backend.get(key)
    current = json.loads(text) if text and text.strip() else {}
    state = {
        "version": 4,
        "terraform_version": content.get("terraform_version")
        or current.get("terraform_version")
        or "1.11.0",
        "serial": max(int(current.get("serial", 0)), int(content.get("serial", 0))) + 1,
        "lineage": current.get("lineage") or content.get("lineage") or str(uuid.uuid4()),
        "outputs": content.get("outputs") or {},
        "resources": content.get("resources") or [],
        "check_results": None,
    }
    backend.put(key, json.dumps(state, indent=2) + "\n")
