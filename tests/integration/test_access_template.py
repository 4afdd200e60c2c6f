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
    "o-a1b2c3d4e5",
    "o-" + "a" * 9,
    "o-" + "a" * 32,
    "o-" + "a" * 33,
    "o-A1B2C3D4E5",
    "o-a1b2c3d4e5\n",
    "lambda.amazonaws.com",
    "codebuild.amazonaws.com",
    "lambdaXamazonaws.com",
    "ecs-tasks.amazonaws.com",
    "lambda.amazonaws.com.cn",
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


def _ecrctl_accepts(principal: str, access: str) -> bool:
    try:
        policy.check_principals([principal], access)
    except UserError:
        return False
    return True


def test_the_access_form_and_ecrctl_agree_on_every_principal_for_pull_and_push() -> None:
    """The form's pattern for the principal, narrowed by its allOf when access is push,
    judged as Backstage's browser form judges it (rjsf with ajv8: ECMAScript, u flag)."""
    page = yaml.safe_load(TEMPLATE.read_text())["spec"]["parameters"][0]
    samples = PRINCIPALS + _generated(400)
    pairs = [(s, access) for s in samples for access in ("pull", "push")]
    script = """
const { page, pairs } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ok = (schema, value) => !schema.pattern || new RegExp(schema.pattern, 'u').test(value);
process.stdout.write(JSON.stringify(pairs.map(([principal, access]) => {
  if (!ok(page.properties.principal, principal)) return false;
  return (page.allOf || []).every((rule) => {
    const when = Object.entries(rule.if.properties).every(([k, s]) => ({ access })[k] === s.const);
    return !when || ok(rule.then.properties.principal || {}, principal);
  });
})));
"""
    form = run_node(script, {"page": page, "pairs": pairs})
    differ = [p for p, f in zip(pairs, form, strict=True) if f != _ecrctl_accepts(*p)]
    assert not differ, f"the form and ecrctl disagree on {differ[:10]}"
    assert sum(form) > 40 and len(form) - sum(form) > 40  # both verdicts well represented
    verdicts = dict(zip(pairs, form, strict=True))
    assert verdicts[("o-a1b2c3d4e5", "pull")] and not verdicts[("o-a1b2c3d4e5", "push")]
    assert verdicts[("lambda.amazonaws.com", "pull")]
    assert not verdicts[("lambda.amazonaws.com", "push")]
