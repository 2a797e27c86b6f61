//! `sealgate-load`: load generator for sealgate's HTTP API. See `sealgate-load --help` and
//! BENCHMARKS.md.

fn main() -> std::process::ExitCode {
    sealgate_bench::cli::main()
}
