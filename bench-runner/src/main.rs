//! The `edgebench` command line. Each subcommand is a thin call into the library (see `cli/`);
//! errors are reported once here and turned into the documented exit codes:
//! 0 success, 1 gate failed / regression found, 2 bad usage or bad input, 3 a backend failed.

// Cache-line aligned scratch for llama.cpp, whatever the heap's history (issue #3's parity).
mod aligned_new;
mod cli;

use std::process::ExitCode;

use clap::Parser;

use edgebench::Error;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.exec() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Errors quote servers, which may repeat an API key. Library errors say their
            // cause in their own message, so the message is printed, not the chain.
            eprintln!("error: {}", edgebench::secret::scrub(&e.to_string()));
            // Library errors know their exit code; anything else is an input/usage problem.
            let code = e.downcast_ref::<Error>().map_or(2, Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}
