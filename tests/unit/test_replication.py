"""Replication, governed (rules/replication.py over the shared cover, rules/cover.py): the
filters, ECR's limits at and past their edges, the tier rule for --replicate, the reviewed
settings and their cross-environment rule, the over-replication report."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.errors import UserError
from orchestrator.files import catalog, scan_filters, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import PlanResult
from orchestrator.ops import validate as validate_op
from orchestrator.rules import limits, policy, replication
from orchestrator.rules import settings as settings_rules
from tests.helpers import REPO, cli, create, create_args, rc, snapshot
from tests.strategies import cover_fleets

TIERS = tiers_file.load(REPO / "terraform/modules/ecr/risk-tiers.json")
DEV = {"env": "dev", "owner": "app-team-payments"}


def _over(filters: tuple[str, ...], others: list[str]) -> set[str]:
    return {n for n in others if any(n.startswith(f) for f in filters)}


@settings(max_examples=300, deadline=None)
@given(fleet=cover_fleets(), limit=st.integers(min_value=1, max_value=6))
def test_every_repository_that_must_replicate_is_matched_within_ecrs_limits(
    fleet: tuple[list[str], list[str]], limit: int
) -> None:
    wanted, others = fleet
    try:
        found = replication.cover(wanted, others, limit)
    except UserError:
        # Only when no filters of 2+ characters can do it: more distinct 2-character
        # prefixes among the wanted names than the budget.
        assert len({n[:2] for n in wanted}) > limit
        return
    assert len(found.filters) <= limit
    for name in wanted:
        assert any(name.startswith(f) for f in found.filters), name
    for f in found.filters:
        assert 2 <= len(f) <= 256 and replication.FILTER_PATTERN.fullmatch(f), f
    assert set(found.over) == _over(found.filters, others)


def _brute_force(wanted: list[str], others: list[str], limit: int) -> int | None:
    """The least over-replication over every set of at most `limit` prefixes of 2+ characters."""
    prefixes = {n[:i] for n in wanted for i in range(2, len(n) + 1)}
    best: int | None = None
    for size in range(1, limit + 1):
        for chosen in itertools.combinations(sorted(prefixes), size):
            if all(any(w.startswith(p) for p in chosen) for w in wanted):
                over = len(_over(chosen, others))
                best = over if best is None else min(best, over)
    return best


@settings(max_examples=150, deadline=None)
@given(fleet=cover_fleets(max_size=7), limit=st.integers(min_value=1, max_value=3))
def test_the_over_replication_is_the_least_any_prefix_cover_achieves(
    fleet: tuple[list[str], list[str]], limit: int
) -> None:
    wanted, others = fleet
    best = _brute_force(wanted, others, limit) if wanted else 0
    if best is None:
        with pytest.raises(UserError, match=f"no {limit} prefix filters"):
            replication.cover(wanted, others, limit)
        return
    assert len(replication.cover(wanted, others, limit).over) == best


def test_a_filter_is_never_a_single_character() -> None:
    # The names share only their first letter: `a` is no filter (ECR's minimum is 2), so one
    # filter cannot match both; two can, and match nothing else.
    with pytest.raises(UserError, match="no 1 prefix filters of at least 2 characters"):
        replication.cover(["ab-x", "ac-y"], ["ad-z"], 1)
    found = replication.cover(["ab-x", "ac-y"], ["ad-z"], 2)
    assert found.filters == ("ab-x", "ac-y") and found.over == {}


def test_100_filters_fit_and_101_names_without_shared_prefixes_do_not() -> None:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    names = [a + b + "-svc" for a, b in itertools.product(alphabet, repeat=2)]
    found = replication.cover(names[:100], [], 100)
    assert len(found.filters) == 100 and found.over == {}
    # 101 names, 101 distinct 2-character prefixes: no 100 filters of 2+ characters match them.
    with pytest.raises(UserError) as refused:
        replication.cover(names[:101], [], 100)
    assert "101 repositories replicate" in refused.value.message


def test_check_filters_at_and_past_each_limit() -> None:
    entries = {
        f"prod{i:03d}-api": policy.build_request(
            name=f"prod{i:03d}-api", env="dev", owner="app-team-a", risk="high"
        )
        for i in range(101)
    }
    # prod000..prod089 one each, prod09 for the rest of the nineties, prod1 for prod100, and
    # eight redundant ones: 100 filters, at the limit; one more is past it.
    at = [f"prod{i:03d}" for i in range(98)] + ["prod09", "prod1"]
    assert len(at) == 100
    assert replication.check_filters(at, entries, TIERS) == []
    past = replication.check_filters([*at, "prod0"], entries, TIERS)
    assert len(past) == 1 and "holds 101 filters; ECR allows at most 100" in past[0]
    assert replication.check_filters(["pr"], entries, TIERS) == []  # 2 characters: the minimum
    short = replication.check_filters(["p"], entries, TIERS)
    assert short and "2 to 256 characters" in short[0]
    assert replication.check_filters(["p" * 256, "pr"], entries, TIERS) == []  # 256: the maximum
    assert replication.check_filters(["p" * 257, "pr"], entries, TIERS)
    missing = replication.check_filters(["prod00"], entries, TIERS)
    assert any("must replicate unmatched" in p for p in missing)
    # Without the variable, registry.tf writes one filter per name: 101 are too many.
    assert any("at most 100" in p for p in replication.check_filters(None, entries, TIERS))


def test_the_limits_table_holds_ecrs_replication_numbers() -> None:
    assert limits.LIMIT["replication-rules"].max == 10
    assert limits.LIMIT["replication-destinations"].max == settings_rules.MAX_DESTINATIONS == 25
    assert limits.LIMIT["replication-filters"].max == replication.MAX_FILTERS == 100
    assert (replication.FILTER_MIN, replication.FILTER_MAX) == (2, 256)
    root = (REPO / "terraform/variables.tf").read_text()
    root += (REPO / "terraform/registry.tf").read_text()
    assert "length(var.replication_destinations) <= 25" in root
    assert "length(var.registry_replication_filters) <= 100" in root
    assert "length(local.replication_filters) <= 100" in root
    assert "length(filter) >= 2 && length(filter) <= 256" in root


def _values(destinations: list[dict[str, str]], **more: object) -> dict[str, object]:
    return {"environment": "prod", "aws_region": "eu-west-2", DEST: destinations, **more}


DEST = settings_rules.DESTINATIONS


def test_destinations_at_and_past_25() -> None:
    regions = [f"xx-west-{i}" for i in range(26)]
    at = _values([{"region": r} for r in regions[:25]])
    assert settings_rules.problems(at, "prod") == []
    past = settings_rules.problems(_values([{"region": r} for r in regions]), "prod")
    assert [k for k, _ in past] == [DEST] and "at most 25" in past[0][1]


@pytest.mark.parametrize(
    ("destinations", "extra", "why"),
    [
        ([{"region": "eu-west-2"}], {}, "the registry itself"),
        (
            [{"region": "eu-west-2", "registry_id": "111111111111"}],
            {"account_id": "111111111111"},
            "the registry itself",
        ),
        ([{"region": "us-west-2"}, {"region": "us-west-2"}], {}, "listed twice"),
        ([{"region": "west"}], {}, "not an AWS region"),
        ([{"region": "us-west-2", "registry_id": "12"}], {}, "12-digit"),
        ([{"region": "us-west-2", "kms": "x"}], {}, "must be"),
    ],
)
def test_a_wrong_destination_is_one_line(
    destinations: list[dict[str, str]], extra: dict[str, str], why: str
) -> None:
    found = settings_rules.problems(_values(destinations, **extra), "prod")
    assert len(found) == 1 and why in found[0][1], found


def test_another_accounts_registry_in_the_same_region_is_a_destination() -> None:
    ok = _values([{"region": "eu-west-2", "registry_id": "210987654321"}], account_id="1" * 12)
    assert settings_rules.problems(ok, "prod") == []
    assert settings_rules.problems(_values([], account_id="12"), "prod")[0][0] == "account_id"
    bad = settings_rules.problems(_values([], replication_sources=["1" * 12, "1" * 12]), "prod")
    assert "twice" in bad[0][1]


# -- the tier rule, through the CLI: one line, nothing written --------------------------------


def test_replicate_is_refused_where_the_tier_never_replicates(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo.root)
    result = cli(capsys, *create_args("payments-scratch", "--replicate", risk="low", **DEV))
    assert result.code == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1 and "the low tier does not replicate" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(repo.root) == before


def test_replicate_where_allowed_is_recorded_in_both_files(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "payments-api", "--replicate", risk="medium", **DEV)
    create(capsys, "payments-web", risk="medium", **DEV)
    tf = tfvars.load(repo.tfvars_file("dev"), "dev")
    assert tf.entries["payments-api"].replicate and not tf.entries["payments-web"].replicate
    assert "    replicate       = true\n" in tf.text
    cat = catalog.load(repo.catalog_file, TIERS)
    assert cat.entries["payments-api"].request.replicate
    assert "      replicate: true\n" in cat.text
    # No destinations in dev: nothing replicates, no filters are written.
    assert tf.replication_filters is None
    # update withdraws the ask; the tier change to low is refused while it stands.
    refused = cli(capsys, "update", "payments-api", "--env", "dev", "--risk", "low")
    assert refused.code == 1 and "does not replicate" in refused.stderr
    done = cli(capsys, "update", "payments-api", "--env", "dev", "--no-replicate")
    assert done.code == 0, done.stderr
    assert not tfvars.load(repo.tfvars_file("dev"), "dev").entries["payments-api"].replicate


def test_the_filters_follow_the_entries_once_destinations_are_declared(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfvars"
    head = 'aws_region = "eu-west-2"\nenvironment = "dev"\n'
    head += 'replication_destinations = [{ region = "us-west-2" }]\n\n'
    body = "".join(
        tfvars.render_entry(
            policy.build_request(
                name=n, env="dev", owner="app-team-a", risk=r, replicate=n == "search-api"
            )
        )
        for n, r in sorted(
            {"payments-api": "high", "payments-ui": "low", "search-api": "medium"}.items()
        )
    )
    text = f"{head}ecr_repositories = {{\n{body}}}\n"
    new = scan_filters.with_filters(text, path, "dev", TIERS)
    assert scan_filters.REPLICATION_COMMENT in new
    tf = tfvars.parse(new, path, "dev")
    assert tf.replication_filters == ["payments-api", "search-api"]
    assert tf.entries == tfvars.parse(text, path, "dev").entries
    assert scan_filters.with_filters(new, path, "dev", TIERS) == new
    # Without destinations the line goes again.
    gone = new.replace('replication_destinations = [{ region = "us-west-2" }]\n', "")
    again = scan_filters.with_filters(gone, path, "dev", TIERS)
    assert "registry_replication_filters" not in again
    assert scan_filters.REPLICATION_COMMENT not in again


def test_the_report_says_what_replicates_where_and_beyond_the_tier() -> None:
    entries = {
        n: policy.build_request(name=n, env="dev", owner="app-team-a", risk=r)
        for n, r in {"payments-api": "high", "payments-ui": "low", "web": "high"}.items()
    }
    where = (replication.Destination("us-west-2"), replication.Destination("eu-west-1", "2" * 12))
    report = replication.replication(["payments", "web"], where, entries, TIERS, ["payments-x"])
    lines = report.lines()
    assert lines[0] == (
        "replication: 2 repositories to us-west-2, eu-west-1 (222222222222),"
        " by 2 prefix filter(s): payments, web"
    )
    assert any(
        line.startswith("payments-ui: replicates to us-west-2") and "'payments'" in line
        for line in lines
    )
    assert "payments-x (not managed by ecrctl): replicates, matched by 'payments'" in lines
    assert json.loads(json.dumps(report.to_dict()))["over_replicated"] == {
        "payments-ui": "payments"
    }
    plan = PlanResult(
        "dev", (), ("web",), Path("p"), (rc("aws_ecr_registry_policy.this[0]", "create"),), ()
    )
    assert replication.plan_report(None, where, entries, TIERS, plan) is None
    nothing = replication.replication(None, (), entries, TIERS)
    assert nothing.lines() == ["replication: none (no destinations declared)"]


def test_validate_holds_a_managed_destination_to_let_the_source_in(repo: Workspace) -> None:
    def declare(env: str, lines: str) -> None:
        path = repo.tfvars_file(env)
        text = path.read_text().replace("\necr_repositories = {", f"\n{lines}ecr_repositories = {{")
        path.write_text(text)

    declare(
        "prod",
        'account_id = "111111111111"\n'
        'replication_destinations = [{ region = "eu-west-2", registry_id = "222222222222" }]\n',
    )
    declare("staging", 'account_id = "222222222222"\n')
    problems = validate_op.validate(repo)
    found = [p for p in problems if "replication_sources" in p.message]
    assert len(found) == 1 and found[0].path.endswith("envs/staging/terraform.tfvars")
    assert 'add "111111111111" to replication_sources' in found[0].message
    declare("staging", 'replication_sources = ["111111111111"]\n')
    assert not [p for p in validate_op.validate(repo) if "replication" in p.message]


def test_the_tier_table_refuses_an_unknown_replication(tmp_path: Path) -> None:
    data = json.loads((REPO / "terraform/modules/ecr/risk-tiers.json").read_text())
    assert {t: r["replication"] for t, r in data["tiers"].items()} == {
        "low": "none",
        "medium": "allowed",
        "high": "required",
    }
    data["tiers"]["low"]["replication"] = "sometimes"
    path = tmp_path / "risk-tiers.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="replication 'sometimes' is not one of"):
        tiers_file.load(path)


def test_adopt_reports_where_the_registry_replicates_against_the_tier(tmp_path: Path) -> None:
    from orchestrator.context import Session
    from orchestrator.lifecycle import adopt
    from tests.helpers import build_repo_tree
    from tests.unit.test_adopt import FakeEcr, observed

    class Registry(FakeEcr):
        def replication(self) -> tuple[str, list[dict[str, object]]]:
            rule = {
                "destinations": [{"region": "eu-west-1", "registryId": "123456789012"}],
                "repositoryFilters": [{"filter": "old", "filterType": "PREFIX_MATCH"}],
            }
            return "123456789012", [rule]

    ws = Workspace(build_repo_tree(tmp_path / "repo"))
    path = ws.tfvars_file("dev")
    declared = 'replication_destinations = [{ region = "us-west-2" }]\n\necr_repositories = {'
    path.write_text(path.read_text().replace("ecr_repositories = {", declared, 1))
    repos = {"old_service": observed(name="old_service", arn="arn:old"), "team/app": observed()}
    requests = adopt.build_requests(
        [
            adopt.Item("old_service", "app-team-b", "medium"),
            adopt.Item("team/app", "app-team-a", "low"),
        ],
        "dev",
    )
    reports = adopt.assess(
        Session(ws).at("dev"),
        requests,
        TIERS,
        connector=lambda *_: Registry(repos),  # type: ignore[arg-type,return-value]
    )
    found = {r.name: [d for d in r.differences if d.setting == "replication"] for r in reports}
    (old,) = found["old_service"]
    assert (old.current, old.wanted, old.fix) == ("eu-west-1", "none", "in place")
    assert found["team/app"] == []
    # Asked for (an adopt file's `replicate: true`), the medium tier replicates to the destinations.
    asked = adopt.build_requests(
        [adopt.Item("old_service", "app-team-b", "medium", replicate=True)], "dev"
    )
    (report,) = adopt.assess(
        Session(ws).at("dev"),
        asked,
        TIERS,
        connector=lambda *_: Registry(repos),  # type: ignore[arg-type,return-value]
    )
    (moved,) = [d for d in report.differences if d.setting == "replication"]
    assert (moved.current, moved.wanted) == ("eu-west-1", "us-west-2")
    low = adopt.build_requests([adopt.Item("team/app", "app-team-a", "low", replicate=True)], "dev")
    with pytest.raises(UserError, match="the low tier does not replicate"):
        adopt.check_requests(low, TIERS)
    rules = Registry(repos).replication()[1]
    assert replication.held_for("old_service", "123456789012", rules) == "eu-west-1"
    assert replication.held_for("old_service", "999999999999", rules) == (
        "eu-west-1 (123456789012)"
    )


def test_the_guard_lets_the_replication_configuration_go_but_never_the_scanning() -> None:
    from tests.helpers import verdicts

    web = 'module.ecr_repositories["web"].aws_ecr_repository.this'
    for address in (replication.ADDRESS, replication.POLICY_ADDRESS):
        for action in ("create", "update", "delete"):
            assert verdicts([rc(address, action), rc(web, "update")], {"web"}, {"web"}) == []
    scan = verdicts(
        [rc("aws_ecr_registry_scanning_configuration.this[0]", "delete")], {"web"}, {"web"}
    )
    assert scan and "never destroyed" in scan[0]
    # Any other registry-wide resource stays outside the request.
    other = verdicts([rc("aws_ecr_pull_through_cache_rule.this", "create")], {"web"}, {"web"})
    assert other and "outside the requested repositories" in other[0]


def test_validate_says_which_filters_line_a_hand_added_destination_needs(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination added by hand (no entry changed, so no ecrctl command rewrote the filters):
    one problem, at the destinations line, naming the line to write; the scan filters, which
    are right, are not blamed."""
    create(capsys, "payments-gateway", env="dev", owner="app-team-pay", risk="high")
    path = repo.tfvars_file("dev")
    destinations = 'replication_destinations = [{ region = "us-west-2" }]\n'
    path.write_text(
        path.read_text().replace("\necr_repositories =", f"\n{destinations}ecr_repositories =", 1)
    )
    problems = [p for p in validate_op.validate(repo) if p.path.endswith("dev/terraform.tfvars")]
    assert [p.message for p in problems] == [
        "registry_replication_filters is not what ecrctl computes from ecr_repositories and the"
        ' destinations: write registry_replication_filters = ["payments-gateway"] above'
        " ecr_repositories (ecrctl rewrites it on every change of ecr_repositories)"
    ]
    assert problems[0].line == path.read_text().splitlines().index(destinations.strip()) + 1
    fixed = path.read_text().replace(
        destinations, destinations + 'registry_replication_filters = ["payments-gateway"]\n'
    )
    path.write_text(fixed)
    assert not [p for p in validate_op.validate(repo) if p.path.endswith("dev/terraform.tfvars")]
