//! What the sandbox was asked to send, kept in memory (it is a dev tool).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Oldest entries are dropped past this many.
const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub sid: String,
    pub account_sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub status: String,
    pub num_segments: usize,
    pub status_callback: Option<String>,
    /// The images of an MMS (`MediaUrl`), as Twilio would fetch them.
    pub media_urls: Vec<String>,
    pub date_created: DateTime<Utc>,
}

#[derive(Default)]
pub struct Store {
    messages: Mutex<Vec<SentMessage>>,
}

impl Store {
    pub fn add(&self, message: SentMessage) {
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if messages.len() >= CAPACITY {
            messages.remove(0);
        }
        messages.push(message);
    }

    pub fn find(&self, account_sid: &str, sid: &str) -> Option<SentMessage> {
        let messages = self
            .messages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        messages
            .iter()
            .find(|m| m.sid == sid && m.account_sid == account_sid)
            .cloned()
    }

    /// Moves a message along its life (what its callbacks report).
    pub fn set_status(&self, sid: &str, status: &str) {
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(message) = messages.iter_mut().find(|m| m.sid == sid) {
            status.clone_into(&mut message.status);
        }
    }

    pub fn all(&self) -> Vec<SentMessage> {
        self.messages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    pub fn clear(&self) {
        self.messages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
    }
}
