"""Hostile input: what ecrctl writes reads back exactly, and damaged files are refused cleanly.

Round trips are checked through Terraform itself (a provider-less scratch configuration that
declares the root module's real variables), many entries per terraform run.

More examples: ECRCTL_HYPOTHESIS_EXAMPLES=2000 pytest tests/test_adversarial_input.py
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.cli import run
from orchestrator.context import Session
from orchestrator.errors import UserError
from orchestrator.files import catalog, hcl, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.ops import create as create_op
from orchestrator.ops import validate as validate_op
from orchestrator.rules import limits, policy
from tests.adversarial import TerraformReader, managed_files
from tests.helpers import REPO, build_repo_tree, create_args, create_entry
from tests.strategies import batches

SCALE = int(os.environ.get("ECRCTL_HYPOTHESIS_EXAMPLES", "0"))

TIERS = tiers_file.load(REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json")


def examples(default: int) -> int:
    return SCALE or default


COMMON = {"deadline": None, "database": None, "print_blob": True}


@pytest.fixture
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round trips do not need durability: skip fsync, the slowest part of a write here."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> TerraformReader:
    return TerraformReader(tmp_path_factory.mktemp("tf-reader"))


@settings(
    max_examples=examples(15),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    **COMMON,
)
@given(batch=batches)
@example(
    batch=[
        {
            "name": "on",
            "owner": "app-team-no",
            "risk": "high",
            "registry_id": None,
            "description": "\u212bngstr\u00f6m 012 yes: null @ 1e3",
            "push_principals": [],
            "pull_principals": ["arn:aws:iam::012345678901:root"],
        },
        {
            "name": "012",
            "owner": "app-team-0",
            "risk": "low",
            "registry_id": "REGISTRY_0X1F",
            "description": "",
            "push_principals": ["arn:aws-us-gov:iam::000000000000:user/a+b=c,d.e@f_g/h-"],
            "pull_principals": [],
        },
        {  # an ID past the 256 characters of a tag value: refused by create, nothing written
            "name": "long-id",
            "owner": "app-team-x",
            "risk": "low",
            "registry_id": "REGISTRY_" + "X" * 248,
            "description": "",
            "push_principals": [],
            "pull_principals": [],
        },
    ]
)
def test_terraform_reads_exactly_what_create_wrote(
    reader: TerraformReader, no_fsync: None, batch: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(build_repo_tree(Path(tmp) / "repo"))
        requests = []
        for raw in batch:
            nfc = unicodedata.normalize("NFC", raw["description"])
            if len(nfc) > policy.DESCRIPTION_MAX or not all(
                c in policy.DESCRIPTION_PUNCTUATION or unicodedata.category(c)[0] in "LN"
                for c in nfc
            ):
                # e.g. U+0958 is a letter, but its NFC form is two characters, the second a
                # combining mark, which AWS does not take in a tag: refused at the edge.
                with pytest.raises(UserError, match="description"):
                    policy.build_request(env="local", **raw)
                continue
            request = policy.build_request(env="local", **raw)
            # The one transformation ecrctl makes: descriptions are stored as Terraform reads them.
            assert request.description == nfc
            try:
                limits.check_limits(request, TIERS)
            except UserError:
                # Past an AWS limit (a long name or ID makes a tag value over 256 characters):
                # create refuses it too, and writes nothing.
                with pytest.raises(UserError, match="AWS allows at most"):
                    create_op.create(Session(ws), request)
                continue
            create_op.create(Session(ws), request)
            requests.append(request)
        expected = {
            r.name: {
                "id": r.registry_id,
                "owner": r.owner,
                "risk": r.risk,
                "description": r.description,
                "push_principals": list(r.push_principals),
                "pull_principals": list(r.pull_principals),
                "status": r.status,  # optional, "active" unless deprecated
            }
            for r in requests
        }
        tfvars_path = ws.tfvars_file("local")
        # Terraform also fills in the optional import markers of an adoption and the ask for
        # replication (none here).
        read = reader.read(tfvars_path)["ecr_repositories"]
        assert read == {
            n: {**v, "adopt": [], "adopt_kms_key": "", "replicate": False}
            for n, v in expected.items()
        }
        assert tfvars.load(tfvars_path, "local").entries == {r.name: r for r in requests}

        tiers = tiers_file.load(ws.tiers_file)
        cat = catalog.load(ws.catalog_file, tiers)
        assert {name: e.request for name, e in cat.entries.items()} == {r.name: r for r in requests}
        # Rewriting an entry with itself changes no byte, and an independent YAML reader
        # (pure Python, not the C loader ecrctl uses) sees the same values.
        for entry in cat.entries.values():
            assert cat.with_entry(entry, tiers) == cat.text
        plain = yaml.load(cat.text, Loader=yaml.SafeLoader)["repositories"]
        assert {
            name: {
                "id": e["metadata"]["id"],
                "owner": e["metadata"]["owner"],
                "risk": e["metadata"]["risk"],
                "description": e["metadata"].get("description", ""),
                "push_principals": e["access"]["push_principals"],
                "pull_principals": e["access"]["pull_principals"],
                "status": e["metadata"]["status"],
            }
            for name, e in plain.items()
        } == expected


TEMPLATE_PIECES = [
    "${",
    "%{",
    "$${",
    "%%{",
    "$$${",
    "}",
    "~}",
    "${~",
    "$",
    "%",
    '"',
    "\\",
    "\\\\",
    "\\n",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\U0010ffff",
    "\U0001f600",
    "e\u0301",
    "\u212b",
    "#",
    "//",
    "/*",
    "<<EOT",
]
texts = st.lists(
    st.one_of(st.characters(exclude_categories=["Cs"]), st.sampled_from(TEMPLATE_PIECES)),
    max_size=30,
).map("".join)


@settings(max_examples=examples(20), **COMMON)
@given(values=st.lists(texts, min_size=1, max_size=40))
@example(values=["${path.cwd}", "%{ if true }x%{ endif }", "$${", "%%{", "$$${", '\\"', '", x = "'])
def test_hcl_quote_reads_back_through_terraform(
    reader: TerraformReader, tmp_path_factory: pytest.TempPathFactory, values: list[str]
) -> None:
    path = tmp_path_factory.mktemp("quote") / "texts.tfvars"
    text = f"texts = {hcl.render_list(values)}\n"
    path.write_text(text, encoding="utf-8")
    # ecrctl's own reader gets back every character; Terraform gets every character too, in
    # Unicode NFC, which Terraform applies to every string it reads (hence NFC descriptions).
    assert hcl.parse(text).values["texts"] == values
    assert reader.read(path)["texts"] == [unicodedata.normalize("NFC", v) for v in values]


# -- damage ----------------------------------------------------------------------------------

YAML_TAGS = [
    '!!python/object/apply:os.system ["touch pwned"]',
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2001-12-14",
    "!!int",
    "!!str",
    "!!float",
    "!!null",
    "!!map",
    "!custom",
    "&anchor",
    "*anchor",
]
SNIPPETS = [
    '"',
    "'",
    "{",
    "}",
    "[",
    "]",
    ":",
    "=",
    ",",
    "#",
    "\\",
    "${",
    "%{",
    "- ",
    "? ",
    "|",
    ">",
    "\t",
    "\x00",
    "\ufeff",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "@",
    "`",
    "&a ",
    "*a",
    "<<: *a",
    "\n",
    "  ",
    "\r",
    "/*",
    "<<EOT\n",
    "012",
    "on",
    "null",
    "~",
]
DAMAGES = [
    "truncate",
    "indent",
    "tab",
    "duplicate_lines",
    "delete_line",
    "tag",
    "insert",
    "replace",
    "not_utf8",
]


def _damage(data: st.DataObject, text: str) -> bytes:
    kind = data.draw(st.sampled_from(DAMAGES), label="damage")
    lines = text.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    if kind == "truncate":
        return text[: data.draw(st.integers(1, len(text) - 1), label="at")].encode()
    if kind in ("indent", "tab"):
        body = lines[i].lstrip(" ")
        width = len(lines[i]) - len(body)
        if kind == "tab":
            lines[i] = "\t" + lines[i]
        else:
            delta = data.draw(st.sampled_from([-4, -2, -1, 1, 2, 3]), label="delta")
            lines[i] = " " * max(0, width + delta) + body
    elif kind == "duplicate_lines":
        j = data.draw(st.integers(i + 1, min(len(lines), i + 25)), label="to")
        lines[j:j] = lines[i:j]
    elif kind == "delete_line":
        del lines[i]
    elif kind == "tag":
        tag = data.draw(st.sampled_from(YAML_TAGS), label="tag")
        head, sep, tail = lines[i].partition(": ")
        lines[i] = f"{head}{sep}{tag} {tail}" if sep else f"{tag} {lines[i]}"
    elif kind in ("insert", "replace"):
        at = data.draw(st.integers(0, len(text) - 1), label="at")
        snippet = data.draw(st.sampled_from(SNIPPETS), label="snippet")
        end = at + (1 if kind == "replace" else 0)
        return (text[:at] + snippet + text[end:]).encode()
    elif kind == "not_utf8":
        at = data.draw(st.integers(0, len(text)), label="at")
        raw = text.encode()
        return raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    return "".join(lines).encode()


class Pristine(tuple[Path, dict[str, bytes]]):
    def __repr__(self) -> str:  # hypothesis prints it with every failing example: keep it short
        return f"Pristine({self[0]})"


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A repository holding three entries; the damage tests restore it before each example."""
    root = build_repo_tree(tmp_path_factory.mktemp("damage") / "repo")
    ws = Workspace(root)
    for name, risk, extra in (
        ("alpha", "low", {"description": "first: one 012 on"}),
        (
            "beta-api",
            "high",
            {
                "push_principals": ["arn:aws:iam::123456789012:role/ci"],
                "pull_principals": ["arn:aws:iam::123456789012:root"],
            },
        ),
        ("gamma", "medium", {"registry_id": "REGISTRY_GAMMA_X"}),
    ):
        create_entry(ws, name, owner="app-team-core", risk=risk, **extra)
    return Pristine((root, managed_files(root)))


ERROR = re.compile(r"^ecrctl: error: (?P<path>.+?):(?P<line>\d+): \S")


def _restore(root: Path, files: dict[str, bytes]) -> None:
    current = managed_files(root)
    for path in current:
        if path not in files:
            (root / path).unlink()
    for path, data in files.items():
        if current.get(path) != data:
            (root / path).write_bytes(data)


# registry_scan_filters as ecrctl writes it (orchestrator/scanning.py render), comment included.
SCAN_FILTERS = re.compile(
    r"^(?:# .*CONTINUOUS_SCAN filters.*\n# .*\n)?registry_scan_filters = \[(?:\n(?:  .*\n)*)?\]\n",
    re.MULTILINE,
)


@pytest.mark.parametrize("target", ["catalog/ecr-catalog.yaml", "envs/local/terraform.tfvars"])
@settings(
    max_examples=examples(60),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    **COMMON,
)
@given(data=st.data())
def test_damaged_file_gives_one_located_error_and_no_write(
    populated: tuple[Path, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
    data: st.DataObject,
) -> None:
    root, pristine = populated
    monkeypatch.setenv("ECRCTL_ROOT", str(root))
    _restore(root, pristine)
    damaged = _damage(data, pristine[target].decode())
    (root / target).write_bytes(damaged)
    before = managed_files(root)

    capsys.readouterr()
    code = run(create_args("delta-new", owner="app-team-core"))
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert "Traceback" not in err
    if code == 1:
        lines = err.rstrip("\n").splitlines()
        assert len(lines) == 2 and lines[1].startswith("  hint: "), err
        match = ERROR.match(lines[0])
        assert match, f"no file:line in {lines[0]!r}"
        assert match["path"] == str(root / target)
        assert 1 <= int(match["line"]) <= damaged.count(b"\n") + 1
        assert out == ""
        assert managed_files(root) == before  # nothing written, no temporary file left
    else:
        # The damage left a well-formed file: the entry was added and nothing else moved.
        after = managed_files(root)
        assert sorted(after) == sorted(before)
        for path in (target, *(p for p in before if p != target)):
            old, new = before[path].decode(), after[path].decode()
            old = old if old.endswith("\n") or not old else old + "\n"
            # ecrctl rewrites the tfvars' scanning filters whenever ecr_repositories changes.
            old, new = SCAN_FILTERS.sub("", old), SCAN_FILTERS.sub("", new)
            ops = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
            assert {op for op, *_ in ops.get_opcodes()} <= {"equal", "insert"}, path
        ws = Workspace(root)
        assert "delta-new" in tfvars.load(ws.tfvars_file("local"), "local").entries
        tiers = tiers_file.load(ws.tiers_file)
        assert "delta-new" in catalog.load(ws.catalog_file, tiers).entries

    # validate never crashes on the same damage either, and places every problem at a line.
    _restore(root, pristine)
    (root / target).write_bytes(damaged)
    for problem in validate_op.validate(Workspace(root)):
        assert problem.line >= 1 and problem.path and problem.message


# -- hostile constructs, one by one ------------------------------------------------------------

CATALOG_HOSTILE = {
    "python object tag": 'extra: !!python/object/apply:os.system ["touch {root}/pwned"]\n',
    "recursive alias": "extra: &a [*a]\n",
    "alias bomb": "".join(
        [f'l0: &l0 ["{"x" * 8}"' + ', "x"' * 8 + "]\n"]
        + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10)]
    ),
    "deep nesting": "extra: " + "[" * 20000 + "]" * 20000 + "\n",
    "unquoted numeric name": "",  # filled in below: a repository key `012:`
    "boolean name": "",  # `on:`
    "complex key": "",  # `? [a, b]`
    "duplicate entry": "",  # the same entry twice
    "second document": '---\nversion: "1.0"\n',
}
TFVARS_HOSTILE = {
    "template": '  "evil" = { id = "${file(\\"/etc/passwd\\")}", owner = "app-team-x", risk = "low" }\n',
    "deep nesting": "extra = " + "[" * 20000 + "]" * 20000 + "\n",
    "heredoc": "extra = <<EOT\nhello\nEOT\n",
    "duplicate variable": 'aws_region = "us-east-1"\n',
    "expression": 'extra = upper("x")\n',
    "block": "locals {\n  a = 1\n}\n",
}


def _catalog_case(name: str, text: str, root: Path) -> str:
    entry = text[text.index('  "alpha":') : text.index('  "beta-api":')]
    if name == "unquoted numeric name":
        return text.replace('  "alpha":', "  012:", 1)
    if name == "boolean name":
        return text.replace('  "alpha":', "  on:", 1)
    if name == "complex key":
        return text.replace('  "alpha":', "  ? [a, b]\n  :", 1)
    if name == "duplicate entry":
        return text.replace(entry, entry + entry, 1)
    if name == "second document":
        return text + CATALOG_HOSTILE[name]
    return text + CATALOG_HOSTILE[name].replace("{root}", str(root))


@pytest.mark.parametrize("case", sorted(CATALOG_HOSTILE))
def test_hostile_catalog_is_refused_in_one_line(
    populated: tuple[Path, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    _hostile(
        populated,
        monkeypatch,
        capsys,
        "catalog/ecr-catalog.yaml",
        lambda text, root: _catalog_case(case, text, root),
    )


@pytest.mark.parametrize("case", sorted(TFVARS_HOSTILE))
def test_hostile_tfvars_is_refused_in_one_line(
    populated: tuple[Path, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    def damage(text: str, root: Path) -> str:
        if case == "template":
            return text.replace(
                "ecr_repositories = {\n", "ecr_repositories = {\n" + TFVARS_HOSTILE[case], 1
            )
        return text + TFVARS_HOSTILE[case]

    _hostile(populated, monkeypatch, capsys, "envs/local/terraform.tfvars", damage)


def _hostile(
    populated: tuple[Path, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
    damage: Any,
) -> None:
    root, pristine = populated
    monkeypatch.setenv("ECRCTL_ROOT", str(root))
    _restore(root, pristine)
    text = damage(pristine[target].decode(), root)
    (root / target).write_text(text)
    before = managed_files(root)
    for args in (
        create_args("delta-new", owner="app-team-core"),
        ["list", "--env", "local"],
        ["validate"],
    ):
        capsys.readouterr()
        code = run(args)
        out, err = capsys.readouterr()
        assert code == 1, (args, out, err)
        lines = err.rstrip("\n").splitlines()
        assert len(lines) == 2 and lines[1].startswith("  hint: "), err
        if args[0] == "validate":  # the problems are listed on stdout, one per line
            assert out and all(re.match(r"^\S+:\d+: ", line) for line in out.splitlines()), out
            assert target in out
        else:
            match = ERROR.match(lines[0])
            assert match and match["path"] == str(root / target), lines[0]
        assert managed_files(root) == before
    assert not (root / "pwned").exists()
