"""State shards: the shard of a name (the same in Python and in the root's HCL), the states of an
environment, the state_shards setting, and the refusal of a hand edit that disagrees with the
states."""

from __future__ import annotations

import re
from typing import Any

import pytest

from orchestrator.context import Environment, Session
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace
from orchestrator.models import Action
from orchestrator.ops import layout
from orchestrator.rules import settings, shards
from tests.helpers import cli, create_entry, rc, snapshot

# Computed once with `terraform console` from the expression of terraform/main.tf
# (format("shard-%02d", parseint(substr(sha256(NAME), 0, 8), 16) % S)), for S = 4 and S = 7;
# the names' first 32 bits have the top bit set (b2.., dd.., e4.., 85..) but one (2e..).
PINNED = {
    "payments-gateway": (3, 3),
    "search-api": (0, 2),
    "team/app": (0, 2),
    "a.b": (0, 5),
    "legacy/svc_0001": (1, 3),
}
BASE = "ecr/prod/terraform.tfstate"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_shard_of_a_name_is_what_terraform_computes(name: str) -> None:
    assert (shards.shard_of(name, 4), shards.shard_of(name, 7)) == PINNED[name]
    assert shards.shard_of(name, 1) == 0


def test_the_root_filters_its_repositories_with_the_same_expression(repo: Workspace) -> None:
    main = (repo.terraform_dir / "main.tf").read_text()
    assert re.search(
        r'format\("shard-%02d", parseint\(substr\(sha256\(name\), 0, 8\), 16\) % var\.state_shards\)'
        r" == var\.state_name",
        main,
    )
    # Every registry-wide resource is gated by the one local.
    registry = (repo.terraform_dir / "registry.tf").read_text()
    resources = re.findall(r'^resource "(\w+)"', registry, re.M)
    assert resources and set(resources) <= shards.REGISTRY_TYPES
    counts = re.findall(
        r'^resource "\w+" "\w+" \{\n  count\s+= local\.holds_registry( \?|\s&&)', registry, re.M
    )
    assert len(counts) == len(resources)


def test_one_shard_is_todays_single_state_at_its_own_key() -> None:
    (only,) = shards.states(BASE, 1)
    assert (only.name, only.key, only.holds_registry) == ("main", BASE, True)
    assert only.holds("anything") and shards.state_of("x", BASE, 1) == only


def test_a_sharded_environment_has_a_registry_state_and_one_state_per_shard() -> None:
    states = shards.states(BASE, 4)
    assert [(s.name, s.key) for s in states] == [
        ("registry", "ecr/prod/registry/terraform.tfstate"),
        ("shard-00", "ecr/prod/shards/00/terraform.tfstate"),
        ("shard-01", "ecr/prod/shards/01/terraform.tfstate"),
        ("shard-02", "ecr/prod/shards/02/terraform.tfstate"),
        ("shard-03", "ecr/prod/shards/03/terraform.tfstate"),
    ]
    assert [s.holds_registry for s in states] == [True, False, False, False, False]
    assert shards.state_of("payments-gateway", BASE, 4).name == "shard-03"
    assert not states[0].holds("payments-gateway")
    assert [s.holds("payments-gateway") for s in states[1:]] == [False, False, False, True]


@pytest.mark.parametrize("value", [0, 100, -1, 2.5, "4", True, None])
def test_state_shards_is_a_whole_number_from_1_to_99(value: Any) -> None:
    found = settings.problems(
        {"environment": "dev", "aws_region": "eu-west-2", "state_shards": value}, "dev"
    )
    assert [key for key, _ in found] == ["state_shards"]
    assert "ecrctl shards migrate" in found[0][1]


def test_a_bad_state_shards_in_the_tfvars_is_one_line_naming_the_fix(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo.tfvars_file("dev")
    path.write_text(path.read_text() + "state_shards = 0\n")
    before = snapshot(repo.root)
    result = cli(capsys, "plan", "alpha-svc", "--env", "dev")
    assert result.code == 1
    assert "terraform.tfvars:" in result.stderr and "state_shards must be" in result.stderr
    assert "ecrctl shards migrate --env dev" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(repo.root) == before


def _state(*names: str, registry: bool = False) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {
            "mode": "managed",
            "module": f'module.ecr_repositories["{n}"]',
            "type": "aws_ecr_repository",
            "name": "this",
            "instances": [{"attributes": {"name": n}}],
        }
        for n in names
    ]
    if registry:
        resources.append(
            {
                "mode": "managed",
                "type": "aws_ecr_registry_scanning_configuration",
                "name": "this",
                "instances": [{"index_key": 0, "attributes": {}}],
            }
        )
    return {"version": 4, "serial": 3, "lineage": "l", "resources": resources}


def _sharded(repo: Workspace, count: int, names: list[str]) -> Environment:
    for name in names:
        create_entry(repo, name, env="dev")
    path = repo.tfvars_file("dev")
    path.write_text(path.read_text() + f"state_shards = {count}\n")
    return Session(repo).at("dev")


def _holding(monkeypatch: pytest.MonkeyPatch, held: dict[str, dict[str, Any]]) -> None:
    monkeypatch.setattr(Environment, "held", lambda self, state: held.get(state.key, {}))


def test_states_that_match_state_shards_pass(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _sharded(repo, 4, ["payments-gateway", "search-api"])
    _holding(
        monkeypatch,
        {
            "ecr/dev/registry/terraform.tfstate": _state(registry=True),
            "ecr/dev/shards/03/terraform.tfstate": _state("payments-gateway"),
            "ecr/dev/shards/00/terraform.tfstate": _state("search-api", "gone-now"),
        },
    )
    layout.check(ctx, ctx.states)


@pytest.mark.parametrize(
    ("count", "held", "said"),
    [
        # 1 -> 4 by hand: the one state still holds everything.
        (
            4,
            {"ecr/dev/terraform.tfstate": _state("search-api", registry=True)},
            "ecr/dev/terraform.tfstate",
        ),
        # 4 -> 1 by hand: the registry state holds the registry.
        (1, {"ecr/dev/registry/terraform.tfstate": _state(registry=True)}, "ecr/dev/registry/"),
        # 4 -> 2 by hand: shard 02 (beyond 2) holds repositories.
        (2, {"ecr/dev/shards/02/terraform.tfstate": _state("x-svc")}, "a shard beyond 2"),
        # 2 -> 4 by hand: shard 00 of 2 held what is shard 03 of 4 now.
        (
            4,
            {"ecr/dev/shards/00/terraform.tfstate": _state("payments-gateway")},
            "shard-00 holds payments-gateway",
        ),
        # the registry's resources in a shard
        (4, {"ecr/dev/shards/01/terraform.tfstate": _state(registry=True)}, "registry-wide"),
    ],
)
def test_a_hand_edit_of_state_shards_is_refused_in_one_line_naming_migrate(
    repo: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    count: int,
    held: dict[str, dict[str, Any]],
    said: str,
) -> None:
    ctx = _sharded(repo, count, ["payments-gateway", "search-api"])
    _holding(monkeypatch, held)
    creates_registry = [rc("aws_ecr_registry_scanning_configuration.this[0]", Action.CREATE)]
    with pytest.raises(UserError) as caught:
        layout.check(ctx, ctx.states, creates_registry)
    assert said in caught.value.message and "\n" not in caught.value.message
    assert f"state_shards = {count}" in caught.value.message
    assert caught.value.hint is not None
    assert f"ecrctl shards migrate --env dev --to {count}" in caught.value.hint


def test_one_state_reads_nothing_more_unless_its_plan_creates_the_registry(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _sharded(repo, 1, ["search-api"])

    def no_read(self: Environment, state: shards.State) -> dict[str, Any]:
        raise AssertionError("read a state")

    monkeypatch.setattr(Environment, "held", no_read)
    layout.check(ctx, ctx.states)
    layout.check(ctx, ctx.states, [rc('module.ecr_repositories["search-api"].x', "create")])


def test_an_unfinished_migration_refuses_every_plan(repo: Workspace) -> None:
    ctx = Session(repo).at("dev")
    path = layout.migration_file(repo, "dev")
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    with pytest.raises(UserError, match="migration of dev is unfinished"):
        layout.check(ctx, ctx.states)


def test_the_state_option_names_a_state_of_the_environment(repo: Workspace) -> None:
    ctx = _sharded(repo, 4, [])
    assert ctx.state_named("3").name == "shard-03"
    assert ctx.state_named("registry").key == "ecr/dev/registry/terraform.tfstate"
    with pytest.raises(UserError, match="no state 'shard-07'"):
        ctx.state_named("shard-07")
    assert ctx.terraform(ctx.state_named("2")).data_dir == repo.state_dir / "tf" / "dev.shard-02"
    assert Session(repo).at("prod").terraform().data_dir == repo.state_dir / "tf" / "prod"


def _scanning_state(*filters: str, scan_type: str = "ENHANCED") -> dict[str, Any]:
    rules = [{"scan_frequency": "SCAN_ON_PUSH", "repository_filter": [{"filter": "*"}]}]
    if filters:
        rules.append(
            {
                "scan_frequency": "CONTINUOUS_SCAN",
                "repository_filter": [{"filter": f, "filter_type": "WILDCARD"} for f in filters],
            }
        )
    resource = {
        "mode": "managed",
        "type": "aws_ecr_registry_scanning_configuration",
        "name": "this",
        "instances": [{"index_key": 0, "attributes": {"scan_type": scan_type, "rule": rules}}],
    }
    return {"version": 4, "serial": 1, "lineage": "l", "resources": [resource]}


@pytest.mark.parametrize(
    ("held", "moves"),
    [
        ({}, True),  # never applied
        (_scanning_state("payments-gateway*"), False),
        (_scanning_state("payments-gateway*", "billing-api*"), True),
        (_scanning_state(), True),
        (_scanning_state("payments-gateway*", scan_type="BASIC"), True),
    ],
)
def test_a_plan_takes_the_registry_state_along_only_when_its_settings_move(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch, held: dict[str, Any], moves: bool
) -> None:
    from orchestrator.ops import plan as plan_op

    _sharded(repo, 4, ["search-api"])
    create_entry(repo, "payments-gateway", env="dev", risk="medium")
    ctx = Session(repo).at("dev")
    _holding(monkeypatch, {"ecr/dev/registry/terraform.tfstate": held})
    tf = ctx.tfvars
    assert plan_op.registry_moves(ctx, tf) is moves
    states = plan_op.touched_states(ctx, ["search-api"], tf)
    assert [s.name for s in states] == (["registry"] if moves else []) + ["shard-00"]


@pytest.mark.parametrize(
    ("prior", "held", "fresh"),
    [
        ({"lineage": "a", "serial": 3}, {"lineage": "a", "serial": 3}, True),
        ({"lineage": "a", "serial": 3}, {"lineage": "a", "serial": 4}, False),
        ({"lineage": "a", "serial": 3}, {"lineage": "b", "serial": 3}, False),
        # never written: the plan read data sources only (its prior state has them)
        ({"lineage": "new", "resources": [{"mode": "data"}]}, {}, True),
        ({"lineage": "new", "resources": [{"mode": "managed"}]}, {}, False),
        ({}, {"resources": [{"mode": "managed"}]}, False),
    ],
)
def test_a_saved_plan_is_fresh_while_its_state_is_the_one_it_planned_against(
    prior: dict[str, Any], held: dict[str, Any], fresh: bool
) -> None:
    from orchestrator.ops.plan import is_fresh

    assert is_fresh(prior, held) is fresh


def test_a_registry_only_plan_targets_the_registry_state_alone(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ecrctl plan --env dev --registry` (no name): the registry state, registry.tf's targets,
    even when the registry state says nothing moves; one state: `main`, the same targets."""
    from orchestrator.ops import plan as plan_op

    ctx = _sharded(repo, 4, ["search-api"])
    _holding(monkeypatch, {"ecr/dev/registry/terraform.tfstate": _scanning_state()})
    assert plan_op.registry_moves(ctx, ctx.tfvars) is False
    states = plan_op.touched_states(ctx, [], ctx.tfvars, registry=True)
    assert [s.name for s in states] == ["registry"]
    assert plan_op.targets_of(states[0], []) == plan_op.REGISTRY_TARGETS
    assert [s.name for s in plan_op.touched_states(ctx, ["search-api"], ctx.tfvars, True)] == [
        "registry",
        "shard-00",
    ]
    one = Session(repo).at("prod")
    (state,) = plan_op.touched_states(one, [], one.tfvars, registry=True)
    assert state.name == "main" and plan_op.targets_of(state, []) == plan_op.REGISTRY_TARGETS


def test_a_plan_of_no_name_without_registry_is_one_line_naming_both(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "plan", "--env", "dev")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "name at least one repository, or pass --registry" in result.stderr
    assert "ecrctl plan --env dev --registry" in result.stderr


@pytest.mark.parametrize("count", ["0", "100"])
def test_migrate_refuses_a_count_outside_1_to_99_before_asking(
    repo: Workspace, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    """A bad --to is named in one line before the confirmation is asked for (nothing read)."""
    result = cli(capsys, "shards", "migrate", "--env", "dev", "--to", count)
    assert result.code == 1
    assert f"--to: state_shards must be a whole number from 1 to 99, not {count}" in result.stderr
    assert "confirmation" not in result.stderr and "Traceback" not in result.stderr
