//! TEST-ONLY: a throw-away OpenID Connect issuer for `examples/demo.sh`, standing in for the
//! identity provider a real phone gets its ID token from. Its Ed25519 key is made at start-up,
//! lives in memory only and dies with the process. Never use it for anything but demos and
//! tests: whoever runs it can sign any token.
//!
//! ```text
//! test_issuer --jwks-out FILE [--issuer ISS] [--subject SUB] [--claim NAME=VALUE]...
//! ```
//!
//! It writes the issuer's public JWKS to FILE (for `sealgate request --issuer-jwks FILE`),
//! prints `ready`, then reads lines `AUDIENCE NONCE` on stdin and answers each with an ID
//! token for SUB (valid 5 minutes) on stdout. Each `--claim NAME=VALUE` adds a claim to every
//! token: VALUE is read as JSON when it parses (`email_verified=true`), as a string otherwise
//! (`name=Alice Example`). It exits at the end of its input.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use sealgate_client::testing::TestIssuer;

const USAGE: &str = "usage: test_issuer --jwks-out FILE [--issuer ISS] [--subject SUB] \
                     [--claim NAME=VALUE]... (then `AUDIENCE NONCE` lines on stdin)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("test_issuer: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut jwks_out = None;
    let mut issuer = "https://issuer.demo.invalid".to_owned();
    let mut subject = "alice".to_owned();
    let mut claims = serde_json::Map::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value; {USAGE}"));
        match flag.as_str() {
            "--jwks-out" => jwks_out = Some(value()?),
            "--issuer" => issuer = value()?,
            "--subject" => subject = value()?,
            "--claim" => {
                let pair = value()?;
                let (name, text) = pair
                    .split_once('=')
                    .ok_or(format!("--claim takes NAME=VALUE, got `{pair}`"))?;
                let value = serde_json::from_str(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.to_owned()));
                claims.insert(name.to_owned(), value);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`; {USAGE}").into()),
        }
    }
    let jwks_out = jwks_out.ok_or(USAGE)?;

    let test_issuer = TestIssuer::generate(&issuer)?;
    let temporary = format!("{jwks_out}.tmp");
    std::fs::write(&temporary, test_issuer.jwks().to_string())?;
    std::fs::rename(&temporary, &jwks_out)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;

    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let (Some(audience), Some(nonce), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("expected `AUDIENCE NONCE`, got `{line}`").into());
        };
        writeln!(
            stdout,
            "{}",
            test_issuer.sign_id_token_with(&subject, audience, nonce, &claims)?
        )?;
        stdout.flush()?;
    }
    Ok(())
}
