"""The Backstage request form and ecrctl's rules, side by side: the form's schema, samples near
every rule's edges, and both verdicts on them (the form's judged as Backstage judges it, by node)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from typing import Any

import yaml

from orchestrator.errors import UserError
from orchestrator.files import tiers as tiers_file
from orchestrator.rules import limits, policy
from tests.helpers import REPO

TEMPLATE = REPO / "catalog" / "templates" / "ecr-request" / "template.yaml"
TIERS = tiers_file.load(REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json")


def template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return data


def form_schema() -> dict[str, Any]:
    page = template()["spec"]["parameters"][0]
    return {
        "type": "object",
        "required": page["required"],
        "properties": page["properties"],
        "allOf": page.get("allOf", []),
    }


def form_accepts_all(samples: list[dict[str, str]]) -> list[bool]:
    """Whether the form accepts each sample, judged as Backstage does: JSON Schema in the
    browser, whose `pattern` is an ECMAScript regex with the u flag (rjsf's ajv8 validator) and
    whose lengths count code points. Run by node: Python's `$` would also match before a
    trailing newline, which ECMAScript's does not."""
    schema = form_schema()
    script = """
const { schema, samples } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ok = (prop, value) => {
  const s = schema.properties[prop];
  if (typeof value !== 'string') return false;
  if (s.enum && !s.enum.includes(value)) return false;
  if (s.pattern && !new RegExp(s.pattern, 'u').test(value)) return false;
  const n = [...value].length;
  if (s.minLength !== undefined && n < s.minLength) return false;
  if (s.maxLength !== undefined && n > s.maxLength) return false;
  return true;
};
// allOf: [{if: {properties: {P: {const: V}}}, then: {properties: {Q: {maxLength: N}}}}]
const conditional = (form) => (schema.allOf || []).every((rule) => {
  const when = Object.entries(rule.if.properties).every(([k, s]) => form[k] === s.const);
  if (!when) return true;
  return Object.entries(rule.then.properties).every(
    ([k, s]) => s.maxLength === undefined || [...form[k]].length <= s.maxLength);
});
process.stdout.write(JSON.stringify(samples.map(
  (form) => schema.required.every((k) => k in form)
    && Object.keys(form).every((k) => ok(k, form[k])) && conditional(form)
)));
"""
    result: list[bool] = run_node(script, {"schema": schema, "samples": samples})
    return result


def run_node(script: str, given: Any) -> Any:
    """What `script`, run by node, writes to stdout as JSON; it reads `given` as JSON on stdin."""
    node = shutil.which("node")
    assert node, "node is not installed: the form's patterns are checked as ECMAScript"
    done = subprocess.run(
        [node, "-e", script], input=json.dumps(given), capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def form(**values: str) -> dict[str, str]:
    form = {"name": "payments-gateway", "owner": "app-team-payments", "risk": "low", "env": "dev"}
    form.update(values)
    return form


def ecrctl_accepts(**values: str) -> bool:
    form = {"name": "payments-gateway", "owner": "app-team-payments", "risk": "low"}
    form.update(values)
    try:
        request = policy.build_request(
            name=form["name"], env="dev", owner=form["owner"], risk=form["risk"]
        )
        limits.check_limits(request, TIERS)
    except UserError:
        return False
    return True


NAMES = [
    "payments-gateway",
    "ab",
    "a",
    "web",
    "ml-inference-engine",
    "012",
    "on",
    "a" * 246,
    "a" * 247,
    "a" * 248,
    "a" * 256,
    "a" * 257,
    "Payments",
    "payments_gateway",
    "payments--gateway",
    "-payments",
    "payments-",
    "payments gateway",
    "payments\n",
    "\npayments",
    "paymënts",
    "",
]


OWNERS = [
    "app-team-payments",
    "app-team-a1-b2",
    "app-team-",
    "team-payments",
    "app-team-Payments",
    "app-team-payments\n",
    "app-team-pay--ments",
    "app-team-" + "x" * 247,
    "app-team-" + "x" * 248,
]


def generated(count: int) -> list[str]:
    """Names near the rule's edges: its alphabet, separators, case, whitespace, lengths."""
    rng = random.Random(92)
    alphabet = "abz09-_A \n\té"
    found = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(count)]
    found += [rng.choice(["a", "0"]) * n for n in (1, 2, 245, 246, 247, 248, 255, 256, 257)]
    return found
