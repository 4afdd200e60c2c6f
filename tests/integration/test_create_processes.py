"""create in real ecrctl processes."""

from __future__ import annotations

import os
import subprocess
import sys

from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from orchestrator.ops import listing as listing_op
from tests.helpers import create_args


def test_two_concurrent_creates_both_land(repo: Workspace) -> None:
    env = {**os.environ, "ECRCTL_ROOT": str(repo.root)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                *create_args(name, env="dev", owner="app-team-x"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("alpha-svc", "bravo-svc", "charlie-svc")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    listing = listing_op.list_repositories(Session(repo).at("dev"))
    assert [e.request.name for e in listing.entries] == ["alpha-svc", "bravo-svc", "charlie-svc"]
    assert listing.in_tfvars == {"alpha-svc", "bravo-svc", "charlie-svc"}


def test_create_loads_only_its_own_command(repo: Workspace) -> None:
    """`ecrctl create` registers create alone and imports no rich, boto3, YAML or terraform code:
    the startup cost goal 4 of docs/BENCHMARKS.md measures. `--help` still lists every command."""
    probe = (
        "import sys\n"
        "from orchestrator.cli import run\n"
        "code = run(sys.argv[1:])\n"
        "heavy = ('rich', 'boto3', 'botocore', 'yaml', 'hcl2', 'python_terraform')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('orchestrator.cli.')))\n"
        "sys.exit(code)\n"
    )
    args = create_args("delta-svc", env="dev", owner="app-team-x", risk="high")
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        env={**os.environ, "ECRCTL_ROOT": str(repo.root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    added, heavy, commands = done.stdout.splitlines()
    assert added.startswith("added delta-svc (high risk")
    assert heavy == "[]"
    assert (
        commands == "['orchestrator.cli.catalog', 'orchestrator.cli.options',"
        " 'orchestrator.cli.registry', 'orchestrator.cli.render']"
    )
    assert "delta-svc" in listing_op.list_repositories(Session(repo).at("dev")).in_tfvars

    helped = subprocess.run(
        [sys.executable, "-m", "orchestrator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert helped.returncode == 0
    from orchestrator.cli import COMMANDS

    listed = [line.split()[1] for line in helped.stdout.splitlines() if line.startswith("│ ")]
    assert sorted(name for name in listed if name in COMMANDS) == sorted(COMMANDS)
