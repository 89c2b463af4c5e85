//! Faults in the Twilio fake, for tests of what Nudge does when an answer is lost:
//! `POST /sandbox/twilio/faults` with `{"mode": ..., "count": N, "stall_ms": MS}` makes
//! the next N creates of a Message go wrong *after* the message is created (it is
//! stored, listed, and gets its status callbacks, as Twilio would have it):
//!
//! - `stall`: the answer comes `stall_ms` late (past a client's timeout);
//! - `reset`: the answer's head goes out, then the connection is cut mid-body;
//! - `server_error`: a 500 with Twilio's error body, though the message exists.
//!
//! `DELETE /sandbox/twilio/faults` clears them. These are the answers that leave the
//! client unsure whether the message exists: exactly what it must not resend blindly.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use actix_web::{delete, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Stall,
    Reset,
    ServerError,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    mode: Mode,
    count: u32,
    #[serde(default)]
    stall_ms: u64,
}

/// The faults still to apply.
#[derive(Default)]
pub struct Faults {
    pending: Mutex<Option<(Plan, u32)>>,
}

/// What to do with the answer to one create.
pub enum Fault {
    Stall(Duration),
    Reset,
    ServerError,
}

impl Faults {
    /// The fault for the next create, if one is planned (counting it down).
    pub fn next(&self) -> Option<Fault> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let (plan, left) = pending.as_mut()?;
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(match plan.mode {
            Mode::Stall => Fault::Stall(Duration::from_millis(plan.stall_ms)),
            Mode::Reset => Fault::Reset,
            Mode::ServerError => Fault::ServerError,
        })
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(set_plan).service(clear);
}

#[post("/sandbox/twilio/faults")]
async fn set_plan(faults: web::Data<Faults>, body: web::Json<Plan>) -> HttpResponse {
    let plan = body.into_inner();
    if plan.mode == Mode::Stall && plan.stall_ms == 0 {
        return HttpResponse::BadRequest().json(json!({"error": "stall needs stall_ms"}));
    }
    let count = plan.count;
    *faults.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some((plan, count));
    HttpResponse::NoContent().finish()
}

#[delete("/sandbox/twilio/faults")]
async fn clear(faults: web::Data<Faults>) -> HttpResponse {
    *faults.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
    HttpResponse::NoContent().finish()
}

/// Applies a fault to the answer of a create whose message is already stored.
pub async fn answer(fault: Fault, created: HttpResponse) -> HttpResponse {
    match fault {
        Fault::Stall(delay) => {
            tokio::time::sleep(delay).await;
            created
        }
        Fault::Reset => HttpResponse::Created()
            .content_type("application/json")
            .body(CutOff),
        Fault::ServerError => HttpResponse::InternalServerError().json(json!({
            "code": 20500,
            "message": "Internal Server Error",
            "more_info": "https://www.twilio.com/docs/errors/20500",
            "status": 500,
        })),
    }
}

/// A body that promises bytes and fails instead: the server closes the connection
/// after the head, as a proxy or a crashed server would.
struct CutOff;

impl MessageBody for CutOff {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(512)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other(
            "the sandbox cut the connection",
        ))))
    }
}
