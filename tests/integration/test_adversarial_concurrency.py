"""Concurrency and crash consistency of `ecrctl create`, with real ecrctl processes."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

from orchestrator.files import catalog, scan_filters, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import CatalogEntry
from orchestrator.rules import policy
from tests.adversarial import TerraformReader, ecrctl, ecrctl_env, managed_files, spawn
from tests.helpers import create_args

CATALOG = "catalog/ecr-catalog.yaml"
TFVARS = "envs/local/terraform.tfvars"
CORE = "app-team-core"
TEMPORARY = re.compile(r"^\.(ecr-catalog\.yaml|terraform\.tfvars)\..+\.tmp$")


def test_twenty_parallel_creates_all_land_once(repo: Workspace, tmp_path: Path) -> None:
    env = ecrctl_env(repo.root)
    names = [f"svc-{i:02d}" for i in range(20)]
    procs = [
        spawn(env, *create_args(n, owner=CORE, risk=("low", "medium", "high")[i % 3]))
        for i, n in enumerate(names)
    ]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    for proc, _out, err in results:
        assert proc.returncode == 0, err

    tf_text = repo.tfvars_file("local").read_text()
    cat_text = repo.catalog_file.read_text()
    assert sorted(tfvars.parse(tf_text, repo.tfvars_file("local"), "local").entries) == names
    tiers = tiers_file.load(repo.tiers_file)
    assert sorted(catalog.load_text(cat_text, repo.catalog_file, tiers).entries) == names
    for name in names:  # the readers refuse duplicates; count the text as well
        assert tf_text.count(f'"{name}" = {{') == 1
        assert cat_text.count(f'  "{name}":\n') == 1
    assert (
        sorted(TerraformReader(tmp_path / "tf").read(repo.tfvars_file("local"))["ecr_repositories"])
        == names
    )
    assert ecrctl(env, "validate").code == 0


def test_parallel_creates_of_one_name_with_different_attributes_one_wins(repo: Workspace) -> None:
    env = ecrctl_env(repo.root)
    tiers = tiers_file.load(repo.tiers_file)
    for trial in range(3):
        name = f"race-{trial}"
        contenders = {"app-team-blue": "low", "app-team-green": "high"}
        procs = {
            owner: spawn(env, *create_args(name, owner=owner, risk=risk))
            for owner, risk in contenders.items()
        }
        outcome = {owner: (p, *p.communicate(timeout=120)) for owner, p in procs.items()}
        winners = [o for o, (p, _, _) in outcome.items() if p.returncode == 0]
        losers = [o for o, (p, _, _) in outcome.items() if p.returncode != 0]
        assert len(winners) == 1 and len(losers) == 1, outcome
        loser_proc, _, loser_err = outcome[losers[0]]
        assert loser_proc.returncode == 1
        assert "already exists with different attributes" in loser_err
        assert len(loser_err.strip().splitlines()) == 2  # one line and a hint
        entry = catalog.load(repo.catalog_file, tiers).entries[name].request
        in_tfvars = tfvars.load(repo.tfvars_file("local"), "local").entries[name]
        assert entry == in_tfvars
        assert (entry.owner, entry.risk) == (winners[0], contenders[winners[0]])


def _split(files: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
    """The managed files proper, and the names of temporary files an interrupted write left."""
    proper = {k: v for k, v in files.items() if not TEMPORARY.match(Path(k).name)}
    return proper, sorted(set(files) - set(proper))


def _temporary(directory: Path) -> set[str]:
    return {n for n in os.listdir(directory) if TEMPORARY.match(n)}


def _kill_when_writing(proc: subprocess.Popen[str], directory: Path, limit: float) -> None:
    """Kill -9 as soon as a new temporary file appears in `directory`: inside that write.

    Earlier killed writes may have left theirs: only a new one counts.
    """
    before = _temporary(directory)
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if _temporary(directory) - before:
            break
        time.sleep(0.0005)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)


def test_kill_9_during_create_leaves_each_file_old_or_new_and_a_rerun_converges(
    repo: Workspace,
) -> None:
    """50 creates killed with SIGKILL: half at a random moment, half the moment a write begins.

    Random moments mostly land before or after the writes, which take a few milliseconds of a
    run; the delay adapts towards the moment of writing (killed before it: later; after: sooner).
    Watching for ecrctl's temporary file lands the kill inside the write itself, of the catalog
    (written first) or of the tfvars (written second, after the catalog is already new).
    """
    env = ecrctl_env(repo.root)
    tiers = tiers_file.load(repo.tiers_file)
    rng = random.Random(7)
    durations = []
    for i in range(2):
        start = time.monotonic()
        assert ecrctl(env, *create_args(f"warm-{i}", owner=CORE)).code == 0
        durations.append(time.monotonic() - start)
    delay = min(durations) * 0.8
    seen = {"old/old": 0, "new/old": 0, "old/new": 0, "new/new": 0}
    leftovers: set[str] = set()
    watched = [repo.catalog_dir, repo.tfvars_file("local").parent]

    for trial in range(50):
        name = f"crash-{trial:02d}"
        request = policy.build_request(
            name=name, env="local", owner="app-team-core", risk=("low", "medium", "high")[trial % 3]
        )
        old = managed_files(repo.root)
        old_cat, old_tf = old[CATALOG].decode(), old[TFVARS].decode()
        new_cat = catalog.load_text(old_cat, repo.catalog_file, tiers).with_entry(
            CatalogEntry(request), tiers
        )
        new_tf = tfvars.parse(old_tf, repo.tfvars_file("local"), "local").with_entry(request)
        new_tf = scan_filters.with_filters(new_tf, repo.tfvars_file("local"), "local", tiers)

        proc = spawn(env, *create_args(name, owner=CORE, risk=request.risk))
        if trial % 2:  # inside the catalog's write, or the tfvars' (written second)
            _kill_when_writing(proc, watched[trial % 4 // 2], limit=30)
        else:
            time.sleep(delay * rng.uniform(0.7, 1.3))
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)

        after, temporary = _split(managed_files(repo.root))
        leftovers.update(temporary)
        cat_state = {old_cat: "old", new_cat: "new"}.get(after[CATALOG].decode())
        tf_state = {old_tf: "old", new_tf: "new"}.get(after[TFVARS].decode())
        assert cat_state and tf_state, f"trial {trial}: a file is neither old nor new"
        unrelated = (CATALOG, TFVARS)
        assert {k: v for k, v in after.items() if k not in unrelated} == {
            k: v for k, v in _split(old)[0].items() if k not in unrelated
        }
        seen[f"{cat_state}/{tf_state}"] += 1
        if not trial % 2:
            delay *= 1.15 if (cat_state, tf_state) == ("old", "old") else 0.9

        if (cat_state, tf_state) == ("new", "new") and seen["new/new"] > 1:
            continue  # nothing to converge; the first such trial checks the rerun changes nothing
        rerun = ecrctl(env, *create_args(name, owner=CORE, risk=request.risk))
        assert rerun.code == 0, rerun.stderr
        final, _ = _split(managed_files(repo.root))
        assert final[CATALOG].decode() == new_cat and final[TFVARS].decode() == new_tf

    print(
        f"kill -9 during create, files after the kill (catalog/tfvars): {seen};"
        f" temporary files left by killed writes: {len(leftovers)}"
    )
    # Temporary files left by killed writes are ignored by every command.
    assert ecrctl(env, "validate").code == 0
    assert ecrctl(env, "list", "--env", "local").code == 0
