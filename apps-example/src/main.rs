//! The shipped `hassette` binary: the whole CLI with the example apps registered, and
//! `--demo` (hassette-cli's `demo` feature) on.

fn main() -> std::process::ExitCode {
    hassette_cli::main(apps_example::registry())
}
