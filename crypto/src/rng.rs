//! Where randomness comes from when the caller does not inject its own.

use getrandom::SysRng;
use rand_core::UnwrapErr;

/// The operating system's CSPRNG. It panics only if the OS cannot give randomness at all.
pub(crate) fn system_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// Fills `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand_core::Rng::fill_bytes(&mut system_rng(), &mut bytes);
    bytes
}

/// A random identifier of `N` bytes, base64url-encoded: mailbox ids, client ids, secrets.
pub fn random_token<const N: usize>() -> String {
    crate::base64url::encode(random_bytes::<N>())
}
