"""The "request access" template's principal pattern, judged by node as Backstage's browser form
does (ECMAScript, u flag), against ecrctl's own rule on many samples."""

from __future__ import annotations

import random

import yaml

from orchestrator.errors import UserError
from orchestrator.rules import policy
from tests.helpers import REPO
from tests.template_form import run_node

TEMPLATE = REPO / "catalog" / "templates" / "ecr-access" / "template.yaml"
PRINCIPALS = [
    "arn:aws:iam::123456789012:role/deployer",
    "arn:aws:iam::123456789012:user/a+b=c,d.e@f_g/h-",
    "arn:aws:iam::123456789012:root",
    "arn:aws-us-gov:iam::123456789012:role/ci",
    "arn:aws:iam::123456789012:role/",
    "arn:aws:iam::12345678901:role/ci",
    "arn:aws:iam::123456789012:group/ci",
    "arn:aws:iam::123456789012:role/ci\n",
    "\narn:aws:iam::123456789012:role/ci",
    "arn:aws:iam::123456789012:role/c i",
    "arn:aws:iam::123456789012:role/é",
    "arn:aws:sts::123456789012:assumed-role/ci/x",
    "*",
    "",
]


def _generated(count: int) -> list[str]:
    rng = random.Random(13)
    alphabet = "ab09/-_+=,.@ \n:é*"
    base = "arn:aws:iam::123456789012:"
    return [
        base
        + rng.choice(["role/", "user/", "root", ""])
        + "".join(rng.choices(alphabet, k=rng.randint(0, 6)))
        for _ in range(count)
    ]


def _ecrctl_accepts(arn: str) -> bool:
    try:
        policy.check_principals([arn], "pull")
    except UserError:
        return False
    return True


def test_the_access_form_and_ecrctl_agree_on_every_principal() -> None:
    pattern = yaml.safe_load(TEMPLATE.read_text())["spec"]["parameters"][0]["properties"][
        "principal"
    ]["pattern"]
    samples = PRINCIPALS + _generated(400)
    script = """
const { pattern, samples } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const re = new RegExp(pattern, 'u');
process.stdout.write(JSON.stringify(samples.map((s) => re.test(s))));
"""
    form = run_node(script, {"pattern": pattern, "samples": samples})
    differ = [s for s, f in zip(samples, form, strict=True) if f != _ecrctl_accepts(s)]
    assert not differ, f"the form and ecrctl disagree on {differ[:10]}"
    assert sum(form) > 20 and len(form) - sum(form) > 20  # both verdicts well represented
