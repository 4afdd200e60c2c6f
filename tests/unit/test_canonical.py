"""The canonical fast readers of the catalog and the tfvars agree with the full readers.

A file exactly as ecrctl writes it is read line by line (fast); anything else goes through the
YAML or HCL reader. Both must give the same result, byte offsets and line numbers included, and
the fast reader must step aside for anything it was not written for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import UserError
from orchestrator.files import catalog, hcl, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.models import CatalogEntry, RegistryRequest
from orchestrator.rules import policy
from tests.helpers import REPO
from tests.strategies import batches

TIERS = tiers_file.load(REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json")
CATALOG = Path("catalog/ecr-catalog.yaml")
TFVARS = Path("envs/local/terraform.tfvars")
TFVARS_TEXT = (REPO / TFVARS).read_text()


def _valid(raw: dict[str, Any]) -> RegistryRequest | None:
    try:
        return policy.build_request(env="local", **raw)
    except UserError:  # a description AWS would refuse once in NFC: not a request
        return None


def _written(batch: list[dict[str, Any]], statuses: list[str]) -> tuple[str, str]:
    """The catalog and tfvars texts that one create per request writes."""
    cat_text, tf_text = catalog.NEW_CATALOG, TFVARS_TEXT
    for raw, status in zip(batch, statuses, strict=False):
        request = _valid(raw)
        if request is None:
            continue
        entry = CatalogEntry(request, status=status)
        if status == "decommissioned":
            entry = catalog.with_status(entry, status, reason='gone "for" good\\', at="2026")
        cat_text = catalog.parse(cat_text, CATALOG, TIERS)[0].with_entry(entry, TIERS)
        tf_text = tfvars.parse(tf_text, TFVARS, "local").with_entry(request)
    return cat_text, tf_text


def _same_catalog(a: catalog.Catalog, b: catalog.Catalog) -> None:
    assert (a.text, a.physical_registry, a.entries) == (b.text, b.physical_registry, b.entries)
    assert (a.lines, a.spans, a.repositories_key) == (b.lines, b.spans, b.repositories_key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=batches, statuses=st.lists(st.sampled_from(["active", "deprecated", "decommissioned"]))
)
def test_fast_readers_agree_with_yaml_and_hcl(
    batch: list[dict[str, Any]], statuses: list[str]
) -> None:
    statuses = statuses + ["active"] * len(batch)
    cat_text, tf_text = _written(batch, statuses)

    fast = catalog._parse_canonical(cat_text, CATALOG, TIERS)
    full, problems = catalog._parse_yaml(cat_text, CATALOG, TIERS)
    assert fast is not None and not problems
    _same_catalog(fast, full)

    fast_tf = tfvars._parse_canonical(tf_text, TFVARS, "local")
    full_tf = tfvars._parse_hcl(tf_text, TFVARS, "local")
    if full_tf.entries:
        assert fast_tf == full_tf
    else:
        assert fast_tf is None  # `ecr_repositories = {}`: nothing to gain


def _two_entries() -> tuple[str, str]:
    batch = [
        {
            "name": name,
            "owner": "app-team-a",
            "risk": risk,
            "registry_id": None,
            "description": "Ångström 012: yes/no @ 1e3" if risk == "high" else "",
            "push_principals": ["arn:aws:iam::123456789012:role/ci"],
            "pull_principals": [],
        }
        for name, risk in (("alpha", "high"), ("beta-api", "low"))
    ]
    return _written(batch, ["active", "decommissioned"])


CATALOG_EDITS = [
    ('  "beta-api":\n', '  "beta-api": # moved\n'),  # a comment
    ("    metadata:\n      id:", "    metadata:\n\n      id:"),  # a blank line
    ('      owner: "app-team-a"', "      owner: app-team-a"),  # plain scalar
    ('      owner: "app-team-a"', "      owner: 'app-team-a'"),  # single quotes
    ("        keep_image_count: 20", "        keep_image_count: 020"),  # octal to YAML 1.1
    ("        keep_image_count: 20", "        keep_image_count: ²0"),  # a digit, not ASCII
    ("      image_scanning: true", "      image_scanning: yes"),
    ('      risk: "low"', '      risk:  "low"'),  # two spaces
    ('  "beta-api":', '  "alpha":'),  # a duplicate name
    ('  "beta-api":\n', '  "beta-api":\n  "beta-api":\n'),  # a key line twice
    ("    access:\n", "    access:\n" * 2),
    ('version: "1.0"', "version: 1.0"),
    ("# ECR registry", "  # ECR registry"),  # an indented comment
    ('"Ångström', '"\\xc5ngström'),  # the same value, escaped as ecrctl does not write it
]


@pytest.mark.parametrize(("old", "new"), CATALOG_EDITS)
def test_fast_catalog_reader_steps_aside_for_hand_edits(old: str, new: str) -> None:
    cat_text, _ = _two_entries()
    assert catalog._parse_canonical(cat_text, CATALOG, TIERS) is not None
    assert old in cat_text
    edited = cat_text.replace(old, new, 1)
    assert catalog._parse_canonical(edited, CATALOG, TIERS) is None
    # What the full reader makes of it stands, a refusal naming the line included.
    assert _outcome(catalog.parse, edited) == _outcome(catalog._parse_yaml, edited)
    if new.startswith('  "alpha"'):
        assert "ecr-catalog.yaml:26: key 'alpha' appears twice" in str(
            _outcome(catalog.parse, edited)
        )


def _outcome(read: Any, text: str) -> Any:
    try:
        return read(text, CATALOG, TIERS)
    except UserError as exc:
        return exc.message


TFVARS_EDITS = [
    ('  "beta-api" = {', '  "beta-api" = { # moved'),
    ('    risk            = "low"', '    risk = "low"'),  # not aligned as terraform fmt does
    ('    risk            = "low"', "    risk            = low"),
    ('  "beta-api" = {', '  "alpha" = {'),  # a duplicate name
    ('"Ångström', '"\\u00c5ngström'),  # the same value, escaped as ecrctl does not write it
    ("\n}\n", "\n}\n\n# trailing\n"),
    ('  "beta-api" = {\n', '  "beta-api" = {\n  "beta-api" = {\n'),  # a key line twice
    ('    risk            = "low"\n', '    risk            = "low"\n' * 2),
    ('aws_region  = "us-east-1"', 'ecr_repositories = {}\naws_region  = "us-east-1"'),
]


@pytest.mark.parametrize(("old", "new"), TFVARS_EDITS)
def test_fast_tfvars_reader_steps_aside_for_hand_edits(old: str, new: str) -> None:
    _, tf_text = _two_entries()
    assert tfvars._parse_canonical(tf_text, TFVARS, "local") is not None
    assert old in tf_text
    edited = tf_text.replace(old, new, 1)
    assert tfvars._parse_canonical(edited, TFVARS, "local") is None
    try:
        full: tfvars.Tfvars | str = tfvars._parse_hcl(edited, TFVARS, "local")
    except UserError as exc:
        full = exc.message
    try:
        read: tfvars.Tfvars | str = tfvars.parse(edited, TFVARS, "local")
    except UserError as exc:
        read = exc.message
    assert read == full


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20))
def test_quoting_shortcuts_equal_the_character_by_character_escapes(value: str) -> None:
    assert catalog.quote(value) == catalog._escape(value)
    assert hcl.quote(value) == hcl._escape(value)
    assert hcl.unquote(hcl.quote(value)) == value


def test_plain_values_take_the_shortcut_and_templates_do_not() -> None:
    assert hcl.quote("app-team-a $x %y") == '"app-team-a $x %y"'
    assert hcl.quote("${x}") == '"$${x}"' and hcl.quote("%{x}") == '"%%{x}"'
    assert catalog.quote('a "b"') == '"a \\"b\\""'
