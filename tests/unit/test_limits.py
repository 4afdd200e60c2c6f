"""The AWS limits table (limits.LIMITS): every row at its limit and one past it.

Where a limit is reached through a request, through `ecrctl create` as a user runs it: exit 1,
one line naming the limit, no file changed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.rules import documents, limits, policy
from tests.helpers import REPO, cli, create, create_args, snapshot

TIERS = tiers_file.load(REPO / "terraform/modules/ecr/risk-tiers.json")
ROLE = "arn:aws:iam::123456789012:role/"
DEV = {"env": "dev", "owner": "app-team-payments"}


def _refused(
    repo: Workspace, capsys: pytest.CaptureFixture[str], name: str, *extra: str, risk: str = "low"
) -> str:
    """The one error line of a refused create, after checking that nothing was written."""
    before = snapshot(repo.root)
    result = cli(capsys, *create_args(name, *extra, risk=risk, **DEV))
    assert result.code == 1, result.stderr
    assert snapshot(repo.root) == before
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("limit", limits.LIMITS, ids=lambda limit: limit.name)
def test_each_row_allows_its_bounds_and_refuses_one_past(limit: limits.Limit) -> None:
    limit.check(limit.max, "subject")
    limit.check(limit.min, "subject")
    with pytest.raises(UserError) as past:
        limit.check(limit.max + 1, "subject")
    assert limit.what in past.value.message and f"at most {limit.max}" in past.value.message
    if limit.min > 0:
        with pytest.raises(UserError, match=f"at least {limit.min}"):
            limit.check(limit.min - 1, "subject")


def test_the_name_rules_use_the_tables_numbers() -> None:
    row = limits.LIMIT["repository-name"]
    assert (row.min, row.max) == policy.NAME_LENGTH
    assert limits.LIMIT["tag-value"].max == policy.DESCRIPTION_MAX
    assert limits.NAME_MAX_DERIVED_ID == 247 and limits.NAME_MAX_KMS == 246


def test_repository_name_length(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    explicit = ("--id", "REGISTRY_LONG")
    assert create(capsys, "a" * 256, *explicit, **DEV).code == 0
    assert "256" in _refused(repo, capsys, "b" * 257, *explicit)
    assert create(capsys, "ab", **DEV).code == 0
    assert "2-256" in _refused(repo, capsys, "c")


def test_registry_id_tag_value(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert create(capsys, "a" * 247, **DEV).code == 0  # REGISTRY_ + 247 = 256 characters
    line = _refused(repo, capsys, "b" * 248)
    assert "tag RegistryId: the number of characters in a tag value would be 257" in line
    assert "AWS allows at most 256" in line


def test_owner_tag_value(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    owner = "app-team-" + "x" * (256 - len("app-team-"))
    assert create(capsys, "team-a", env="dev", owner=owner).code == 0
    before = snapshot(repo.root)
    result = cli(capsys, *create_args("team-b", env="dev", owner=owner + "x"))
    assert result.code == 1 and snapshot(repo.root) == before
    assert "tag Owner: the number of characters in a tag value would be 257" in result.stderr


def test_description_tag_value(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert create(capsys, "desc-a", "--description", "d" * 256, **DEV).code == 0
    assert "256" in _refused(repo, capsys, "desc-b", "--description", "d" * 257)


def test_kms_alias_of_a_high_tier_name(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert create(capsys, "a" * 246, risk="high", **DEV).code == 0  # alias/ecr/ + 246 = 256
    line = _refused(repo, capsys, "b" * 247, risk="high")
    assert "KMS alias name (alias/ecr/NAME) would be 257; AWS allows at most 256" in line
    assert create(capsys, "c" * 247, risk="medium", **DEV).code == 0  # no KMS key below high


def _principals_of_policy_length(length: int) -> list[str]:
    """Push principals whose repository policy is exactly `length` characters."""
    arns = [f"{ROLE}publisher-{i:03d}" for i in range(150)]
    while True:
        request = policy.build_request(
            name="p-x", env="dev", owner="app-team-a", risk="low", push_principals=arns
        )
        text = documents.repository_policy_json(request)
        assert text is not None
        if len(text) <= length:
            break
        arns.pop()
    arns[-1] += "z" * (length - len(text))
    return arns


def test_repository_policy_size(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    fits = _principals_of_policy_length(10240)
    past = _principals_of_policy_length(10241)
    for arns in (fits, past):
        request = policy.build_request(
            name="p-x", env="dev", owner="app-team-a", risk="low", push_principals=arns
        )
        assert len(documents.repository_policy_json(request) or "") in (10240, 10241)
    assert (
        create(
            capsys, "policy-a", *(a for arn in fits for a in ("--push-principal", arn)), **DEV
        ).code
        == 0
    )
    line = _refused(
        repo, capsys, "policy-b", *(a for arn in past for a in ("--push-principal", arn))
    )
    assert "repository policy would be 10241; AWS allows at most 10240" in line


def test_tags_count_and_tag_keys() -> None:
    tags = {f"k{i}": "v" for i in range(50)}
    limits.check_tags(tags, "repo")
    with pytest.raises(UserError, match=r"number of tags .* would be 51; AWS allows at most 50"):
        limits.check_tags({**tags, "one-more": "v"}, "repo")
    limits.check_tags({"k" * 128: "v"}, "repo")
    with pytest.raises(UserError, match="tag key would be 129; AWS allows at most 128"):
        limits.check_tags({"k" * 129: "v"}, "repo")


def test_lifecycle_policy_of_every_tier_is_within_its_limit() -> None:
    row = limits.LIMIT["lifecycle-policy"]
    for tier in TIERS.values():
        assert row.min <= len(documents.lifecycle_policy_json(tier)) <= row.max
    # What the module renders, key for key (main.tf, aws_ecr_lifecycle_policy.this).
    # tests/integration/test_files_terraform.py compares it with what Terraform renders.
    assert documents.lifecycle_policy_json(TIERS["low"]) == (
        '{"rules":[{"action":{"type":"expire"},"description":"Keep images tagged release-* (low'
        ' risk tier)","rulePriority":1,"selection":{"countNumber":100000,"countType":'
        '"imageCountMoreThan","tagPrefixList":["release-"],"tagStatus":"tagged"}},{"action":'
        '{"type":"expire"},"description":"Expire untagged images after 7 days (low risk tier)",'
        '"rulePriority":2,"selection":{"countNumber":7,"countType":"sinceImagePushed","countUnit":'
        '"days","tagStatus":"untagged"}},{"action":{"type":"expire"},"description":"Keep the last'
        ' 20 images (low risk tier)","rulePriority":3,"selection":{"countNumber":20,"countType":'
        '"imageCountMoreThan","tagStatus":"any"}}]}'
    )


@pytest.mark.parametrize("risk", sorted(TIERS))
def test_lifecycle_rules_keep_protected_tags_and_expire_untagged_by_age(risk: str) -> None:
    """ECR's rule semantics: unique priorities; an image matching a rule's tag selection is not
    expired by a later rule, so the protected prefixes come first, each alone in its
    tagPrefixList (several would select images carrying all of them), with a count above every
    tier's; one untagged rule; the "any" rule has the highest priority."""
    tier = TIERS[risk]
    rules = json.loads(documents.lifecycle_policy_json(tier))["rules"]
    priorities = [r["rulePriority"] for r in rules]
    assert priorities == sorted(set(priorities))
    selections = [r["selection"] for r in rules]
    assert [s["tagStatus"] for s in selections] == ["tagged"] * len(tier.protected_tag_prefixes) + [
        "untagged",
        "any",
    ]
    protected = [s for s in selections if s["tagStatus"] == "tagged"]
    assert sorted(p for s in protected for p in s["tagPrefixList"]) == sorted(
        tier.protected_tag_prefixes
    )
    assert all(len(s["tagPrefixList"]) == 1 for s in protected)
    assert all(
        s["countNumber"] > max(t.keep_image_count for t in TIERS.values()) for s in protected
    )
    assert selections[-2]["countNumber"] == tier.untagged_expire_days
    assert selections[-2]["countType"] == "sinceImagePushed"
    assert selections[-1]["countNumber"] == tier.keep_image_count
    assert all(r["action"] == {"type": "expire"} for r in rules)
    held = documents.read_lifecycle_policy(documents.lifecycle_policy_json(tier))
    assert held == documents.retention_of_tier(tier)


def test_a_lifecycle_policy_of_another_shape_is_read_as_such() -> None:
    assert documents.read_lifecycle_policy(None) is None
    assert documents.read_lifecycle_policy("not json") is None
    old = documents.read_lifecycle_policy(
        '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":'
        '"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}'
    )
    assert old == documents.Retention(5) and old.describe() == "keeps 5 images"
    other = documents.read_lifecycle_policy(
        '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["a*"],'
        '"countType":"sinceImagePushed","countUnit":"days","countNumber":5},"action":'
        '{"type":"expire"}}]}'
    )
    assert other is not None and not other.exact and other.describe() == "other rules"


def _tier_table(tmp_path: Path, **high: object) -> Path:
    data = json.loads((REPO / "terraform/modules/ecr/risk-tiers.json").read_text())
    data["tiers"]["high"].update(high)
    path = tmp_path / "risk-tiers.json"
    path.write_text(json.dumps(data))
    return path


def test_the_tier_tables_lifecycle_columns_at_and_past_their_limits(tmp_path: Path) -> None:
    days = limits.LIMIT["untagged-expire-days"]
    for fits in (days.min, days.max):
        assert tiers_file.load(_tier_table(tmp_path, untagged_expire_days=fits))
    for past in (days.min - 1, days.max + 1):
        with pytest.raises(UserError, match="untagged images expire"):
            tiers_file.load(_tier_table(tmp_path, untagged_expire_days=past))
    prefix = limits.LIMIT["tag-prefix"]
    loaded = tiers_file.load(_tier_table(tmp_path, protected_tag_prefixes=["p" * prefix.max]))
    assert loaded["high"].protected_tag_prefixes == ("p" * prefix.max,)
    for bad, why in (
        (["p" * (prefix.max + 1)], "at most 128"),
        ([""], "at least 1"),
        (["rel", "rel"], "repeats"),
        (["-rel"], "not the start of an image tag"),
        (["a*"], "not the start of an image tag"),
    ):
        with pytest.raises(UserError, match=re.escape(why)):
            tiers_file.load(_tier_table(tmp_path, protected_tag_prefixes=bad))
    assert tiers_file.load(_tier_table(tmp_path, protected_tag_prefixes=[]))


ACCOUNT = "123456789012"


def test_the_key_policy_grants_the_account_and_ecr_through_the_service_only() -> None:
    document = json.loads(documents.key_policy_json(ACCOUNT, "eu-west-1"))
    admin, ecr_use = document["Statement"]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert admin["Action"] == "kms:*"  # AWS's default statement: IAM policies decide who
    assert ecr_use["Condition"] == {
        "StringEquals": {
            "kms:CallerAccount": ACCOUNT,
            "kms:ViaService": "ecr.eu-west-1.amazonaws.com",
        }
    }
    assert "kms:PutKeyPolicy" not in ecr_use["Action"] and "kms:*" not in ecr_use["Action"]
    assert (
        documents.key_policy_grants_beyond(
            documents.key_policy_json(ACCOUNT, "eu-west-1"), ACCOUNT, "eu-west-1"
        )
        == []
    )
    # It varies only with the region: far below KMS's 32 KiB with the longest names.
    longest = documents.key_policy_json(ACCOUNT, "ap-southeast-4", "aws-us-gov")
    assert len(longest.encode()) < limits.LIMIT["kms-key-policy"].max // 20


def test_a_wider_key_policy_is_named_statement_by_statement() -> None:
    default = (
        '{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User'
        f' Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},'
        '"Action":"kms:*","Resource":"*"}]}'
    )
    assert documents.key_policy_grants_beyond(default, ACCOUNT, "eu-west-1") == []
    wide = json.loads(documents.key_policy_json(ACCOUNT, "eu-west-1"))
    wide["Statement"] += [
        {"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}},
        {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"},
        {"Sid": "Svc", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}},
        {
            "Sid": "WrongRegion",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": ACCOUNT,
                    "kms:ViaService": "ecr.us-east-1.amazonaws.com",
                }
            },
        },
        {"Sid": "Deny", "Effect": "Deny", "Principal": "*"},
    ]
    assert documents.key_policy_grants_beyond(json.dumps(wide), ACCOUNT, "eu-west-1") == [
        "Other allows arn:aws:iam::999999999999:root",
        "statement 4 allows *",
        "Svc allows Service lambda.amazonaws.com",
        "WrongRegion allows *",
    ]
    assert documents.key_policy_grants_beyond("{", ACCOUNT, "eu-west-1") == [
        "the key policy could not be read"
    ]


def test_the_terraform_module_and_root_check_the_same_numbers() -> None:
    module = (REPO / "terraform/modules/ecr/main.tf").read_text() + (
        REPO / "terraform/modules/ecr/variables.tf"
    ).read_text()
    root = (REPO / "terraform/variables.tf").read_text() + (
        REPO / "terraform/registry.tf"
    ).read_text()
    limit = limits.LIMIT
    expected_module = [
        f"length(var.name) <= {limit['repository-name'].max}",
        f"length(var.name) >= {limit['repository-name'].min}",
        f"length(local.kms_alias) <= {limit['kms-alias'].max}",
        f"length(var.registry_id) <= {limit['tag-value'].max}",
        f"length(var.owner) <= {limit['tag-value'].max}",
        f"length(var.description) <= {limit['tag-value'].max}",
        f"length(local.tags) <= {limit['tags'].max}",
        f"length(local.repository_policy) <= {limit['repository-policy'].max}",
        f"length(local.lifecycle_policy) <= {limit['lifecycle-policy'].max}",
        f"length(local.key_policy) <= {limit['kms-key-policy'].max}",
    ]
    for condition in expected_module:
        assert condition in module, condition
    assert f"length(filter) <= {limit['scan-filter'].max}" in root
    assert f"length(var.registry_scan_filters) <= {limit['scan-filters'].max}" in root
    assert f"length(local.continuous_scan_filters) <= {limit['scan-filters'].max}" in root
    assert re.search(r"<= 256", root)  # the root's own name rule
