"""The provider lock works on every platform ecrctl is run on (issue 12, item 4).

ecrctl runs `terraform init -lockfile=readonly`: init fails unless the package it installs matches
a checksum already in terraform/.terraform.lock.hcl. A package from the registry (a Mac, an arm64
runner) matches by its zip's SHA-256 (`zh:`), one per file of the release's signed SHA256SUMS;
an unpacked package from a filesystem mirror (this machine) matches by its `h1:` directory hash.
Where each checksum comes from is in docs/CI.md, "The provider lock".
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from tests.helpers import REPO

LOCK = REPO / "terraform" / ".terraform.lock.hcl"
AWS = "registry.terraform.io/hashicorp/aws"
VERSION = "5.100.0"

# The zips every hashicorp/aws release publishes (.release/terraform-provider-aws-artifacts.hcl in
# hashicorp/terraform-provider-aws); SHA256SUMS lists each of them plus the registry manifest.
RELEASE_PLATFORMS = (
    "darwin_amd64",
    "darwin_arm64",
    "freebsd_386",
    "freebsd_amd64",
    "freebsd_arm",
    "linux_386",
    "linux_amd64",
    "linux_arm",
    "linux_arm64",
    "openbsd_386",
    "openbsd_amd64",
    "openbsd_arm",
    "windows_386",
    "windows_amd64",
)
REQUIRED_PLATFORMS = ("darwin_amd64", "darwin_arm64", "linux_amd64", "linux_arm64")
# terraform-provider-aws_{version}_manifest.json: the same file in every 5.x release.
MANIFEST_ZH = "9b12af85486a96aedd8d7984b0ff811a4b42e3d88dad1a3fb4c0b580d04fa425"
# terraform-provider-aws_5.100.0_linux_amd64.zip (two public sources name it; docs/CI.md).
LINUX_AMD64_ZH = "1589a2266af699cbd5d80737a0fe02e54ec9cf2ca54e7e00ac51c7359056f274"


def _provider_hashes(text: str, address: str) -> tuple[str, list[str]]:
    """(version, hashes) of one provider block of a lock file."""
    block = re.search(
        rf'provider "{re.escape(address)}" \{{\s*(?P<body>.*?)^\}}', text, re.DOTALL | re.MULTILINE
    )
    assert block is not None, f"no provider block for {address} in {LOCK}"
    body = block.group("body")
    version = re.search(r'^\s*version\s*=\s*"([^"]+)"', body, re.MULTILINE)
    assert version is not None
    listed = re.search(r"hashes\s*=\s*\[(?P<list>.*?)\]", body, re.DOTALL)
    assert listed is not None
    return version.group(1), re.findall(r'"([^"]+)"', listed.group("list"))


def _dirhash_h1(directory: Path) -> str:
    """Terraform's h1: of an unpacked provider package (golang.org/x/mod/sumdb/dirhash Hash1)."""
    files = sorted(
        str(Path(root, name).relative_to(directory)).replace(os.sep, "/")
        for root, _dirs, names in os.walk(directory)
        for name in names
    )
    summary = hashlib.sha256()
    for rel in files:
        digest = hashlib.sha256()
        with (directory / rel).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        summary.update(f"{digest.hexdigest()}  {rel}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def test_the_lock_holds_a_zip_checksum_for_every_file_the_release_publishes() -> None:
    version, hashes = _provider_hashes(LOCK.read_text(), AWS)
    zh = {h.removeprefix("zh:") for h in hashes if h.startswith("zh:")}
    assert version == VERSION
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in zh)
    assert set(REQUIRED_PLATFORMS) <= set(RELEASE_PLATFORMS)
    # One zh: per zip of SHA256SUMS and one for the manifest: nothing missing, no strays.
    assert len(zh) == len(RELEASE_PLATFORMS) + 1
    assert MANIFEST_ZH in zh
    assert LINUX_AMD64_ZH in zh


def test_the_lock_holds_an_unpacked_checksum_for_every_platform() -> None:
    _version, hashes = _provider_hashes(LOCK.read_text(), AWS)
    h1 = [h for h in hashes if h.startswith("h1:")]
    assert len(set(h1)) == len(h1) == len(RELEASE_PLATFORMS)
    assert all(re.fullmatch(r"h1:[A-Za-z0-9+/]{43}=", h) for h in h1)


def test_the_local_mirror_package_matches_a_locked_checksum() -> None:
    """What init checks here: the offline mirror's package (unpacked or zip) is in the lock."""
    mirror = os.environ.get("ECRCTL_PROVIDER_MIRROR", "")
    assert mirror, "set ECRCTL_PROVIDER_MIRROR to the AWS provider mirror (make test does)"
    _version, hashes = _provider_hashes(LOCK.read_text(), AWS)
    unpacked = sorted(p for p in Path(mirror, AWS, VERSION).glob("*_*") if p.is_dir())
    packed = sorted(Path(mirror, AWS).glob(f"terraform-provider-aws_{VERSION}_*.zip"))
    assert unpacked or packed, f"no hashicorp/aws {VERSION} package in the mirror {mirror}"
    for package in unpacked:
        assert package.name in RELEASE_PLATFORMS
        assert _dirhash_h1(package) in hashes, f"{package} matches no h1: of {LOCK}"
    for archive in packed:
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert f"zh:{digest}" in hashes, f"{archive} matches no zh: of {LOCK}"
