"""Trust boundaries (issue 23): what a user's tree or a checkout holds is refused in one line.

Each case here is something a checkout, a careless hand or another program can leave in the
tree; ecrctl answers it with exit 1, one error line and its hint, and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from pytest_subprocess import FakeProcess

from orchestrator.adapters.terraform import Settings, Terraform
from orchestrator.errors import FileError, TerraformError
from orchestrator.files import hcl, yaml_strict
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import backup
from orchestrator.ops import backstage, owners
from tests.helpers import cli, snapshot
from tests.unit import test_decommission as dec

CREATE = ("create", "trust-svc", "--env", "local", "--owner", "app-team-x", "--risk", "low")


def one_error(err: str, *needles: str) -> str:
    """The error's first line, after checking it is one line and a hint, with each needle."""
    lines = err.rstrip("\n").splitlines()
    assert len(lines) == 2 and lines[0].startswith("ecrctl: error: "), err
    assert lines[1].startswith("  hint: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return lines[0]


# -- item 8: an unusable .ecrctl/files.lock -----------------------------------------------------


def _lock_is_a_directory(root: Path) -> str:
    (root / ".ecrctl" / "files.lock").mkdir(parents=True)
    return "rm -r " + str(root / ".ecrctl" / "files.lock")


def _lock_is_a_symlink(root: Path) -> str:
    (root / ".ecrctl").mkdir()
    (root / ".ecrctl" / "files.lock").symlink_to(root / "elsewhere")
    return "rm -r " + str(root / ".ecrctl" / "files.lock")


def _state_dir_is_a_file(root: Path) -> str:
    (root / ".ecrctl").write_text("")
    return "rm -r " + str(root / ".ecrctl")


@pytest.mark.parametrize(
    "damage",
    [_lock_is_a_directory, _lock_is_a_symlink, _state_dir_is_a_file],
    ids=lambda f: f.__name__,
)
def test_an_unusable_lock_file_is_exit_1_naming_what_to_remove(
    repo: Workspace, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], str]
) -> None:
    remove = damage(repo.root)
    before = snapshot(repo.root)
    result = cli(capsys, *CREATE)
    assert result.code == 1, result.stderr
    one_error(result.stderr, "files.lock", remove)
    assert snapshot(repo.root) == before
    assert not (repo.root / "elsewhere").exists()  # the symlink was not followed


# -- item 7: every YAML read from a user is read as strictly as the catalog ---------------------

ADOPT_DUPLICATE = """\
- name: legacy-app
  owner: app-team-x
  risk: high
  risk: low
"""


def _adopt(capsys: pytest.CaptureFixture[str], source: Path) -> str:
    result = cli(capsys, "adopt", "--env", "local", "--from", str(source), "--dry-run")
    assert result.code == 1, result.stderr
    assert result.stdout == ""
    return one_error(result.stderr, str(source))


def test_an_adopt_file_naming_a_key_twice_is_refused_at_its_line(
    repo: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "adopt.yaml"
    source.write_text(ADOPT_DUPLICATE)
    before = snapshot(repo.root)
    assert _adopt(capsys, source).endswith(f"{source}:4: key 'risk' appears twice")
    assert snapshot(repo.root) == before


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "adopt.fifo")  # opened for reading, a FIFO with no writer would block
    return tmp_path / "adopt.fifo"


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "adopt.yaml"
    with open(path, "wb") as handle:  # sparse: 65 MiB on paper, nothing on disk
        handle.truncate(yaml_strict.MAX_BYTES + 1)
    return path


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (lambda tmp: Path("/dev/zero"), "is not a regular file"),
        (_fifo, "is not a regular file"),
        (lambda tmp: tmp, "is not a regular file"),
        (_huge, "is larger than 64 MiB"),
    ],
    ids=["dev-zero", "fifo", "directory", "huge"],
)
def test_an_adopt_file_that_is_no_bounded_regular_file_is_refused_unread(
    repo: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: Callable[[Path], Path],
    reason: str,
) -> None:
    path = source(tmp_path)
    before = snapshot(repo.root)
    assert reason in _adopt(capsys, path)
    assert snapshot(repo.root) == before


def test_a_catalog_that_is_a_device_is_refused_unread(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.catalog_file.unlink()
    repo.catalog_file.symlink_to("/dev/zero")
    result = cli(capsys, *CREATE)
    assert result.code == 1, result.stderr
    one_error(result.stderr, "catalog", "is not a regular file")


def test_backstage_files_are_read_as_strictly_as_the_catalog(repo: Workspace) -> None:
    groups = repo.catalog_dir / "groups"
    groups.mkdir()
    group = groups / "team.yaml"
    group.write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\n"
        "metadata:\n  name: app-team-x\n  name: app-team-y\nspec:\n  type: team\n"
    )
    with pytest.raises(FileError, match=r"team\.yaml:5: key 'name' appears twice"):
        owners.load(repo, {})
    group.write_text("kind: Group\nmetadata: &m {name: a}\nspec: *m\n")
    with pytest.raises(FileError, match="aliases"):
        owners.load(repo, {})
    entity = repo.catalog_dir / "all.yaml"
    with pytest.raises(FileError, match=r"all\.yaml:2: key 'kind' appears twice"):
        backstage.load_documents(entity, "kind: Location\nkind: Component\n")


# -- item 4: restore reads nothing outside the bundle, and no symlink in it ---------------------


@pytest.fixture
def bundle(repo: Workspace) -> Iterator[tuple[Path, dec.FakeTerraform]]:
    """A real bundle of a decommissioned repository holding two images (registry in memory)."""
    with mock_aws():
        fake = dec.FakeTerraform(dec.client())
        path, _pushed = dec.decommissioned(repo, fake)
        yield path, fake


def _sums(path: Path) -> dict[str, str]:
    return dict(json.loads((path / backup.SUMS).read_text())["files"])


def _rewrite(path: Path, sums: dict[str, str], index: list[dict[str, object]]) -> None:
    """Rewrite index.json and manifest.json so that every checksum is right (a forger's bundle)."""
    text = json.dumps(index)
    (path / backup.IMAGE_INDEX).write_text(text)
    sums[backup.IMAGE_INDEX] = hashlib.sha256(text.encode()).hexdigest()
    (path / backup.SUMS).write_text(json.dumps({"files": sums}))


def _outside_by_dotdot(path: Path, outside: Path) -> str:
    return os.path.relpath(outside, path)


def _outside_absolute(path: Path, outside: Path) -> str:
    return str(outside)


@pytest.mark.parametrize("name_it", [_outside_by_dotdot, _outside_absolute])
def test_a_bundle_naming_a_file_outside_itself_is_refused(
    repo: Workspace,
    bundle: tuple[Path, dec.FakeTerraform],
    capsys: pytest.CaptureFixture[str],
    name_it: Callable[[Path, Path], str],
) -> None:
    path, fake = bundle
    outside = repo.root.parent / "secret.txt"  # stands for /etc/passwd: any file the user reads
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    rel = name_it(path, outside)
    sums = _sums(path)
    sums[rel] = hashlib.sha256(outside.read_bytes()).hexdigest()  # its true checksum
    index = json.loads((path / backup.IMAGE_INDEX).read_text())
    index[0]["manifest"] = rel
    _rewrite(path, sums, index)
    before = snapshot(repo.root)
    with pytest.raises(backup.BackupError, match="outside the bundle"):
        dec.restore(repo, fake, path)
    result = cli(capsys, "restore", str(path), "--auto-approve")
    assert result.code == 1, result.stderr
    one_error(result.stderr, rel, "outside the bundle")
    assert snapshot(repo.root) == before and dec.NAME not in fake.instances


def _file_symlink(path: Path) -> str:
    index = json.loads((path / backup.IMAGE_INDEX).read_text())
    manifest = path / index[0]["manifest"]
    copy = path.parent / "copy.json"  # the same bytes, so the checksum still matches
    shutil.copy(manifest, copy)
    manifest.unlink()
    manifest.symlink_to(copy)
    return str(manifest.relative_to(path))


def _directory_symlink(path: Path) -> str:
    elsewhere = path.parent / "images-elsewhere"
    shutil.move(path / "images", elsewhere)
    (path / "images").symlink_to(elsewhere)
    return "images"


def _sums_symlink(path: Path) -> str:
    shutil.move(path / backup.SUMS, path.parent / "sums.json")
    (path / backup.SUMS).symlink_to(path.parent / "sums.json")
    return backup.SUMS


@pytest.mark.parametrize("link", [_file_symlink, _directory_symlink, _sums_symlink])
def test_a_bundle_holding_a_symlink_is_refused(
    repo: Workspace, bundle: tuple[Path, dec.FakeTerraform], link: Callable[[Path], str]
) -> None:
    path, fake = bundle
    rel = link(path)
    before = snapshot(repo.root)
    with pytest.raises(backup.BackupError, match=f"{rel} is a symlink"):
        dec.restore(repo, fake, path)
    assert snapshot(repo.root) == before and dec.NAME not in fake.instances


# -- item 6: the init stamp covers the provider mirror; a stale data dir re-inits once ---------

TF_ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "PATH": "/usr/bin"}
PROVIDER = "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws"


def _mirror(path: Path) -> Path:
    (path / PROVIDER).parent.mkdir(parents=True)
    (path / PROVIDER).write_bytes(b"provider")
    return path


def test_the_init_stamp_covers_the_mirror_and_what_it_holds(
    repo: Workspace, tmp_path: Path, fp: FakeProcess
) -> None:
    fp.keep_last_process(True)
    fp.register(["terraform", "init", fp.any()], callback=lambda _p: _data_dir(repo, "dev"))
    first, second = _mirror(tmp_path / "a"), _mirror(tmp_path / "b")
    Terraform(repo, "dev", TF_ENV, Settings(provider_mirror=first)).init()
    Terraform(repo, "dev", TF_ENV, Settings(provider_mirror=first)).init()
    assert fp.call_count(["terraform", "init", fp.any()]) == 1
    Terraform(repo, "dev", TF_ENV, Settings(provider_mirror=second)).init()  # the variable moved
    assert fp.call_count(["terraform", "init", fp.any()]) == 2
    shutil.rmtree(second / "registry.terraform.io")  # the mirror emptied (or moved away)
    Terraform(repo, "dev", TF_ENV, Settings(provider_mirror=second)).init()
    assert fp.call_count(["terraform", "init", fp.any()]) == 3


def _no_plugins() -> str:
    return json.dumps(
        {
            "type": "diagnostic",
            "diagnostic": {
                "severity": "error",
                "summary": "Required plugins are not installed",
                "detail": "registry.terraform.io/hashicorp/aws: there is no package for"
                " registry.terraform.io/hashicorp/aws 5.100.0 cached in .ecrctl/tf/dev/providers",
            },
        }
    )


def test_a_failed_plugin_check_inits_again_once_and_succeeds(
    repo: Workspace, fp: FakeProcess
) -> None:
    fp.register(["terraform", "init", fp.any()])
    fp.register(["terraform", "plan", fp.any()], stdout=_no_plugins() + "\n", returncode=1)
    fp.register(["terraform", "init", fp.any()])
    fp.register(["terraform", "plan", fp.any()])
    tf = Terraform(repo, "dev", TF_ENV, Settings())
    tf.init()  # the stamp matches from here on: only the plugin check can tell
    tf.plan(["module.x"], repo.state_dir / "p.tfplan", repo.tfvars_file("dev"))
    assert [call[1] for call in fp.calls] == ["init", "plan", "init", "plan"]


def test_a_plugin_check_failing_after_a_fresh_init_names_the_fix(
    repo: Workspace, fp: FakeProcess
) -> None:
    fp.register(["terraform", "init", fp.any()])
    for _ in range(2):
        fp.register(["terraform", "plan", fp.any()], stdout=_no_plugins() + "\n", returncode=1)
        fp.register(["terraform", "init", fp.any()])
    tf = Terraform(repo, "dev", TF_ENV, Settings())
    tf.init()
    with pytest.raises(TerraformError) as info:
        tf.plan(["module.x"], repo.state_dir / "p.tfplan", repo.tfvars_file("dev"))
    assert [call[1] for call in fp.calls] == ["init", "plan", "init", "plan"]  # once, no loop
    assert "Required plugins are not installed" in info.value.message
    assert "ECRCTL_PROVIDER_MIRROR" in (info.value.hint or "")


# -- item 9: a terraform data dir a checkout brings is checked against the environment --------

MODULES = {
    "Modules": [
        {"Key": "", "Source": "", "Dir": "."},
        {"Key": "ecr_repositories", "Source": "./modules/ecr", "Dir": "modules/ecr"},
    ]
}


def _data_dir(ws: Workspace, env: str, **overrides: object) -> Path:
    """A data dir as `terraform init` leaves it, with `overrides` in its backend config."""
    data = ws.state_dir / "tf" / env
    (data / "modules").mkdir(parents=True, exist_ok=True)
    config = {**hcl.parse(ws.backend_file(env).read_text()).values, **overrides}
    backend = {"version": 3, "backend": {"type": "s3", "config": config, "hash": 1}}
    (data / "terraform.tfstate").write_text(json.dumps(backend))
    (data / "modules" / "modules.json").write_text(json.dumps(MODULES))
    return data


def _planted(ws: Workspace, env: str, **overrides: object) -> Terraform:
    """A data dir a pull request brings, with the init stamp that matches the checkout."""
    tf = Terraform(ws, env, TF_ENV, Settings())
    data = _data_dir(ws, env, **overrides)
    stamp = tf._init_fingerprint(ws.backend_file(env))
    (data / "ecrctl-init.sha256").write_text(stamp)
    return tf


@pytest.mark.parametrize(
    "overrides",
    [
        {"key": "ecr/elsewhere/terraform.tfstate"},
        {"bucket": "someone-elses-bucket"},
        {"endpoints": {"s3": "http://127.0.0.1:9"}},  # a setting backend.hcl does not give
    ],
    ids=["key", "bucket", "extra-setting"],
)
def test_a_data_dir_whose_backend_differs_from_the_environment_is_not_trusted(
    repo: Workspace, fp: FakeProcess, overrides: dict[str, object]
) -> None:
    fp.register(["terraform", "init", fp.any()])
    _planted(repo, "local", **overrides).init()
    assert fp.call_count(["terraform", "init", fp.any()]) == 1  # init -reconfigure, not skipped
    assert "-reconfigure" in fp.calls[0]


def test_a_data_dir_whose_module_points_elsewhere_is_not_trusted(
    repo: Workspace, fp: FakeProcess
) -> None:
    fp.register(["terraform", "init", fp.any()])
    tf = _planted(repo, "local")
    modules = {"Modules": [dict(m) for m in MODULES["Modules"]]}
    modules["Modules"][1]["Dir"] = "../evil"
    (tf.data_dir / "modules" / "modules.json").write_text(json.dumps(modules))
    tf.init()
    assert fp.call_count(["terraform", "init", fp.any()]) == 1


def test_a_data_dir_matching_the_environment_keeps_init_skipped(
    repo: Workspace, fp: FakeProcess
) -> None:
    _planted(repo, "local").init()
    assert list(fp.calls) == []
