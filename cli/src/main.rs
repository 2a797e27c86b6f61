//! The `sealgate` command: the gateway (`serve`) and the offline key and envelope tools.

use std::process::ExitCode;

use clap::Parser as _;

/// jemalloc rather than the system allocator: it keeps no header next to each allocation and
/// packs each size class in its own pages, so a connection's buffers that are allocated but not
/// yet written (hyper's 8 KiB write buffer of a parked long-poll) stay out of the resident set,
/// and it returns freed pages to the system. 10,000 parked long-polls: 142 -> 110 MiB
/// (BENCHMARKS.md); mimalloc measured worse than glibc there.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
