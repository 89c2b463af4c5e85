//! The console's stylesheet and scripts. They are compiled into the binary and linked
//! from the pages with a hash of their content (`console.css?v=...`): a browser keeps
//! them for a year without asking again, and a release that changes one changes its
//! link. A page is then drawn with its stylesheet from the cache at once, instead of
//! waiting on a fetch after every navigation.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::ConsoleError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../static/console.css"),
    },
    Asset {
        name: "live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../static/live.js"),
    },
    Asset {
        name: "preview.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../static/preview.js"),
    },
];

/// FNV-1a of the content: a change detector for caches, not a security measure.
fn version_of(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Each asset's version, in the order of [`ASSETS`], computed once.
static VERSIONS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|asset| version_of(asset.body)).collect());

/// The link to the asset `name` that the templates use, with its version.
pub fn href(name: &str) -> String {
    ASSETS
        .iter()
        .zip(VERSIONS.iter())
        .find(|(asset, _)| asset.name == name)
        .map(|(asset, version)| format!("/console/static/{}?v={version}", asset.name))
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub(crate) struct Version {
    v: Option<String>,
}

/// Kept for a year when asked for by the current version; otherwise (an old page, or
/// someone typing the address) served fresh and not cached.
pub(super) async fn serve(
    name: web::Path<String>,
    version: web::Query<Version>,
) -> Result<HttpResponse, ConsoleError> {
    let (asset, current) = ASSETS
        .iter()
        .zip(VERSIONS.iter())
        .find(|(asset, _)| asset.name == name.as_str())
        .ok_or(ConsoleError::NotFound)?;
    let cache = if version.v.as_deref() == Some(current.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .body(asset.body))
}
