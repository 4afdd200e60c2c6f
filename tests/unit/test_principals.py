"""Pull principals of three kinds (issue 21 item 3): IAM ARNs, whole AWS Organizations and the
services that pull as themselves; push to IAM ARNs only. Validated at each pattern's edge,
rendered into the repository policy the module renders, read back from a policy (the state's
before, adopt's conformance), shown to the reviewer, granted and revoked through `update`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.ci import markdown
from orchestrator.errors import UserError
from orchestrator.files import tfvars
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import conformance
from orchestrator.models import RegistryRequest, Review, settings_of_request
from orchestrator.rules import documents, limits, policy
from tests.helpers import cli, create, snapshot
from tests.unit.test_adopt import TIERS, fixes, observed
from tests.unit.test_ci import _record

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"
ROOT = "arn:aws:iam::210987654321:root"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci"
ORG = "o-a1b2c3d4e5"
LAMBDA = "lambda.amazonaws.com"
PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def _request(push: list[str] | None = None, pull: list[str] | None = None) -> RegistryRequest:
    return policy.build_request(
        name="payments-gateway",
        env="dev",
        owner="app-team-payments",
        risk="low",
        push_principals=push or [],
        pull_principals=pull or [],
    )


def _statements(request: RegistryRequest, account: str = ACCOUNT) -> dict[str, Any]:
    text = documents.repository_policy_json(request, account)
    assert text is not None
    return {s["Sid"]: s for s in json.loads(text)["Statement"]}


# -- validation: at and past each pattern's edge ---------------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        ROLE,
        ROOT,
        "o-" + "a" * 10,
        "o-" + "0" * 32,
        "o-abc123def456",
        "codebuild.amazonaws.com",
        LAMBDA,
    ],
)
def test_each_kind_of_pull_principal_is_accepted(principal: str) -> None:
    assert policy.check_principals([principal], "pull") == (principal,)


@pytest.mark.parametrize(
    ("principal", "says"),
    [
        ("o-" + "a" * 9, "is not an IAM role, user or account root ARN (arn:aws:iam::"),
        ("o-" + "a" * 33, "AWS Organization ID (o- and 10 to 32 lowercase letters or digits)"),
        ("o-A1B2C3D4E5", "AWS Organization ID"),
        ("o-a1b2c3d4e5\n", "AWS Organization ID"),
        ("o-a1b2-c3d4e5", "AWS Organization ID"),
        ("r-a1b2", "AWS Organization ID"),
        ("ou-a1b2-c3d4e5f6", "AWS Organization ID"),
        ("lamda.amazonaws.com", "is not a service that pulls from ECR"),
        ("ecs-tasks.amazonaws.com", "is not a service that pulls from ECR"),
        ("lambda.amazonaws.com.cn", "AWS Organization ID"),
        ("LAMBDA.amazonaws.com", "AWS Organization ID"),
        ("*", "AWS Organization ID"),
    ],
)
def test_a_bad_pull_principal_is_refused_naming_the_accepted_forms(
    principal: str, says: str
) -> None:
    with pytest.raises(UserError) as raised:
        policy.check_principals([principal], "pull")
    assert says in raised.value.message and "\n" not in raised.value.message


def test_a_service_that_pulls_with_a_role_is_told_to_grant_the_role() -> None:
    with pytest.raises(UserError) as raised:
        policy.check_principals(["ecs-tasks.amazonaws.com"], "pull")
    assert "codebuild.amazonaws.com, lambda.amazonaws.com" in raised.value.message
    assert "grant that role's ARN" in (raised.value.hint or "")


@pytest.mark.parametrize(
    ("principal", "what"),
    [(ORG, "an AWS Organization"), (LAMBDA, "a service"), ("sqs.amazonaws.com", "a service")],
)
def test_an_organization_or_a_service_never_gets_push(principal: str, what: str) -> None:
    with pytest.raises(UserError) as raised:
        policy.check_principals([principal], "push")
    assert raised.value.message == (
        f"push principal {principal!r} is {what}: organizations and services may only pull,"
        " never push"
    )
    assert policy.check_principals([ROLE], "push") == (ROLE,)


def test_pull_principals_of_every_kind_are_sorted_and_deduplicated() -> None:
    given = [ORG, LAMBDA, ROLE, ORG, "codebuild.amazonaws.com", ROOT]
    assert policy.check_principals(given, "pull") == (
        ROLE,
        ROOT,
        "codebuild.amazonaws.com",
        LAMBDA,
        ORG,
    )


# -- rendering: one statement per kind, as the module renders it -----------------------------


def test_iam_arns_and_account_roots_get_the_unconditioned_statements() -> None:
    found = _statements(_request(push=[CI_ROLE], pull=[ROLE, ROOT]))
    assert list(found) == ["AllowPush", "AllowPull"]
    assert found["AllowPull"] == {
        "Sid": "AllowPull",
        "Effect": "Allow",
        "Principal": {"AWS": [ROLE, ROOT]},
        "Action": PULL,
    }
    assert found["AllowPush"]["Principal"] == {"AWS": [CI_ROLE]}
    assert "Condition" not in found["AllowPush"] and len(found["AllowPush"]["Action"]) == 7


def test_an_organization_gets_pull_for_its_accounts_principals_only() -> None:
    found = _statements(_request(pull=[ORG, "o-" + "9" * 32]))
    assert found == {
        "AllowPullOrganization": {
            "Sid": "AllowPullOrganization",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": PULL,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ["o-" + "9" * 32, ORG]}},
        }
    }


def test_a_service_gets_pull_for_this_account_only() -> None:
    found = _statements(_request(pull=[LAMBDA, "codebuild.amazonaws.com"]), "999988887777")
    assert found == {
        "AllowPullService": {
            "Sid": "AllowPullService",
            "Effect": "Allow",
            "Principal": {"Service": ["codebuild.amazonaws.com", LAMBDA]},
            "Action": PULL,
            "Condition": {"StringEquals": {"aws:SourceAccount": "999988887777"}},
        }
    }


def test_every_kind_at_once_renders_four_statements_in_the_modules_order() -> None:
    request = _request(push=[CI_ROLE], pull=[LAMBDA, ORG, ROLE])
    text = documents.repository_policy_json(request, ACCOUNT)
    assert text is not None and ": " not in text and ", " not in text  # jsonencode's compact form
    assert list(_statements(request)) == [
        "AllowPush",
        "AllowPull",
        "AllowPullOrganization",
        "AllowPullService",
    ]
    # The account never changes the length limits.py measures.
    assert len(documents.repository_policy_json(request) or "") == len(text)


def test_a_deprecated_request_renders_no_push_as_the_module_does() -> None:
    from dataclasses import replace

    deprecated = replace(_request(push=[CI_ROLE], pull=[ORG]), status="deprecated")
    assert list(_statements(deprecated)) == ["AllowPullOrganization"]


def test_the_policy_limit_counts_organization_and_service_statements() -> None:
    orgs = [f"o-{i:032d}" for i in range(300)]
    with pytest.raises(UserError) as raised:
        limits.check_limits(_request(pull=orgs), TIERS)
    assert "300 pull principal(s)" in raised.value.message
    assert "AWS allows at most 10240" in raised.value.message
    fits = orgs[:250]  # 36 characters each (the ID, its quotes and a comma) beside ~200 others
    limits.check_limits(_request(pull=fits), TIERS)


# -- reading a policy back: the state's before, adopt's conformance --------------------------


def test_the_modules_policy_reads_back_as_the_request_grants_it() -> None:
    request = _request(push=[CI_ROLE], pull=[LAMBDA, ORG, ROLE, ROOT])
    text = documents.repository_policy_json(request, ACCOUNT)
    held = documents.read_repository_policy(text, ACCOUNT)
    assert held == documents.grants_of_request(request)
    assert held is not None and held.other == ()


def test_statements_ecrctl_never_writes_are_reported_as_other() -> None:
    statements = [
        # a service for any account: no confused-deputy condition
        {"Sid": "Lambda", "Effect": "Allow", "Principal": {"Service": LAMBDA}, "Action": PULL},
        # a service for another account
        {
            "Sid": "Foreign",
            "Effect": "Allow",
            "Principal": {"Service": LAMBDA},
            "Action": PULL,
            "Condition": {"StringEquals": {"aws:SourceAccount": "999988887777"}},
        },
        # everyone, unconditioned
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": PULL},
        # an organization with push actions
        {
            "Sid": "OrgPush",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [*PULL, "ecr:PutImage"],
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
        },
        # ours, written by hand with a string principal and Principal "*"
        {
            "Sid": "Org",
            "Effect": "Allow",
            "Principal": "*",
            "Action": PULL,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
        },
    ]
    held = documents.read_repository_policy(json.dumps({"Statement": statements}), ACCOUNT)
    assert held is not None and held.pull == (ORG,) and held.push == ()
    assert held.other == (
        'Lambda allows {"Service": "lambda.amazonaws.com"}',
        'Foreign allows {"Service": "lambda.amazonaws.com"}',
        'Public allows "*"',
        'OrgPush allows {"AWS": "*"}',
    )
    assert documents.read_repository_policy("not json", ACCOUNT) is None


def test_adopt_reads_an_organization_and_a_service_statement_as_its_own() -> None:
    request = policy.build_request(
        name="team/app",
        env="dev",
        owner="app-team-a",
        risk="low",
        ecr_name=True,
        pull_principals=[ORG, LAMBDA],
    )
    same = documents.repository_policy_json(request, ACCOUNT)
    report = conformance.assess(observed(repository_policy=same), request, TIERS["low"])
    assert "repository_policy" not in fixes(report)  # already what the module writes
    assert report.adopt == ("repository", "repository_policy")
    narrower = documents.repository_policy_json(
        policy.build_request(
            name="team/app",
            env="dev",
            owner="app-team-a",
            risk="low",
            ecr_name=True,
            pull_principals=[ORG],
        ),
        ACCOUNT,
    )
    report = conformance.assess(observed(repository_policy=narrower), request, TIERS["low"])
    (difference,) = [d for d in report.differences if d.setting == "repository_policy"]
    assert difference.current == f"pull: organisation {ORG}"
    assert difference.wanted == (f"pull: service {LAMBDA} (this account only), organisation {ORG}")
    assert difference.fix == "in place"


# -- what the reviewer sees -------------------------------------------------------------------


def test_the_reviewer_sees_an_organization_and_a_service_named_as_such() -> None:
    before = settings_of_request(_request(pull=[ROLE]), TIERS)
    after = settings_of_request(_request(pull=[ROLE, ORG, LAMBDA]), TIERS)
    review = Review("payments-gateway", before, after)
    expected = f"pull: {ROLE} -> {ROLE}, service {LAMBDA} (this account only), organisation {ORG}"
    assert expected in review.lines()
    assert after.to_dict()["pull_principals"] == [ROLE, LAMBDA, ORG]  # JSON keeps the IDs
    entry = {
        "name": "payments-gateway",
        "change": "update",
        "risk": "low",
        "owner": "app-team-payments",
        "settings": review.to_dict(),
    }
    comment = markdown.render_report([_record("dev", [], entries=(entry,))], [], None)
    assert f"organisation {ORG}" in comment and f"service {LAMBDA} (this account only)" in comment


# -- granted and revoked through update, like any principal ---------------------------------


def test_update_grants_and_revokes_an_organization_and_a_service(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "payments-gateway", "--push-principal", CI_ROLE, env="dev")
    granted = cli(
        capsys,
        "update",
        "payments-gateway",
        "-e",
        "dev",
        "--add-pull-principal",
        ORG,
        "--add-pull-principal",
        LAMBDA,
        "--reason",
        "org-wide deployers",
    )
    assert granted.code == 0, granted.stderr
    assert f"grant pull organisation {ORG}" in granted.stdout
    entry = tfvars.load(repo.tfvars_file("dev"), "dev").entries["payments-gateway"]
    assert entry.pull_principals == (LAMBDA, ORG)
    assert cli(capsys, "validate").code == 0
    revoked = cli(capsys, "update", "payments-gateway", "-e", "dev", "--remove-pull-principal", ORG)
    assert revoked.code == 0, revoked.stderr
    entry = tfvars.load(repo.tfvars_file("dev"), "dev").entries["payments-gateway"]
    assert entry.pull_principals == (LAMBDA,)


@pytest.mark.parametrize("principal", [ORG, LAMBDA])
def test_push_to_an_organization_or_a_service_is_refused_in_one_line(
    repo: Workspace, capsys: pytest.CaptureFixture[str], principal: str
) -> None:
    create(capsys, "payments-gateway", env="dev")
    before = snapshot(repo.root)
    result = cli(
        capsys, "update", "payments-gateway", "-e", "dev", "--add-push-principal", principal
    )
    assert result.code == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1 and "may only pull, never push" in lines[0], result.stderr
    assert snapshot(repo.root) == before
