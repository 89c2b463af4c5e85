//! A Kinesis stream of its own for one test, on the shared LocalStack, and a reader
//! that collects everything on it.

use std::time::Duration;

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};

pub fn kinesis_client() -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&crate::localstack_config())
}

/// One record read back: its partition key, data and shard.
#[derive(Clone, Debug)]
pub struct StreamRecord {
    pub shard: String,
    pub partition_key: String,
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// A stream with a random name, deleted when dropped.
pub struct TestStream {
    pub client: aws_sdk_kinesis::Client,
    pub name: String,
    /// What has been read so far, and where each shard's reading goes on from:
    /// reading the whole stream again on every poll would keep LocalStack busy.
    read: tokio::sync::Mutex<Reader>,
}

#[derive(Default)]
struct Reader {
    /// Shard id -> the iterator to go on with.
    iterators: std::collections::BTreeMap<String, String>,
    /// Shard id -> the last sequence number kept (a page served twice is not kept twice).
    last_sequence: std::collections::BTreeMap<String, String>,
    records: Vec<StreamRecord>,
}

impl TestStream {
    /// A new stream with `shards` shards, waited for until it is active.
    pub async fn new(purpose: &str, shards: i32) -> Self {
        let client = kinesis_client();
        let name = format!("test-{purpose}-{}", uuid::Uuid::new_v4().simple());
        client
            .create_stream()
            .stream_name(&name)
            .shard_count(shards)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("create a Kinesis stream on LocalStack (is it running?): {e:?}")
            });
        crate::eventually(
            "the Kinesis stream to become active",
            Duration::from_secs(60),
            || async {
                let description = client
                    .describe_stream_summary()
                    .stream_name(&name)
                    .send()
                    .await
                    .ok()?;
                let status = description
                    .stream_description_summary()?
                    .stream_status()
                    .clone();
                (status == StreamStatus::Active).then_some(())
            },
        )
        .await;
        Self {
            client,
            name,
            read: Default::default(),
        }
    }

    /// Every record on the stream now, grouped by shard, each shard in its order.
    pub async fn read_all(&self) -> Vec<StreamRecord> {
        let mut reader = self.read.lock().await;
        if reader.iterators.is_empty() {
            let shards = self
                .client
                .list_shards()
                .stream_name(&self.name)
                .send()
                .await
                .expect("list shards")
                .shards
                .unwrap_or_default();
            for shard in shards {
                let iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_name(&self.name)
                    .shard_id(shard.shard_id())
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("shard iterator")
                    .shard_iterator
                    .expect("an open shard has an iterator");
                reader
                    .iterators
                    .insert(shard.shard_id().to_owned(), iterator);
            }
        }
        let shards: Vec<(String, String)> = reader.iterators.clone().into_iter().collect();
        for (shard_id, mut iterator) in shards {
            // Bounded: a call returns what is there now, even if the shard keeps growing.
            for _ in 0..100 {
                let page = self
                    .client
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(10_000)
                    .send()
                    .await
                    .expect("get records");
                let got = page.records();
                let empty = got.is_empty();
                let caught_up = page.millis_behind_latest() == Some(0);
                for record in got {
                    // Sequence numbers are decimal strings longer than any integer type:
                    // compared by length, then digit by digit.
                    let sequence = record.sequence_number();
                    let last = reader.last_sequence.get(&shard_id);
                    if last.is_some_and(|last| {
                        (sequence.len(), sequence) <= (last.len(), last.as_str())
                    }) {
                        continue;
                    }
                    reader
                        .last_sequence
                        .insert(shard_id.clone(), sequence.to_owned());
                    reader.records.push(StreamRecord {
                        shard: shard_id.clone(),
                        partition_key: record.partition_key().unwrap_or_default().to_owned(),
                        sequence_number: record.sequence_number().to_owned(),
                        data: record.data().as_ref().to_vec(),
                    });
                }
                let Some(next) = page.next_shard_iterator else {
                    break;
                };
                iterator = next;
                // An open shard always has a next iterator: stop at the present.
                if empty || caught_up {
                    break;
                }
            }
            reader.iterators.insert(shard_id, iterator);
        }
        let mut records = reader.records.clone();
        // Each shard's records in order; shards one after another.
        records.sort_by(|a, b| a.shard.cmp(&b.shard));
        records
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::clean_up_in_drop(move || async move {
            let _ = kinesis_client()
                .delete_stream()
                .stream_name(&name)
                .enforce_consumer_deletion(true)
                .send()
                .await;
        });
    }
}
