//! Strict base64url (RFC 4648 §5, no padding), as JOSE uses it: the one encoding of keys,
//! thumbprints, envelope parts and random identifiers across sealgate.
//!
//! ```
//! use sealgate_crypto::base64url;
//!
//! assert_eq!(base64url::encode([0xfb, 0xff]), "-_8");
//! assert_eq!(base64url::decode("-_8")?, [0xfb, 0xff]);
//! assert!(base64url::decode("-_8=").is_err()); // padding
//! assert!(base64url::decode("+/8").is_err()); // the standard alphabet
//! # Ok::<(), base64url::DecodeError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The text is not strict unpadded base64url, or (for [`decode_array`]) not of the expected
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not unpadded base64url of the expected length")]
#[non_exhaustive]
pub struct DecodeError;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url, refusing padding, the standard alphabet, whitespace and
/// non-canonical trailing bits.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| DecodeError)
}

/// Decodes unpadded base64url into exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    decode(text)?.try_into().map_err(|_| DecodeError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_strict() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"\xfb\xff\xfe"] {
            assert_eq!(decode(&encode(bytes)).as_deref(), Ok(bytes));
        }
        for bad in ["Zg==", "Zg=", "+/8", "Zm 9v", "Zh", "Z"] {
            assert_eq!(decode(bad), Err(DecodeError), "{bad:?}");
        }
        assert_eq!(decode_array::<2>("AAE"), Ok([0, 1]));
        assert_eq!(decode_array::<3>("AAE"), Err(DecodeError));
    }
}
