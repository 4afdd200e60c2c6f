"""The registry scanning cover (orchestrator/scanning.py) and its place in the tfvars."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.files import scan_filters, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.rules import policy, scanning
from tests.helpers import REPO, cli, create
from tests.strategies import cover_fleets

TIERS = tiers_file.load(REPO / "terraform/modules/ecr/risk-tiers.json")


def _over(filters: tuple[str, ...], others: list[str]) -> set[str]:
    return {n for n in others if any(scanning.matches(f, n) for f in filters)}


@settings(max_examples=300, deadline=None)
@given(fleet=cover_fleets(), limit=st.integers(min_value=1, max_value=6))
def test_every_continuous_scan_repository_is_matched_within_ecrs_limits(
    fleet: tuple[list[str], list[str]], limit: int
) -> None:
    continuous, others = fleet
    found = scanning.cover(continuous, others, limit)
    assert len(found.filters) <= limit
    for name in continuous:  # matched as ECR reads filters, not as the cover thinks
        assert any(scanning.matches(f, name) for f in found.filters), name
    for f in found.filters:
        assert scanning.FILTER_PATTERN.fullmatch(f) and len(f) <= 255, f
    assert set(found.over_scanned) == _over(found.filters, others)
    if len(continuous) <= limit:  # exact names while they fit: only unavoidable over-scan
        assert found.over_scanned.keys() == {
            o for o in others if any(o.startswith(c) for c in continuous)
        }


def _brute_force(continuous: list[str], others: list[str], limit: int) -> int:
    """The least over-scan over every set of at most `limit` prefix filters."""
    prefixes = {n[:i] for n in continuous for i in range(len(n) + 1)}
    best = len(others) + 1
    for size in range(1, limit + 1):
        for chosen in itertools.combinations(sorted(prefixes), size):
            filters = tuple(p + "*" for p in chosen)
            if all(any(scanning.matches(f, c) for f in filters) for c in continuous):
                best = min(best, len(_over(filters, others)))
    return best


@settings(max_examples=150, deadline=None)
@given(fleet=cover_fleets(max_size=7), limit=st.integers(min_value=1, max_value=3))
def test_the_over_scan_is_the_least_any_prefix_cover_achieves(
    fleet: tuple[list[str], list[str]], limit: int
) -> None:
    continuous, others = fleet
    found = scanning.cover(continuous, others, limit)
    if not continuous:
        assert found.filters == () and not found.over_scanned
        return
    assert len(found.over_scanned) == _brute_force(continuous, others, limit)


def test_product_prefixes_appear_once_names_no_longer_fit() -> None:
    continuous = [f"payments-c{i}" for i in range(3)] + [f"web-c{i}" for i in range(3)]
    others = ["payments-ui", "search-api", "web-static"]
    assert scanning.cover(continuous, others, 6).filters == tuple(f"{n}*" for n in continuous)
    small = scanning.cover(continuous, others, 2)
    assert small.filters == ("payments-c*", "web-c*")
    assert small.over_scanned == {}
    one = scanning.cover(continuous, others, 1)
    assert len(one.filters) == 1 and set(one.over_scanned) <= set(others)


def test_a_name_that_prefixes_another_cannot_be_scanned_alone() -> None:
    # `payments*` is the narrowest filter for `payments`, and it matches `payments-ui` too.
    found = scanning.cover(["payments"], ["payments-ui", "pay"], 100)
    assert found.filters == ("payments*",)
    assert found.over_scanned == {"payments-ui": "payments*"}


def test_a_long_name_gets_a_filter_within_ecrs_255_characters() -> None:
    long = "a" * 250 + "-bcde"
    found = scanning.cover([long, "b" * 256], ["a" * 250 + "-bcdf"], 100)
    assert all(len(f) <= 255 for f in found.filters)
    assert not scanning.uncovered(found.filters, [long, "b" * 256])


def test_ecr_reads_a_filter_without_a_wildcard_as_contains() -> None:
    # The table in ECR's user guide ("Filters to choose which repositories are scanned").
    names = ["prod", "repo-prod", "prod-repo", "repo-prod-repo", "prodrepo"]
    table = {
        "prod": [True, True, True, True, True],
        "*prod": [True, True, False, False, False],
        "prod*": [True, False, True, False, True],
        "*prod*": [True, True, True, True, True],
        "prod*repo": [False, False, True, False, True],
    }
    for pattern, expected in table.items():
        assert [scanning.matches(pattern, n) for n in names] == expected, pattern


def test_a_thousand_repositories_fit_in_one_rule() -> None:
    names = [f"product{i % 150}-component{i}" for i in range(1000)]
    continuous = names[::2]
    found = scanning.cover(continuous, names[1::2])
    assert len(found.filters) <= scanning.MAX_FILTERS
    assert not scanning.uncovered(found.filters, continuous)


# -- the tfvars ------------------------------------------------------------------------------

HEAD = '# header\n\naws_region  = "eu-west-2"\nenvironment = "dev"\n\n'


def _check(text: str) -> list[str]:
    tf = tfvars.parse(text, Path("envs/dev/terraform.tfvars"), "dev")
    return scanning.check_filters(tf.scan_filters, tf.entries, TIERS)


def _tfvars(risks: dict[str, str]) -> str:
    body = "".join(
        tfvars.render_entry(policy.build_request(name=n, env="dev", owner="app-team-a", risk=r))
        for n, r in sorted(risks.items())
    )
    return f"{HEAD}ecr_repositories = {{\n{body}}}\n"


def test_filters_are_written_above_ecr_repositories_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfvars"
    text = _tfvars({"payments-api": "high", "web": "low"})
    new = scan_filters.with_filters(text, path, "dev", TIERS)
    assert new.startswith(
        HEAD
        + scan_filters.COMMENT
        + 'registry_scan_filters = [\n  "payments-api*",\n]\n\necr_repositories = {\n'
    )
    again = tfvars.parse(new, path, "dev")
    assert (again).scan_filters == ["payments-api*"]
    assert again.entries == tfvars.parse(text, path, "dev").entries
    assert scan_filters.with_filters(new, path, "dev", TIERS) == new  # nothing to change


def test_filters_are_rewritten_in_place_and_low_only_files_are_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "terraform.tfvars"
    low = _tfvars({"web": "low"})
    assert scan_filters.with_filters(low, path, "dev", TIERS) == low
    first = scan_filters.with_filters(_tfvars({"a1": "medium", "web": "low"}), path, "dev", TIERS)
    grown = first.replace(
        "ecr_repositories = {\n",
        "ecr_repositories = {\n"
        + tfvars.render_entry(
            policy.build_request(name="a0", env="dev", owner="app-team-a", risk="high")
        ),
    )
    second = scan_filters.with_filters(grown, path, "dev", TIERS)
    assert second.count("registry_scan_filters") == 1
    assert (tfvars.parse(second, path, "dev")).scan_filters == ["a0*", "a1*"]
    assert second.count(scan_filters.COMMENT) == 1


def test_check_filters_finds_a_hand_edit_that_under_scans(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfvars"
    text = scan_filters.with_filters(_tfvars({"a1": "medium", "b1": "high"}), path, "dev", TIERS)
    assert _check(text) == []
    edited = text.replace('  "b1*",\n', "")
    problems = _check(edited)
    assert problems == ["registry_scan_filters leaves 1 continuous-scan repository unmatched: b1"]


# -- what plan output and the pull-request comment say ---------------------------------------


def test_over_scan_says_which_repositories_get_more_scanning_and_why(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfvars"
    risks = {f"shop-c{i}": "medium" for i in range(3)} | {"shop-ui": "low", "web": "low"}
    text = scan_filters.with_filters(_tfvars(risks), path, "dev", TIERS)
    # A hand-tuned, broader filter: shop-ui now gets continuous scanning too.
    text = text.replace('  "shop-c0*",\n  "shop-c1*",\n  "shop-c2*",\n', '  "shop-*",\n')
    tf = tfvars.parse(text, path, "dev")
    report = scanning.over_scan(
        tf.scan_filters, tf.entries, TIERS, registry_names=["shop-legacy", "web", "other"]
    )
    assert report.managed == {"shop-ui": "shop-*"}
    assert report.unmanaged == {"shop-legacy": "shop-*"}
    assert report.lines() == [
        "shop-ui: continuous scan (tier asks for scan on push), matched by 'shop-*':"
        " 3 repositories ask for continuous scanning and ECR allows 100 filters per rule",
        "shop-legacy (not managed by ecrctl): continuous scan, matched by 'shop-*'",
    ]


def test_the_pull_request_comment_lists_over_scanned_repositories() -> None:
    from orchestrator.ci import markdown as ci
    from tests.unit.test_ci import CREATES, _record

    line = "shop-ui: continuous scan (tier asks for scan on push), matched by 'shop-*': why"
    summary = ci.render_plan(None, [_record("dev", CREATES, scanning=(line,))], None)
    assert "More scanning than the tier asks" in summary and f"- {line}" in summary
    assert "More scanning" not in ci.render_plan(None, [_record("dev", CREATES)], None)


def test_validate_reports_a_hand_edit_that_leaves_a_repository_unscanned(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, risk in (("shop-api", "medium"), ("shop-db", "high"), ("web", "low")):
        create(capsys, name, env="dev", owner="app-team-shop", risk=risk)
    path = repo.tfvars_file("dev")
    assert 'registry_scan_filters = [\n  "shop-api*",\n  "shop-db*",\n]\n' in path.read_text()
    assert cli(capsys, "validate", "--env", "dev").code == 0
    path.write_text(path.read_text().replace('  "shop-db*",\n', ""))
    result = cli(capsys, "validate", "--env", "dev")
    assert result.code == 1
    assert "registry_scan_filters leaves 1 continuous-scan repository unmatched: shop-db" in (
        result.stdout + result.stderr
    )


def test_removing_the_last_continuous_scan_repository_restores_the_file(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfvars"
    low = _tfvars({"web": "low"})
    with_high = scan_filters.with_filters(
        _tfvars({"web": "low", "shop": "high"}), path, "dev", TIERS
    )
    assert "registry_scan_filters" in with_high
    tf = tfvars.parse(with_high, path, "dev")
    assert scan_filters.with_filters(tf.without_entry("shop"), path, "dev", TIERS) == low
