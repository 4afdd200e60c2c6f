"""create in real ecrctl processes."""

from __future__ import annotations

import os
import subprocess
import sys

from orchestrator.files.workspace import Workspace
from orchestrator.ops import listing as listing_op


def test_two_concurrent_creates_both_land(repo: Workspace) -> None:
    env = {**os.environ, "ECRCTL_ROOT": str(repo.root)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                "create",
                name,
                "--env",
                "dev",
                "--owner",
                "app-team-x",
                "--risk",
                "low",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("alpha-svc", "bravo-svc", "charlie-svc")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    listing = listing_op.list_repositories(repo, "dev")
    assert [e.request.name for e in listing.entries] == ["alpha-svc", "bravo-svc", "charlie-svc"]
    assert listing.in_tfvars == {"alpha-svc", "bravo-svc", "charlie-svc"}
