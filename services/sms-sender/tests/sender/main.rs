//! sms-sender's integration tests: the real worker against a fresh database, a fresh
//! SQS queue with a DLQ on LocalStack, and a wiremock Twilio.

mod delivery;
mod failures;
mod helpers;
mod twilio_contract;
