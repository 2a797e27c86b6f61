//! The `sealgate` command line: subcommands and how each is run. `main.rs` parses and calls
//! [`run`]; nothing else depends on this crate.

mod app;
mod bridge;
mod completions;
mod credentials;
mod device;
mod exit;
mod logging;
mod offline;
mod phone;
mod serve;

use clap::{Parser, Subcommand};

pub use app::{JwksCommand, RegisterArgs, RequestArgs, WaitArgs};
pub use bridge::BridgeArgs;
pub use completions::{CompletionsArgs, ManArgs};
pub use credentials::CredentialsArgs;
pub use device::{
    ApproveArgs, DeviceCommand, DeviceFileArgs, ListenArgs, MessageArgs, RegisterDeviceArgs,
    UpdateDeviceArgs,
};
pub use exit::ExitStatus;
pub use logging::LogFormat;
pub use offline::{KeygenArgs, OpenArgs, SealArgs};
pub use phone::SendArgs;
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
    /// Website: run the OpenID Provider bridge beside the website's app (127.0.0.1:9000 by
    /// default): its OIDC library signs users in through sealgate.
    Bridge(Box<BridgeArgs>),
    /// Make an X25519 key pair: the private JWK to a file, the public JWK on stdout.
    Keygen(KeygenArgs),
    /// Seal stdin to a public key; the compact JWE on stdout.
    Seal(SealArgs),
    /// Open a compact JWE from stdin with a private key; the plaintext on stdout.
    Open(OpenArgs),
    /// App: make a key, register at a gateway, save the credentials (mode 0600).
    Register(RegisterArgs),
    /// App: open a mailbox, show the sign-in request, wait for the token, print it.
    Request(RequestArgs),
    /// App: wait on a mailbox opened earlier and print the token.
    Wait(WaitArgs),
    /// App: manage the published keys.
    #[command(subcommand)]
    Jwks(JwksCommand),
    /// Phone: seal a token (stdin or --token-file) for a sign-in request URI and deliver it.
    Send(SendArgs),
    /// Phone, one-click sign-in: register a push subscription with a website, then open,
    /// approve or decline the push messages carrying its sign-in requests (`device listen`
    /// stands in for the push service on loopback).
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Print the completion script for a shell, e.g. `sealgate completions bash >
    /// ~/.local/share/bash-completion/completions/sealgate`.
    Completions(CompletionsArgs),
    /// Print the manual page, sealgate(1), as roff (`sealgate man > sealgate.1`), or write
    /// every subcommand's page with `--out-dir ~/.local/share/man/man1`.
    Man(ManArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Bridge(args) => bridge::run(*args),
        Command::Keygen(args) => offline::keygen(args),
        Command::Seal(args) => offline::seal(args),
        Command::Open(args) => offline::open(args),
        Command::Register(args) => app::register(args),
        Command::Request(args) => app::request(args),
        Command::Wait(args) => app::wait(args),
        Command::Jwks(command) => app::jwks(command),
        Command::Send(args) => phone::send(args),
        Command::Device(command) => device::run(command),
        Command::Completions(args) => completions::print(args),
        Command::Man(args) => completions::man(args),
    }
}
