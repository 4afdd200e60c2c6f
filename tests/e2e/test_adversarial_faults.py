"""Faults around terraform and AWS, with real ecrctl and terraform processes on moto.

kill -9 and Ctrl-C during apply, the emulator dying mid-apply, credentials AWS refuses, a stale
saved plan, hand-edited tfvars the plan guard must stop, and no credential in any output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters import emulator, environments
from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from tests.adversarial import (
    ECRCTL,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    Background,
    Run,
    assert_no_secrets,
    boto,
    ecrctl,
    ecrctl_env,
    managed_files,
    private_moto,
    tree_files,
)
from tests.helpers import create_args, wait_for

STATE_KEY = "ecr/local/terraform.tfstate"
READER = "arn:aws:iam::123456789012:role/reader"
BUCKET = "ecrctl-local-tfstate"
LOCK_KEY = STATE_KEY + ".tflock"


def _checked(run: Run, code: int, *args: str) -> Run:
    """`run` exited `code`; a failure is one error line (plus a hint), never a traceback."""
    assert run.code == code, f"{args}: exit {run.code}\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr
    assert_no_secrets(run.stdout, run.stderr, where=f"the output of ecrctl {' '.join(args)}")
    if code != 0:
        errors = [line for line in run.error_lines() if line.startswith("ecrctl: error:")]
        assert len(errors) == 1, run.stderr
        after = run.error_lines()[run.error_lines().index(errors[0]) + 1 :]
        assert all(line.startswith("  hint: ") for line in after), run.stderr
    return run


def _run(env: dict[str, str], code: int, *args: str) -> Run:
    return _checked(ecrctl(env, *args), code, *args)


def _error(run: Run) -> str:
    return next(line for line in run.error_lines() if line.startswith("ecrctl: error:"))


def _create(
    env: dict[str, str], name: str, *extra: str, where: str = "local", risk: str = "low"
) -> None:
    _run(env, 0, *create_args(name, *extra, env=where, owner="app-team-core", risk=risk))


def _apply(env: dict[str, str], code: int, *names: str) -> Run:
    return _run(env, code, "apply", *names, "--env", "local", "--auto-approve")


def _repositories(endpoint: str) -> dict[str, dict[str, Any]]:
    return {
        r["repositoryName"]: r
        for r in boto(endpoint, "ecr").describe_repositories()["repositories"]
    }


def _lock(endpoint: str) -> dict[str, Any] | None:
    """The S3 backend's lock object of the local state, if one is held."""
    s3 = boto(endpoint, "s3")
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _state(endpoint: str, key: str = STATE_KEY) -> bytes | None:
    s3 = boto(endpoint, "s3")
    try:
        return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _kms_key_creating(line: str) -> bool:
    return ".aws_kms_key.this[0]: Creating..." in line


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "zombie"


LAST_SYNC = re.compile(rb'(platform/last-sync: )"[^"]*"')


def _catalog_and_envs(root: Path) -> dict[str, bytes]:
    """catalog/ and envs/, byte for byte but for the time of the last catalog sync.

    The sync that follows every apply, even a failed one, refreshes that timestamp only.
    """
    return {k: LAST_SYNC.sub(rb'\1"..."', v) for k, v in managed_files(root).items()}


@pytest.fixture
def env(local: Workspace, emulator_endpoint: str) -> dict[str, str]:
    return ecrctl_env(local.root, emulator_endpoint)


# -- kill -9 during apply ------------------------------------------------------------------


def test_kill_9_during_apply_keeps_the_lock_until_ecrctl_unlock(
    local: Workspace, env: dict[str, str], emulator_endpoint: str
) -> None:
    _create(env, "orders-api")
    apply = Background.start(
        env, "apply", "orders-api", "--env", "local", "--auto-approve", new_session=True
    )
    try:
        # The plan takes the lock and releases it; wait for the apply's own lock, then kill
        # ecrctl, terraform and the provider before any resource exists.
        assert apply.wait_line(lambda line: "terraform apply (local)" in line, 300)
        assert wait_for(lambda: _lock(emulator_endpoint), 120, 0.02), "apply never took the lock"
        killed_pids = apply.kill_tree()
    finally:
        apply.kill_group()
    killed = apply.finish(60)
    assert killed.code == -signal.SIGKILL
    assert len(killed_pids) >= 2  # ecrctl and terraform at least
    assert wait_for(
        lambda: (
            not any(
                Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid)
                for pid in killed_pids
            )
        ),
        30,
    )
    held = _lock(emulator_endpoint)
    assert held is not None, "the lock of a killed apply is gone"
    assert "orders-api" not in _repositories(emulator_endpoint)

    # The next run is refused with exit 3, naming the holder and the lock ID ...
    for args in (("apply", "orders-api"), ("plan", "orders-api")):
        refused = _run(
            env, 3, *args, "--env", "local", *(["--auto-approve"] if args[0] == "apply" else [])
        )
        assert held["ID"] in refused.stderr
        assert held["Who"] in refused.stderr
        assert f"ecrctl unlock local {held['ID']}" in refused.stderr
        # ... and nothing releases the lock by itself.
        assert _lock(emulator_endpoint) == held

    _run(env, 0, "unlock", "local", held["ID"], "--yes")
    assert _lock(emulator_endpoint) is None
    _apply(env, 0, "orders-api")
    assert "orders-api" in _repositories(emulator_endpoint)


# -- Ctrl-C during apply ---------------------------------------------------------------------


@pytest.mark.parametrize("whom", ["ecrctl", "foreground-group"])
def test_ctrl_c_during_apply_exits_130_releases_the_lock_and_reports_progress(
    local: Workspace, env: dict[str, str], emulator_endpoint: str, whom: str
) -> None:
    """SIGINT to ecrctl alone (a supervisor), or to its whole process group (Ctrl-C in a shell)."""
    names = ["cart-api", "cart-web", "cart-worker"]
    for name in names:
        _create(env, name, "--push-principal", "arn:aws:iam::123456789012:role/ci", risk="high")
    apply = Background.start(
        env, "apply", *names, "--env", "local", "--auto-approve", new_session=True
    )
    try:
        # The provider takes seconds to create a KMS key (it waits for it to propagate): an
        # interrupt sent once one has started lands in the middle of the apply.
        assert apply.wait_line(_kms_key_creating, 300), apply.lines
        if whom == "ecrctl":
            apply.proc.send_signal(signal.SIGINT)
        else:
            os.killpg(apply.proc.pid, signal.SIGINT)
        interrupted = apply.finish(300)
    finally:
        apply.kill_group()
    _checked(interrupted, 130, "apply")
    assert _lock(emulator_endpoint) is None, "an interrupted apply left the lock held"
    # The report is the truth: what terraform saved is what it says was applied, and anything
    # that exists in AWS without being in the state is listed as in flight.
    report = re.fullmatch(
        r"ecrctl: error: interrupted during terraform apply; applied before stopping: (.*?)"
        r"(?:; in flight when it stopped \(may exist in AWS without being in the state\): (.*?))?"
        r"; not applied: (.*)",
        _error(interrupted),
    )
    assert report, _error(interrupted)
    applied, in_flight, not_applied = (
        set() if not part or part == "nothing" else set(part.split(", "))
        for part in report.groups()
    )
    planned = set(re.findall(r"^ecrctl: (\S+): Plan to create$", interrupted.stderr, re.MULTILINE))
    assert applied | in_flight | not_applied == planned
    assert not (applied & in_flight or applied & not_applied or in_flight & not_applied)
    saved = _state_addresses(emulator_endpoint)
    # What was in flight may also have been saved (a create the interrupt cut short is tainted).
    assert applied <= saved <= applied | in_flight
    keys_in_aws = len(boto(emulator_endpoint, "kms").list_keys()["Keys"])
    keys_saved = sum(1 for a in saved if ".aws_kms_key." in a)
    assert keys_in_aws - keys_saved <= sum(1 for a in in_flight if ".aws_kms_key." in a)
    for name in _repositories(emulator_endpoint):
        address = f'module.ecr_repositories["{name}"].aws_ecr_repository.this'
        assert address in saved | in_flight

    if whom == "foreground-group":  # a following apply works (the lock was checked above)
        _apply(env, 0, *names)
        assert set(names) <= set(_repositories(emulator_endpoint))


def test_parts_an_interrupted_create_left_tainted_are_replaced_by_the_rerun(
    local: Workspace, env: dict[str, str], emulator_endpoint: str
) -> None:
    """What an interrupted create can leave (see the Ctrl-C test): parts saved as tainted, the
    repository itself not created yet. Made here on purpose with terraform itself."""
    _create(env, "audit-api", risk="high")
    terraform = Session(local).at("local").terraform()
    terraform.init()
    key = 'module.ecr_repositories["audit-api"].aws_kms_key.this[0]'
    scan = "aws_ecr_registry_scanning_configuration.this[0]"
    var_file = f"-var-file={local.tfvars_file('local')}"
    for argv in (
        ["apply", "-auto-approve", "-input=false", var_file, f"-target={key}", f"-target={scan}"],
        ["taint", key],
        ["taint", scan],
    ):
        subprocess.run(
            ["terraform", *argv],
            cwd=local.terraform_dir,
            env=terraform.environ,
            check=True,
            capture_output=True,
        )
    applied = json.loads(_apply(env, 0, "audit-api", "--output", "json").stdout)
    replaced = {c["address"] for c in applied["plan"]["changes"] if c["action"] == "replace"}
    assert replaced == {key, scan}
    assert all(
        c.get("reason") == "tainted" for c in applied["plan"]["changes"] if c["action"] == "replace"
    )
    assert "audit-api" in _repositories(emulator_endpoint)


def _state_addresses(endpoint: str) -> set[str]:
    """The managed resource instances the state holds (data sources are read, not applied)."""
    state = json.loads(_state(endpoint) or b"{}")
    addresses = set()
    for item in state.get("resources", []):
        if item.get("mode") != "managed":
            continue
        prefix = f"{item['module']}." if item.get("module") else ""
        for instance in item["instances"]:
            key = instance.get("index_key")
            index = "" if key is None else f"[{json.dumps(key)}]"
            addresses.add(f"{prefix}{item['type']}.{item['name']}{index}")
    return addresses


# -- faults of terraform and AWS ---------------------------------------------------------------


def test_emulator_dying_mid_apply_is_exit_3_in_one_line_and_the_catalog_unchanged(
    repo: Workspace,
) -> None:
    # The S3 backend tries each call 5 times with back-off: 20 to 35 s here against a dead
    # endpoint to save the state and release the lock. One try each ends the same way.
    backend = repo.backend_file("local")
    backend.write_text(backend.read_text() + "max_retries    = 1\n")
    with private_moto() as moto:
        emulator.bootstrap(repo, moto.endpoint)
        env = ecrctl_env(repo.root, moto.endpoint)
        names = ["ledger-api", "ledger-web"]
        for name in names:
            _create(env, name, risk="high")
        before = managed_files(repo.root)
        apply = Background.start(
            env, "apply", *names, "--env", "local", "--auto-approve", new_session=True
        )
        try:
            assert apply.wait_line(_kms_key_creating, 300), apply.lines
            moto.kill()
            failed = apply.finish(600)
        finally:
            apply.kill_group()
    _checked(failed, 3, "apply")
    # The cause leads the line; terraform's state, unsaved, is where the hint says.
    assert re.match(
        r"ecrctl: error: terraform apply failed \(exit 1\): [^|]*connection refused", _error(failed)
    ), _error(failed)
    assert "terraform/errored.tfstate" in failed.stderr
    assert (repo.terraform_dir / "errored.tfstate").is_file()
    assert "holds the state lock" not in failed.stderr  # no other run does
    # The backend never got the state, so there is nothing new to sync, and ecrctl does not
    # wait out another round of retries against it: the catalog is unchanged to the byte.
    assert "reading the state" not in failed.stderr
    assert managed_files(repo.root) == before


def _add_sandbox(repo: Workspace) -> None:
    """An environment `sandbox` like dev, staging and prod: terraform runs with the caller's
    credentials (the local environment always uses the emulator's fixed test credentials).
    Its state lives in the local state bucket, under a key of its own."""
    sandbox = repo.envs_dir / "sandbox"
    sandbox.mkdir()
    (sandbox / "backend.hcl").write_text(
        (repo.envs_dir / "local" / "backend.hcl").read_text().replace("/local/", "/sandbox/")
    )
    (sandbox / "terraform.tfvars").write_text(
        (repo.envs_dir / "local" / "terraform.tfvars").read_text().replace('"local"', '"sandbox"')
    )


def test_credentials_aws_refuses_are_exit_3_in_one_line(repo: Workspace) -> None:
    """A non-local environment runs with the caller's credentials; moto in IAM mode refuses them."""
    _add_sandbox(repo)
    with private_moto(auth=True) as moto:
        env = ecrctl_env(repo.root, moto.endpoint)
        _create(env, "vault-api", where="sandbox")
        before = managed_files(repo.root)
        for args in (
            ("plan", "vault-api", "--env", "sandbox"),
            ("apply", "vault-api", "--env", "sandbox", "--auto-approve"),
        ):
            failed = _run(env, 3, *args)
            assert re.search(
                r"InvalidClientTokenId|InvalidAccessKeyId|security token|credentials",
                _error(failed),
            ), _error(failed)
        assert managed_files(repo.root) == before  # it failed before any apply: no sync either
        assert_no_secrets(*(p.read_bytes() for p in tree_files(repo.state_dir)), where=".ecrctl/")


def test_a_stale_saved_plan_is_refused_and_never_planned_again(
    local: Workspace, env: dict[str, str], emulator_endpoint: str
) -> None:
    _create(env, "search-api")
    _create(env, "search-web")
    planned = _run(env, 0, "plan", "search-api", "--env", "local", "--output", "json")
    plan_file = Path(json.loads(planned.stdout)["plan_file"])
    plan_bytes = plan_file.read_bytes()
    _apply(env, 0, "search-web")  # the state moves on
    state = _state(emulator_endpoint)
    before = _catalog_and_envs(local.root)

    stale = _run(env, 3, "apply", "--env", "local", "--plan", str(plan_file), "--auto-approve")
    assert "stale" in _error(stale).lower()
    assert "plan again" in stale.stderr
    assert "search-api" not in _repositories(emulator_endpoint)  # not re-planned and applied
    assert _state(emulator_endpoint) == state
    assert plan_file.read_bytes() == plan_bytes
    assert _catalog_and_envs(local.root) == before
    assert _lock(emulator_endpoint) is None


# -- the plan guard against hand-edited tfvars -------------------------------------------------


def test_hand_edited_tfvars_that_would_destroy_a_repository_are_refused(
    local: Workspace, env: dict[str, str], emulator_endpoint: str
) -> None:
    _create(env, "billing-api")
    _create(env, "billing-web")
    _apply(env, 0, "billing-api", "billing-web")
    live = _repositories(emulator_endpoint)
    tfvars_file = local.tfvars_file("local")
    text = tfvars_file.read_text()

    # 1. Someone renames an entry by hand: Terraform now wants to delete billing-api. A create
    #    and apply of another repository must not carry that delete along.
    tfvars_file.write_text(text.replace('"billing-api" = {', '"billing-apx" = {'))
    _create(env, "billing-db")
    refused = _apply(env, 1, "billing-db")
    assert 'module.ecr_repositories["billing-api"].aws_ecr_repository.this' in _error(refused)
    planned = _run(env, 1, "plan", "billing-db", "--env", "local")
    # In the plan's listing (terraform's own progress on stderr names it too, so not there).
    assert (
        'guard: module.ecr_repositories["billing-api"].aws_ecr_repository.this (delete)'
        in planned.stdout
    )

    # 2. Someone raises a tier by hand (low -> high changes the encryption: a replacement).
    tfvars_file.write_text(text.replace('risk            = "low"', 'risk            = "high"', 1))
    refused = _apply(env, 1, "billing-api")
    assert 'module.ecr_repositories["billing-api"].aws_ecr_repository.this (replace)' in _error(
        refused
    )

    # 3. Someone deletes an entry by hand and applies it: only a decommission (backup first)
    #    may delete a repository the catalog lists as active.
    tfvars_file.write_text(re.sub(r'  "billing-web" = \{.*?\n  \}\n', "", text, flags=re.S))
    refused = _apply(env, 1, "billing-web")
    assert 'module.ecr_repositories["billing-web"].aws_ecr_repository.this' in _error(refused)
    assert "ecrctl decommission billing-web --env local" in refused.stderr

    assert _repositories(emulator_endpoint).keys() == live.keys()
    for name, repository in _repositories(emulator_endpoint).items():
        assert repository["createdAt"] == live[name]["createdAt"]
        assert repository["encryptionConfiguration"] == live[name]["encryptionConfiguration"]
    assert _lock(emulator_endpoint) is None


# -- secrets -----------------------------------------------------------------------------------


def test_no_credential_reaches_any_output_file_or_state(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's secret key and session token, which terraform, its AWS provider and the S3
    backend run with outside the local environment, never leave the process environment."""
    _add_sandbox(repo)
    # They do reach terraform in this environment, so a leak anywhere would show.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    terraform_environ = environments.process_environ(repo, "sandbox", "us-east-1")
    assert terraform_environ["AWS_SECRET_ACCESS_KEY"] == SECRET_ACCESS_KEY
    assert terraform_environ["AWS_SESSION_TOKEN"] == SESSION_TOKEN

    with private_moto() as moto:  # not in IAM mode: it takes any credentials
        emulator.bootstrap(repo, moto.endpoint)
        env = ecrctl_env(repo.root, moto.endpoint)
        _create(env, "token-api", "--pull-principal", READER, where="sandbox")
        _run(env, 0, "plan", "token-api", "--env", "sandbox")  # a saved plan and its summary
        _run(env, 0, "apply", "token-api", "--env", "sandbox", "--auto-approve", "--output", "json")
        _run(env, 0, "list", "--env", "sandbox", "--output", "json")
        _run(env, 0, "validate")
        assert "token-api" in _repositories(moto.endpoint)
        state = _state(moto.endpoint, "ecr/sandbox/terraform.tfstate")
        assert state and b"token-api" in state
        assert_no_secrets(state, where="the Terraform state")
        # The emulator's whole memory: nothing ecrctl or terraform sent it holds a credential.
        with urllib.request.urlopen(f"{moto.endpoint}/moto-api/data.json", timeout=10) as data:
            assert_no_secrets(data.read(), where="the emulator")
    # Catalog, tfvars, Backstage entities, saved plans and their summaries, terraform's data
    # directory: every file under the repository.
    files = list(tree_files(repo.root))
    assert any(p.name.endswith(".tfplan.json") for p in files)  # the plan summaries are there
    assert_no_secrets(*(p.read_bytes() for p in files), where="the repository")


# -- decommission ------------------------------------------------------------------------------


def _big_manifest(layers: int) -> str:
    def blob(i: int) -> str:
        return "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": blob(-1),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1000 + i,
                    "digest": blob(i),
                }
                for i in range(layers)
            ],
        }
    )


def _limit_file_size(limit: int) -> Any:
    """A preexec_fn: files the child writes may not grow past `limit` bytes (EFBIG after)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_decommission_whose_backup_fails_half_way_destroys_and_changes_nothing(
    local: Workspace, env: dict[str, str], emulator_endpoint: str
) -> None:
    _create(env, "legacy-api")
    _apply(env, 0, "legacy-api")
    ecr = boto(emulator_endpoint, "ecr")
    pushed = {}
    limit = 256 * 1024
    small, big = _big_manifest(1), _big_manifest(6000)
    # The bundle writes the catalog and tfvars entries, the state, the repository and its
    # policies first, every one far below the limit, then the image manifests: only the big
    # one passes the limit, so the write fails after the others were written.
    assert len(small) < limit < len(big)
    for tag, manifest in (("small", small), ("big", big)):
        digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        ecr.put_image(
            repositoryName="legacy-api", imageManifest=manifest, imageTag=tag, imageDigest=digest
        )
        pushed[digest] = tag
    before_files = managed_files(local.root)
    before_state = _state(emulator_endpoint)
    backups = local.root / "backups"

    # The backup's small files fit; the big manifest does not: the write fails half-way, as on
    # a full disk or an exhausted quota (RLIMIT_FSIZE makes the write fail with EFBIG).
    proc = subprocess.run(
        [
            ECRCTL,
            "decommission",
            "legacy-api",
            "--env",
            "local",
            "--reason",
            "adversarial",
            "--force",
            "--auto-approve",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_file_size(limit),
    )
    failed = _checked(Run(proc.returncode, proc.stdout, proc.stderr), 1, "decommission")
    assert "could not write the backup" in _error(failed)
    assert "File too large" in _error(failed) and "nothing was changed" in failed.stderr
    assert managed_files(local.root) == before_files
    assert _state(emulator_endpoint) == before_state
    assert "legacy-api" in _repositories(emulator_endpoint)
    images = ecr.describe_images(repositoryName="legacy-api")["imageDetails"]
    assert {i["imageDigest"] for i in images} == set(pushed)
    # No bundle, and no partial one: a bundle directory that exists is a complete one.
    assert not any(p.is_file() for p in backups.rglob("*"))
