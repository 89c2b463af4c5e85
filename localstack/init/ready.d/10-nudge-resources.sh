#!/bin/bash
# LocalStack init hook (docker-compose): create Nudge's queues from the same
# definitions host mode uses (localstack/resources.json), with the python and boto3
# that the LocalStack image carries.
set -euo pipefail
AWS_ENDPOINT_URL=http://localhost:4566 python3 /etc/localstack/nudge/bootstrap.py /etc/localstack/nudge/resources.json
