//! The `sealgate` command line: subcommands and how each is run.

mod offline;
mod serve;

use clap::{Parser, Subcommand};

pub use offline::{KeygenArgs, OpenArgs, SealArgs};
pub use serve::ServeArgs;

/// sealgate: an end-to-end encrypted relay for OpenID Connect ID tokens.
#[derive(Debug, Parser)]
#[command(name = "sealgate", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (memory store on 127.0.0.1:8080, metrics on 127.0.0.1:9090 by default).
    Serve(Box<ServeArgs>),
    /// Make an X25519 key pair: the private JWK to a file, the public JWK on stdout.
    Keygen(KeygenArgs),
    /// Seal stdin to a public key; the compact JWE on stdout.
    Seal(SealArgs),
    /// Open a compact JWE from stdin with a private key; the plaintext on stdout.
    Open(OpenArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Keygen(args) => offline::keygen(args),
        Command::Seal(args) => offline::seal(args),
        Command::Open(args) => offline::open(args),
    }
}
