//! The phone side on the command line: `sealgate send URI`, and the token reading it shares
//! with `sealgate device approve` and `listen`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use sealgate_client::{Deposited, Phone};
use zeroize::Zeroizing;

/// Flags of `sealgate send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The sign-in request URI (`sealgate:signin?…`).
    pub uri: String,
    /// Read the token from this file instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Seals the token to the app's vouched-for key and deposits it.
pub(super) fn send(args: SendArgs) -> anyhow::Result<()> {
    let token = read_token(args.token_file.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async { Phone::new()?.send(&args.uri, &token).await })?;
    report(outcome, "token sealed and delivered");
    Ok(())
}

/// The token from `file`, or stdin without one; trailing whitespace (a newline) dropped.
pub(super) fn read_token(file: Option<&Path>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut token = Zeroizing::new(Vec::new());
    match file {
        Some(path) => token.extend(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => {
            std::io::stdin()
                .read_to_end(&mut token)
                .context("cannot read the token from stdin")?;
        }
    }
    while token.last().is_some_and(u8::is_ascii_whitespace) {
        token.pop();
    }
    anyhow::ensure!(!token.is_empty(), "no token given (stdin or --token-file)");
    Ok(token)
}

/// Tells on stderr what a deposit did: `stored` for a new one.
pub(super) fn report(outcome: Deposited, stored: &str) {
    match outcome {
        Deposited::Stored => eprintln!("{stored}"),
        Deposited::AlreadyStored => eprintln!("the answer was already delivered"),
    }
}
