//! `sealgate completions SHELL`: the shell's completion script for every subcommand and flag,
//! generated from the same definitions the parser uses.

use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

use crate::Cli;

/// Flags of `sealgate completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in: bash, zsh, fish (elvish and powershell too).
    pub shell: Shell,
}

/// Prints the completion script on stdout.
pub(super) fn print(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "sealgate", &mut std::io::stdout());
    Ok(())
}
