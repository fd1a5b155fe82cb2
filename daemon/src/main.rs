use std::process::ExitCode;

fn main() -> ExitCode {
    match lcd::cli::main() {
        Ok(code) => code,
        Err(e) if lcd::cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lcd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
