//! The `sealgate` command: the gateway (`serve`) and the offline key and envelope tools.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = sealgate_cli::Cli::parse();
    match sealgate_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sealgate: error: {error:#}");
            ExitCode::from(sealgate_cli::ExitStatus::of(&error).code())
        }
    }
}
