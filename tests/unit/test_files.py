"""The tfvars and catalog editors: byte preservation, safe reading, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.errors import FileError, UserError
from orchestrator.files import catalog, hcl, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.models import CatalogEntry
from orchestrator.rules import policy
from tests.helpers import TFVARS

REPO = Path(__file__).resolve().parents[2]
TIERS = tiers_file.load(REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json")


def req(name: str, risk: str = "low", env: str = "dev", **extra: object):  # type: ignore[no-untyped-def]
    return policy.build_request(name=name, env=env, owner="app-team-x", risk=risk, **extra)  # type: ignore[arg-type]


def test_tfvars_insert_keeps_every_other_byte_and_sorts(tmp_path: Path) -> None:
    tf = tfvars.parse(TFVARS, tmp_path / "t.tfvars", "dev")
    new = tf.with_entry(req("mike-svc"))
    entry = tfvars.render_entry(req("mike-svc"))
    assert new.replace(entry, "") == TFVARS
    assert new.index('"alpha-svc"') < new.index('"mike-svc"') < new.index('"zulu-svc"')
    again = tfvars.parse(new, tmp_path / "t.tfvars", "dev")
    assert again.entries["mike-svc"] == req("mike-svc")
    assert again.entries["zulu-svc"].risk == "medium"


def test_tfvars_remove_restores_the_original(tmp_path: Path) -> None:
    tf = tfvars.parse(TFVARS, tmp_path / "t.tfvars", "dev")
    added = tfvars.parse(tf.with_entry(req("mike-svc")), tmp_path / "t.tfvars", "dev")
    assert added.without_entry("mike-svc") == TFVARS


def test_tfvars_one_line_empty_map_opens_up(tmp_path: Path) -> None:
    text = 'aws_region = "x"\necr_repositories = {}\n'
    new = tfvars.parse(text, tmp_path / "t", "dev").with_entry(req("ab"))
    assert set(tfvars.parse(new, tmp_path / "t", "dev").entries) == {"ab"}
    assert new.startswith('aws_region = "x"\necr_repositories = {\n')


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('a = "x"\nb = "${var.y}"\n', 2, "template"),
        ('a = "x"\na = "y"\n', 2, "twice"),
        ('ecr_repositories = {\n  "x" = {\n    id = "A"\n  }\n  "x" = {}\n}\n', 5, "twice"),
        ('a = "unterminated\n', 1, "unterminated"),
        ("a = <<EOF\nx\nEOF\n", 1, "heredoc"),
        ("a = [1, 2\n", 2, "expected"),
    ],
)
def test_tfvars_syntax_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(hcl.HclSyntaxError) as info:
        hcl.parse(text)
    assert info.value.line == line and words in str(info.value)


def test_tfvars_entry_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = TFVARS.replace('risk            = "medium"', 'risk            = "extreme"')
    with pytest.raises(UserError) as info:
        tfvars.parse(bad, tmp_path / "t.tfvars", "dev")
    assert f"{tmp_path / 't.tfvars'}:15:" in info.value.message and "extreme" in info.value.message


def _catalog_with(*entries: CatalogEntry) -> str:
    text = catalog.NEW_CATALOG
    for entry in entries:
        text = catalog.load_text(text, Path("c.yaml"), TIERS).with_entry(entry, TIERS)
    return text


def test_yaml_special_names_stay_strings() -> None:
    text = _catalog_with(*(CatalogEntry(req(n)) for n in ("on", "no", "012", "yes-1")))
    cat = catalog.load_text(text, Path("c.yaml"), TIERS)
    assert sorted(cat.entries) == ["012", "no", "on", "yes-1"]
    import yaml

    assert sorted(yaml.safe_load(text)["repositories"]) == ["012", "no", "on", "yes-1"]


def test_catalog_insert_keeps_comments_and_other_entries() -> None:
    base = _catalog_with(CatalogEntry(req("alpha-svc")), CatalogEntry(req("zulu-svc")))
    base = base.replace('  "zulu-svc":', '  # hand-written note about zulu\n  "zulu-svc":')
    new = catalog.load_text(base, Path("c.yaml"), TIERS).with_entry(
        CatalogEntry(req("mike-svc")), TIERS
    )
    assert (
        new.replace(catalog.render_entry(CatalogEntry(req("mike-svc")), TIERS["low"]), "") == base
    )
    assert new.index("mike-svc") < new.index("# hand-written note")


def test_replacing_several_entries_at_once_equals_one_at_a_time() -> None:
    base = _catalog_with(*(CatalogEntry(req(n)) for n in ("alpha-svc", "mike-svc", "zulu-svc")))
    base = base.replace('  "mike-svc":', '  # a note kept as is\n  "mike-svc":')
    cat = catalog.load_text(base, Path("c.yaml"), TIERS)
    filled = [
        CatalogEntry(req(n), repository_url=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{n}")
        for n in ("zulu-svc", "alpha-svc")
    ]
    one_by_one = base
    for entry in filled:
        one_by_one = catalog.load_text(one_by_one, Path("c.yaml"), TIERS).with_entry(entry, TIERS)
    assert cat.with_replaced(filled, TIERS) == one_by_one
    assert "# a note kept as is" in one_by_one and cat.with_replaced([], TIERS) == base


@pytest.mark.parametrize(
    "repositories",
    ["repositories:\n", "repositories: {}\n", "repositories: {\n  }\n", "repositories:\n# c\n", ""],
)
def test_first_entry_opens_any_empty_repositories_map(repositories: str) -> None:
    base = 'version: "1.0"\n' + repositories + 'physical_registry: "x"\n'
    new = catalog.load_text(base, Path("c.yaml"), TIERS).with_entry(
        CatalogEntry(req("alpha-svc")), TIERS
    )
    cat = catalog.load_text(new, Path("c.yaml"), TIERS)
    assert list(cat.entries) == ["alpha-svc"] and cat.physical_registry == "x"


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda t: t + "  !!python/object:os.system x: 1\n", "python/object"),
        (lambda t: t.replace("version:", "version: 1\nversion:"), "twice"),
        (lambda t: t.replace('      owner: "app-team-x"', '     owner: "app-team-x"'), "expected"),
        (lambda t: t.replace('"REGISTRY_ALPHA_SVC"', '"bad id"'), "REGISTRY"),
        (lambda t: t.replace('scanning: "standard"', 'scanning: "none"'), "governance.scanning"),
        (lambda t: t[: len(t) // 2] + "\n  x: [\n", "found"),
    ],
)
def test_damaged_catalog_gives_one_clear_error(damage, words) -> None:  # type: ignore[no-untyped-def]
    text = damage(_catalog_with(CatalogEntry(req("alpha-svc"))))
    with pytest.raises(UserError) as info:
        catalog.load_text(text, Path("catalog/ecr-catalog.yaml"), TIERS)
    assert re.match(r"catalog/ecr-catalog\.yaml:\d+: ", info.value.message)
    assert words in info.value.message


def test_a_file_error_carries_its_path_and_line_as_fields(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfvars"
    text = 'aws_region = "us-east-1"\necr_repositories = {\n  "x" = {\n'
    with pytest.raises(FileError) as tf_error:
        tfvars.parse(text, path, "dev")
    assert tf_error.value.path == str(path) and tf_error.value.line == 4
    assert tf_error.value.message == f"{path}:4: {tf_error.value.reason}"
    tiers = tiers_file.load(REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json")
    with pytest.raises(FileError) as cat_error:
        catalog.load_text('version: "1.0"\nrepositories:\n  a: 1\n  a: 2\n', path, tiers)
    assert cat_error.value.line == 4 and "appears twice" in cat_error.value.reason
