//! Thumbnails for the console's lists of images: a copy at most [`SIDE`] pixels a side,
//! made once at upload, so a page of images downloads kilobytes rather than every
//! original (up to 5 MB each). Decoding the whole image also proves that its data, not
//! only its header, is readable: a damaged file is refused before anyone sends it.
//!
//! Decoding is CPU work and takes memory in proportion to the pixels (up to
//! `MAX_PIXELS` x 4 bytes), so it runs off the server's threads, one image at a time
//! per process.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use nudge_domain::media::{MAX_PIXELS, MAX_SIDE};
use tokio::sync::Semaphore;

/// The longest side of a thumbnail: the lists show 96 CSS pixels, sharp at 2x density.
pub const SIDE: u32 = 192;

/// JPEG quality of photo thumbnails (the eye sees no loss at this size).
const JPEG_QUALITY: u8 = 80;

/// One decode at a time per process bounds the memory uploads can take together.
static DECODING: Semaphore = Semaphore::const_new(1);

pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub extension: &'static str,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// The header was fine, the pixels are not.
    #[error("the image's data is damaged and cannot be read")]
    Unreadable(#[source] image::ImageError),
    #[error("the thumbnail could not be encoded")]
    Encoding(#[source] image::ImageError),
}

/// Makes the thumbnail of an image that passed `nudge_domain::media::check_image`,
/// off the server's threads. Gives the bytes back with it.
pub async fn make_off_thread(
    bytes: Vec<u8>,
) -> anyhow::Result<(Vec<u8>, Result<Thumbnail, ThumbnailError>)> {
    let _permit = DECODING.acquire().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let thumbnail = make(&bytes);
        (bytes, thumbnail)
    })
    .await?)
}

/// Decodes `bytes` (JPEG, PNG or GIF; a GIF's first frame), turns it the way its EXIF
/// orientation says (as browsers show the original), scales it down to fit
/// [`SIDE`] x [`SIDE`] (never up), and encodes it: PNG when it has transparency,
/// JPEG otherwise. Metadata (EXIF, location) is not copied.
pub fn make(bytes: &[u8]) -> Result<Thumbnail, ThumbnailError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ThumbnailError::Unreadable(image::ImageError::IoError(e)))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE as u32);
    limits.max_image_height = Some(MAX_SIDE as u32);
    // The decoded pixels (4 bytes each at most) and the decoder's working space.
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(ThumbnailError::Unreadable)?;
    let orientation = decoder.orientation().map_err(ThumbnailError::Unreadable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(ThumbnailError::Unreadable)?;
    image.apply_orientation(orientation);
    if image.width() > SIDE || image.height() > SIDE {
        image = image.thumbnail(SIDE, SIDE);
    }

    let mut out = Cursor::new(Vec::new());
    let (content_type, extension) = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8())
            .write_with_encoder(PngEncoder::new(&mut out))
            .map_err(ThumbnailError::Encoding)?;
        ("image/png", "png")
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
            .map_err(ThumbnailError::Encoding)?;
        ("image/jpeg", "jpg")
    };
    Ok(Thumbnail {
        bytes: out.into_inner(),
        content_type,
        extension,
        width: image.width(),
        height: image.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn encoded(image: DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn decoded(thumbnail: &Thumbnail) -> DynamicImage {
        image::load_from_memory(&thumbnail.bytes).unwrap()
    }

    #[test]
    fn a_large_photo_becomes_a_small_jpeg_of_the_same_shape() {
        let photo = RgbImage::from_fn(1200, 600, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let jpeg = encoded(DynamicImage::ImageRgb8(photo), image::ImageFormat::Jpeg);
        let thumbnail = make(&jpeg).unwrap();
        assert_eq!(thumbnail.content_type, "image/jpeg");
        assert_eq!((thumbnail.width, thumbnail.height), (192, 96));
        assert_eq!(decoded(&thumbnail).width(), 192);
        assert!(
            thumbnail.bytes.len() * 5 < jpeg.len(),
            "{} vs {}",
            thumbnail.bytes.len(),
            jpeg.len()
        );
    }

    #[test]
    fn transparency_is_kept_in_a_png_and_small_images_are_not_enlarged() {
        let logo = RgbaImage::from_fn(40, 300, |x, _| {
            Rgba([200, 0, 0, if x < 20 { 0 } else { 255 }])
        });
        let png = encoded(DynamicImage::ImageRgba8(logo), image::ImageFormat::Png);
        let thumbnail = make(&png).unwrap();
        assert_eq!(thumbnail.content_type, "image/png");
        assert_eq!((thumbnail.width, thumbnail.height), (26, 192));
        let pixels = decoded(&thumbnail).to_rgba8();
        assert_eq!(
            pixels.get_pixel(0, 0)[3],
            0,
            "transparent stays transparent"
        );

        let icon = RgbImage::from_pixel(48, 32, Rgb([1, 2, 3]));
        let small = make(&encoded(
            DynamicImage::ImageRgb8(icon),
            image::ImageFormat::Png,
        ))
        .unwrap();
        assert_eq!((small.width, small.height), (48, 32));
    }

    #[test]
    fn a_gif_gives_its_first_frame() {
        let frame = RgbaImage::from_pixel(300, 300, Rgba([0, 120, 0, 255]));
        let gif = encoded(DynamicImage::ImageRgba8(frame), image::ImageFormat::Gif);
        let thumbnail = make(&gif).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height), (192, 192));
        let pixel = decoded(&thumbnail).to_rgba8().get_pixel(96, 96).0;
        assert!(pixel[1] > 100 && pixel[0] < 20, "{pixel:?}");
    }

    #[test]
    fn a_file_whose_header_is_fine_but_whose_pixels_are_cut_off_is_unreadable() {
        let photo = RgbImage::from_pixel(400, 400, Rgb([10, 20, 30]));
        let png = encoded(DynamicImage::ImageRgb8(photo), image::ImageFormat::Png);
        let cut = &png[..png.len() / 2];
        assert!(
            nudge_domain::media::check_image(cut).is_ok(),
            "the header passes"
        );
        assert!(matches!(make(cut), Err(ThumbnailError::Unreadable(_))));
    }
}
