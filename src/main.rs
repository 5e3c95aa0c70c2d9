//! The `debless` binary: parse arguments, run the command, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    debless::cli::main()
}
