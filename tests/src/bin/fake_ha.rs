//! The fake Home Assistant as a process of its own, for tests that run `hassette` where the
//! test process cannot reach in: a container, an add-on's start script, another network
//! namespace. It runs the demo scenario (the hallway motion sensor trips every few seconds)
//! and prints one line per service call it receives, so a test sees that an app acted.
//!
//! ```text
//! hassette-fake-ha [--port N] [--token T] [--websocket-path /core/websocket]
//! ```
//!
//! Prints `fake-ha: listening on ws://127.0.0.1:PORT/PATH` once it accepts connections.

use std::process::ExitCode;
use std::time::Duration;

use hassette_core::config::Secret;
use hassette_core::testing::{FakeHomeAssistant, FakeOptions};

fn parse() -> Result<FakeOptions, String> {
    let mut opts = FakeOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                opts.port = text.parse().map_err(|e| format!("--port {text}: {e}"))?;
            }
            "--token" => opts.token = Secret::new(value()?),
            "--websocket-path" => opts.websocket_path = value()?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let opts = match parse() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("hassette-fake-ha: {e}");
            return ExitCode::from(2);
        }
    };
    let fake = match FakeHomeAssistant::demo_with(opts).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("hassette-fake-ha: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    say(&format!("fake-ha: listening on {}", fake.url()));
    let mut reported = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
            _ = tick.tick() => {}
        }
        let calls = fake.service_calls();
        for call in calls.iter().skip(reported) {
            say(&format!(
                "fake-ha: service call {}.{} {}",
                call.domain,
                call.service,
                call.entity_ids.join(",")
            ));
        }
        reported = calls.len();
    }
}

/// One line on stdout; a reader that went away is not this process's problem.
fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
