//! `o365-host`: see `o365-host --help`.

fn main() -> std::process::ExitCode {
    o365_host::cli::main()
}
