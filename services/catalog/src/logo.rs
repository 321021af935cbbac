//! Logo uploads: the image type is read from the bytes' signature, never from the request's
//! `Content-Type`, so a store cannot serve HTML or script under an image URL.

use crate::CatalogError;

/// The media type of a PNG, JPEG or WebP image, from its magic bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Checks an upload against the cap and the accepted types; returns its media type.
pub fn accept(bytes: &[u8], max_bytes: usize) -> Result<&'static str, CatalogError> {
    if bytes.len() > max_bytes {
        return Err(CatalogError::TooLarge(format!(
            "a logo may be at most {max_bytes} bytes"
        )));
    }
    if bytes.is_empty() {
        return Err(CatalogError::invalid("logo", "the body is empty"));
    }
    sniff(bytes)
        .ok_or_else(|| CatalogError::Unsupported("a logo must be a PNG, JPEG or WebP image".into()))
}

/// A strong ETag: a prefix of the bytes' SHA-256.
pub fn etag(bytes: &[u8]) -> String {
    let hash = crate::admin_key::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes));
    format!("\"{}\"", &hash[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_signature() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"GIF89a"), None);
    }

    #[test]
    fn caps_and_refuses() {
        assert!(matches!(
            accept(&[0xFF, 0xD8, 0xFF, 0], 3),
            Err(CatalogError::TooLarge(_))
        ));
        assert!(matches!(
            accept(b"<svg/>", 100),
            Err(CatalogError::Unsupported(_))
        ));
        assert_eq!(accept(&[0xFF, 0xD8, 0xFF, 0], 4).unwrap(), "image/jpeg");
        assert_ne!(etag(b"a"), etag(b"b"));
    }
}
