"""Print the last N records of a Kinesis stream on LocalStack, one JSON record a line,
oldest first (by arrival): what `./nudge up` shows of cdc-streamer's output.

    localstack/host.sh tail-stream db-changes 5
"""
import os
import sys

import boto3


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: tail_stream.py STREAM [N]", file=sys.stderr)
        return 2
    name = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    kinesis = boto3.client(
        "kinesis",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    records = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    records.sort(key=lambda r: r["ApproximateArrivalTimestamp"])
    for record in records[-count:]:
        print(record["Data"].decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
