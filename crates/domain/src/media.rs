//! Images for MMS, checked by what they are, not by what they are called: the first
//! bytes say the format (JPEG, PNG or GIF, which every carrier shows), the header must
//! give sane dimensions, and the whole file must fit Twilio's 5 MB limit for a message's
//! media. A file named `.png` that is not a PNG is refused.

/// Twilio accepts up to 5 MB of media per message.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Larger sides than this are refused (no carrier shows them; likely a decompression bomb).
pub const MAX_SIDE: usize = 10_000;
/// And more pixels than this: 40 megapixels is more than a 5 MB photo holds, and it
/// bounds what decoding one (for the console's thumbnail) may take in memory.
pub const MAX_PIXELS: u64 = 40_000_000;

/// An image that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedImage {
    pub content_type: &'static str,
    pub extension: &'static str,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than 5 MB, the limit of an MMS")]
    TooLarge,
    #[error("the file is not a JPEG, PNG or GIF image (whatever its name says)")]
    NotAnImage,
    #[error("the image's dimensions cannot be read, or exceed {MAX_SIDE} pixels a side or 40 megapixels")]
    BadDimensions,
}

/// Checks `bytes` as an MMS image.
pub fn check_image(bytes: &[u8]) -> Result<CheckedImage, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(MediaError::TooLarge);
    }
    let (content_type, extension) = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ("image/jpeg", "jpg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ("image/png", "png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        ("image/gif", "gif")
    } else {
        return Err(MediaError::NotAnImage);
    };
    let size = imagesize::blob_size(bytes).map_err(|_| MediaError::BadDimensions)?;
    let side = |n: usize| {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_SIDE as u32).contains(n))
    };
    match (side(size.width), side(size.height)) {
        (Some(width), Some(height)) if u64::from(width) * u64::from(height) <= MAX_PIXELS => {
            Ok(CheckedImage {
                content_type,
                extension,
                width,
                height,
            })
        }
        _ => Err(MediaError::BadDimensions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest PNG: 1x1, one gray pixel.
    pub const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3A,
        0x7E, 0x9B, 0x55, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60,
        0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x48, 0xAF, 0xA4, 0x71, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn a_png_is_known_by_its_bytes() {
        let image = check_image(PNG_1X1).unwrap();
        assert_eq!(image.content_type, "image/png");
        assert_eq!((image.width, image.height), (1, 1));
    }

    #[test]
    fn what_is_not_an_image_is_refused_whatever_its_name() {
        assert_eq!(check_image(b""), Err(MediaError::Empty));
        assert_eq!(
            check_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            Err(MediaError::NotAnImage)
        );
        assert_eq!(
            check_image(b"\x89PNG\r\n\x1a\ntruncated"),
            Err(MediaError::BadDimensions)
        );
        // A header that claims 9,000 x 9,000 pixels: each side is allowed, the area is not.
        let mut bomb = PNG_1X1.to_vec();
        bomb[16..24].copy_from_slice(&[0, 0, 0x23, 0x28, 0, 0, 0x23, 0x28]);
        assert_eq!(check_image(&bomb), Err(MediaError::BadDimensions));
        bomb[16..24].copy_from_slice(&[0, 0, 0x23, 0x28, 0, 0, 0x10, 0x00]);
        assert_eq!(
            check_image(&bomb).map(|image| (image.width, image.height)),
            Ok((9000, 4096)),
            "under the area limit"
        );
        let huge = vec![0xFF; MAX_BYTES + 1];
        assert_eq!(check_image(&huge), Err(MediaError::TooLarge));
    }
}
