//! `sealgate-soak`: the chaos soak, two gateways and Redis killed and restarted under sign-in
//! load, every envelope accounted for. See `sealgate-soak --help` and docs/reliability.md.

fn main() -> std::process::ExitCode {
    sealgate_bench::soak::main()
}
