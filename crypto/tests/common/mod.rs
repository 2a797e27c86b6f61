//! Helpers shared by the integration tests: a deterministic RNG, and JWK edits.

use std::convert::Infallible;

use sealgate_crypto::rand_core::{TryCryptoRng, TryRng, utils};

/// An "RNG" that hands out the given bytes in order and panics when they run out, so that a
/// test both fixes the randomness a sender draws and notices if it draws more than expected.
pub(crate) struct FixedRng<'a> {
    bytes: &'a [u8],
}

impl<'a> FixedRng<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// How many of the given bytes have not been drawn yet.
    #[allow(dead_code)] // not every test binary that includes this module asks
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

impl TryRng for FixedRng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        utils::next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        utils::next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(
            dst.len() <= self.bytes.len(),
            "FixedRng ran out: {} bytes asked, {} left",
            dst.len(),
            self.bytes.len()
        );
        let (taken, rest) = self.bytes.split_at(dst.len());
        dst.copy_from_slice(taken);
        self.bytes = rest;
        Ok(())
    }
}

impl TryCryptoRng for FixedRng<'_> {}

/// `jwk` with member `name` set to `value`.
#[allow(dead_code)] // not every test crate edits JWKs
pub(crate) fn with(
    jwk: &serde_json::Value,
    name: &str,
    value: serde_json::Value,
) -> serde_json::Value {
    let mut jwk = jwk.clone();
    jwk[name] = value;
    jwk
}

/// `jwk` without member `name`.
#[allow(dead_code)] // not every test crate edits JWKs
pub(crate) fn without(jwk: &serde_json::Value, name: &str) -> serde_json::Value {
    let mut jwk = jwk.clone();
    jwk.as_object_mut()
        .expect("a JWK is an object")
        .remove(name);
    jwk
}
