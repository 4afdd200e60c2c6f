"""The baseline for `ecrctl catalog sync`: what the old sync script did (RB-0025, CL-0092).

It lists every repository through the ECR API with boto3, paginated, and writes one YAML
document with the count and the repositories. Run as its own process so that, like ecrctl,
interpreter start and imports are part of the time.

Usage: python bench/baseline_sync.py --endpoint URL --region REGION --out FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import boto3
import yaml

from orchestrator.adapters.emulator import CREDENTIALS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ecr = boto3.client(
        "ecr",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    repositories = [
        {"name": repo["repositoryName"], "url": repo["repositoryUri"], "arn": repo["repositoryArn"]}
        for page in ecr.get_paginator("describe_repositories").paginate()
        for repo in page["repositories"]
    ]
    document = {
        "kind": "Resource",
        "metadata": {
            "name": "ecr-registry",
            "annotations": {"platform/repo-count": str(len(repositories))},
        },
        "repositories": sorted(repositories, key=lambda r: r["name"]),
    }
    args.out.write_text(yaml.safe_dump(document, sort_keys=False))


if __name__ == "__main__":
    main()
