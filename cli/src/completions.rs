//! `sealgate completions SHELL` and `sealgate man`: the shell's completion script and the
//! manual page (roff), generated from the same definitions the parser uses.

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

/// Flags of `sealgate man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write sealgate.1 and one page per subcommand (sealgate-serve.1, …) into this
    /// directory, instead of sealgate(1) on stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}

/// Prints sealgate(1) as roff, or writes every page into `--out-dir`.
pub(super) fn man(args: ManArgs) -> anyhow::Result<()> {
    match args.out_dir {
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?,
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(Cli::command(), &dir)?;
            eprintln!("manual pages written to {}", dir.display());
        }
    }
    Ok(())
}
