"""Create Nudge's SQS queues (each with its dead-letter queue and redrive policy),
Kinesis streams, SES sender identities and S3 buckets from localstack/resources.json. Idempotent: existing queues get their
attributes re-applied; existing streams are left as they are.

Runs in host mode with the LocalStack virtualenv's python (boto3 comes with LocalStack)
and inside the LocalStack container as an init hook (docker-compose), so both read the
same definitions.
"""
import json
import os
import sys
import time

import boto3
import botocore.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "resources.json")
    with open(path) as f:
        resources = json.load(f)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    sqs = client("sqs", endpoint)
    for queue in resources["queues"]:
        dlq_url = sqs.create_queue(
            QueueName=queue["dlq"],
            Attributes={"MessageRetentionPeriod": str(resources["dlq_retention_seconds"])},
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        attributes = {
            "VisibilityTimeout": str(queue["visibility_timeout_seconds"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue["max_receive_count"])}
            ),
        }
        url = sqs.create_queue(QueueName=queue["name"])["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        print(f"queue {queue['name']} -> {queue['dlq']} after {queue['max_receive_count']} receives")
    ses = client("ses", endpoint)
    for identity in resources.get("email_identities", []):
        try:
            ses.verify_email_identity(EmailAddress=identity)
            print(f"email identity {identity}")
        except botocore.exceptions.ClientError as error:
            # A LocalStack started without SES (a test's private instance).
            if "not enabled" not in str(error):
                raise
            print("ses is not enabled here: identities skipped")
            break
    s3 = client("s3", endpoint)
    for bucket in resources.get("buckets", []):
        try:
            s3.create_bucket(Bucket=bucket)
            print(f"bucket {bucket}")
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                print(f"bucket {bucket}")
            elif "not enabled" in str(error):
                # A LocalStack started without S3 (a test's private instance).
                print("s3 is not enabled here: buckets skipped")
                break
            else:
                raise
    kinesis = client("kinesis", endpoint)
    try:
        existing = set(kinesis.list_streams()["StreamNames"])
    except botocore.exceptions.ClientError as error:
        # A LocalStack started with SQS only (a test's private instance) has no Kinesis.
        if "not enabled" not in str(error):
            raise
        print("kinesis is not enabled here: streams skipped")
        return 0
    for stream in resources.get("streams", []):
        if stream["name"] not in existing:
            kinesis.create_stream(StreamName=stream["name"], ShardCount=stream["shards"])
        for _ in range(120):
            summary = kinesis.describe_stream_summary(StreamName=stream["name"])
            if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                break
            time.sleep(0.5)
        print(f"stream {stream['name']} ({stream['shards']} shards)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
