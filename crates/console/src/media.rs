//! Images for MMS: the tenant's images with thumbnails, uploading one (owners and
//! marketers), and each image served to the console from S3 through the session, so
//! that another tenant's image is 404 and the page's CSP stays `'self'`. An upload is
//! checked by its content (`nudge_domain::media`: JPEG, PNG or GIF, at most 5 MB,
//! sane dimensions), not by its name or the type the browser claims.

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use chrono::Utc;
use futures_util::StreamExt;
use nudge_db::models::Media;
use nudge_domain::media::{check_image, MAX_BYTES};
use nudge_domain::MediaId;
use sha2::{Digest, Sha256};

use super::error::ConsoleError;
use super::pages::{html, MediaPage, MediaRow, Nav};
use super::roles::Permission;
use super::session::{check_session_form, SignedIn};
use super::thumbnail::{self, ThumbnailError};
use crate::ConsoleState;

/// Images listed (the newest).
const LISTED: i64 = 100;

pub fn rows(media: &[Media]) -> Vec<MediaRow> {
    media
        .iter()
        .map(|m| MediaRow {
            id: m.id.to_string(),
            name: if m.original_name.is_empty() {
                format!("image {}", &m.id.to_string()[..8])
            } else {
                m.original_name.clone()
            },
            dimensions: format!("{} × {}", m.width, m.height),
            thumbnail_width: m.thumbnail_width,
            thumbnail_height: m.thumbnail_height,
            kilobytes: (m.bytes + 1023) / 1024,
        })
        .collect()
}

async fn render(
    signed_in: &SignedIn,
    state: &ConsoleState,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let media = nudge_db::media::list(&mut conn, signed_in.tenant(), LISTED).await?;
    html(
        status,
        &MediaPage {
            images: rows(&media),
            can_upload: signed_in
                .role()
                .is_some_and(|role| role.may(Permission::SendMessages)),
            error,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    render(&signed_in, &state, StatusCode::OK, None).await
}

/// What the upload form sent.
#[derive(Default)]
struct Upload {
    csrf: String,
    name: String,
    bytes: Vec<u8>,
    /// More than an MMS may carry: the rest was not read.
    too_large: bool,
}

/// The upload form's fields: `csrf` and `image` (a browser may add a submit button's).
const MAX_FIELDS: usize = 4;
/// A text field's most bytes (the CSRF token is 43).
const MAX_TEXT_BYTES: usize = 200;

/// Reads the form within bounds: at most [`MAX_FIELDS`] fields, [`MAX_TEXT_BYTES`] per
/// text field, and one byte more than an MMS may carry for the image. Past the image's
/// bound the form is not read further (it is answered "too large"); any other excess
/// is a bad form. A stranger cannot make it read more than about 5 MB.
async fn read_upload(mut payload: Multipart) -> Result<Upload, ConsoleError> {
    let mut upload = Upload::default();
    let mut fields = 0;
    while let Some(field) = payload.next().await {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(ConsoleError::BadForm);
        }
        let mut field = field.map_err(|_| ConsoleError::BadForm)?;
        let name = field.name().unwrap_or_default().to_owned();
        let is_image = name == "image";
        if is_image {
            upload.name = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
        }
        let limit = if is_image {
            MAX_BYTES + 1
        } else {
            MAX_TEXT_BYTES
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| ConsoleError::BadForm)?;
            if bytes.len() + chunk.len() > limit {
                if !is_image {
                    return Err(ConsoleError::BadForm);
                }
                upload.too_large = true;
                return Ok(upload);
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => upload.csrf = String::from_utf8(bytes).unwrap_or_default(),
            "image" => upload.bytes = bytes,
            _ => {}
        }
    }
    Ok(upload)
}

pub(super) async fn upload_image(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    payload: Multipart,
) -> Result<HttpResponse, ConsoleError> {
    let upload = read_upload(payload).await?;
    check_session_form(&signed_in, &upload.csrf)?;
    signed_in.require(Permission::SendMessages)?;
    let checked = if upload.too_large {
        Err(nudge_domain::media::MediaError::TooLarge)
    } else {
        check_image(&upload.bytes)
    };
    let image = match checked {
        Ok(image) => image,
        Err(reason) => return refuse(&signed_in, &state, reason).await,
    };
    let (bytes, thumbnail) = thumbnail::make_off_thread(upload.bytes)
        .await
        .map_err(ConsoleError::Internal)?;
    let thumbnail = match thumbnail {
        Ok(thumbnail) => thumbnail,
        Err(unreadable @ ThumbnailError::Unreadable(_)) => {
            return refuse(&signed_in, &state, unreadable).await
        }
        Err(other) => return Err(ConsoleError::Internal(other.into())),
    };
    let id = uuid::Uuid::now_v7();
    let key = format!("{}/{id}.{}", signed_in.tenant(), image.extension);
    let thumbnail_key = format!(
        "{}/{id}.thumbnail.{}",
        signed_in.tenant(),
        thumbnail.extension
    );
    let row = Media {
        id,
        tenant_id: signed_in.tenant().as_uuid(),
        s3_key: key.clone(),
        content_type: image.content_type.to_owned(),
        bytes: i32::try_from(bytes.len()).unwrap_or(i32::MAX),
        width: i32::try_from(image.width).unwrap_or(i32::MAX),
        height: i32::try_from(image.height).unwrap_or(i32::MAX),
        sha256: hex::encode(Sha256::digest(&bytes)),
        original_name: upload.name,
        thumbnail_s3_key: thumbnail_key.clone(),
        thumbnail_content_type: thumbnail.content_type.to_owned(),
        thumbnail_width: i32::try_from(thumbnail.width).unwrap_or(i32::MAX),
        thumbnail_height: i32::try_from(thumbnail.height).unwrap_or(i32::MAX),
        created_at: Utc::now(),
    };
    // The objects first: a row never names a missing object (an object without a row,
    // after a crash here, is only unused storage).
    state
        .media
        .put(&key, bytes, image.content_type)
        .await
        .map_err(|e| ConsoleError::Internal(e.into()))?;
    state
        .media
        .put(&thumbnail_key, thumbnail.bytes, thumbnail.content_type)
        .await
        .map_err(|e| ConsoleError::Internal(e.into()))?;
    let mut conn = state.conn().await?;
    nudge_db::media::insert(&mut conn, &row).await?;
    tracing::info!(media_id = %id, user_id = %signed_in.0.user.id, bytes = row.bytes, "image uploaded in the console");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/media"))
        .finish())
}

/// The list again, saying why the upload was refused.
async fn refuse(
    signed_in: &SignedIn,
    state: &ConsoleState,
    reason: impl std::fmt::Display,
) -> Result<HttpResponse, ConsoleError> {
    let error = Some(format!("Not uploaded: {reason}."));
    render(signed_in, state, StatusCode::UNPROCESSABLE_ENTITY, error).await
}

/// The image itself, as it is sent (another tenant's is 404).
pub(super) async fn serve_image(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<MediaId>,
) -> Result<HttpResponse, ConsoleError> {
    serve(&signed_in, &state, id.into_inner(), |media| {
        (media.s3_key, media.content_type)
    })
    .await
}

/// Its thumbnail, for the console's lists (another tenant's is 404).
pub(super) async fn serve_thumbnail(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<MediaId>,
) -> Result<HttpResponse, ConsoleError> {
    serve(&signed_in, &state, id.into_inner(), |media| {
        (media.thumbnail_s3_key, media.thumbnail_content_type)
    })
    .await
}

/// Serves the object `which` names (its key and type) of the tenant's image `id`.
async fn serve(
    signed_in: &SignedIn,
    state: &ConsoleState,
    id: MediaId,
    which: impl FnOnce(Media) -> (String, String),
) -> Result<HttpResponse, ConsoleError> {
    let conn = state.conn().await?;
    let media = nudge_db::media::find(&conn, signed_in.tenant(), id.as_uuid())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let (key, content_type) = which(media);
    let bytes = state
        .media
        .get(&key)
        .await
        .map_err(|e| ConsoleError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        // Private to the person and never kept: a browser's cache outlives a sign-out
        // (on a shared computer, the next person could open it); never run as
        // anything but an image.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_name_images_without_a_file_name() {
        let media = nudge_db::models::Media {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            s3_key: "k".into(),
            content_type: "image/png".into(),
            bytes: 2048,
            width: 10,
            height: 20,
            sha256: String::new(),
            original_name: String::new(),
            thumbnail_s3_key: "t".into(),
            thumbnail_content_type: "image/png".into(),
            thumbnail_width: 5,
            thumbnail_height: 10,
            created_at: chrono::Utc::now(),
        };
        let rows = super::rows(&[media]);
        assert_eq!(rows[0].name, "image 00000000");
        assert_eq!(rows[0].dimensions, "10 × 20");
        assert_eq!(rows[0].kilobytes, 2);
    }
}
