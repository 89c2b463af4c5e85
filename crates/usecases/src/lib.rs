//! What merchants ask Nudge to do, whichever door they come through: send a message,
//! answer a conversation, start a campaign (and expand it in the background), search
//! for leads and export them. The API (`messaging-api`) and the console call the same
//! functions, so both obey the same rules.
//!
//! Nothing here speaks HTTP. A use case answers with the stored result or an [`Error`]:
//! a [`Refusal`] (the request's fault, in the merchant's words), an outage or a bug.
//! Each front door maps that once: the API to problem+json, the console to its pages.

pub mod campaigns;
mod error;
pub mod fields;
pub mod leads;
pub mod send;

pub use error::{check, Error, FieldError, Refusal};
