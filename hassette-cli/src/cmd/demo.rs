//! `hassette run --demo`: the built-in simulated Home Assistant, when the binary was built
//! with hassette-cli's `demo` feature. Without it, `--demo` is a usage error that says how to
//! get it, so a user binary links no fake Home Assistant it does not ask for.

use hassette_core::config::Config;
use hassette_core::ha::ClientOptions;
use hassette_core::runtime;

use super::Failure;

/// A running demo Home Assistant (without the `demo` feature, a type with no values).
#[derive(Debug)]
pub(crate) struct Demo {
    #[cfg(feature = "demo")]
    fake: hassette_core::testing::FakeHomeAssistant,
    #[cfg(not(feature = "demo"))]
    never: std::convert::Infallible,
}

impl Demo {
    /// Starts the simulated Home Assistant on 127.0.0.1.
    #[cfg(feature = "demo")]
    pub(crate) async fn start() -> Result<Self, Failure> {
        use anyhow::Context as _;
        let fake = hassette_core::testing::FakeHomeAssistant::demo()
            .await
            .context("cannot start the demo Home Assistant")
            .map_err(Failure::runtime)?;
        tracing::info!(url = %fake.base_url(), "demo: running against the built-in simulated Home Assistant");
        Ok(Self { fake })
    }

    /// Without the `demo` feature: the error saying how to enable it.
    #[cfg(not(feature = "demo"))]
    pub(crate) async fn start() -> Result<Self, Failure> {
        Err(Self::unavailable())
    }

    /// The error `--demo` gives in a binary built without the `demo` feature.
    pub(crate) fn unavailable() -> Failure {
        Failure::usage(anyhow::anyhow!(
            "--demo: this binary was built without the simulated Home Assistant; enable \
             hassette-cli's `demo` feature in your Cargo.toml: \
             hassette-cli = {{ ..., features = [\"demo\"] }}"
        ))
    }

    /// Stops the simulated Home Assistant (after the runtime is done with it).
    pub(crate) fn stop(self) {
        #[cfg(feature = "demo")]
        drop(self.fake);
        #[cfg(not(feature = "demo"))]
        match self.never {}
    }

    /// How the runtime connects to the demo: its loopback URL and its token, with `config`'s
    /// timeouts.
    pub(crate) fn client_options(&self, config: &Config) -> ClientOptions {
        #[cfg(feature = "demo")]
        {
            runtime::client_options(config, self.fake.base_url(), self.fake.token())
        }
        #[cfg(not(feature = "demo"))]
        {
            let _ = (config, runtime::client_options);
            match self.never {}
        }
    }
}

#[cfg(all(test, not(feature = "demo")))]
mod tests {
    use super::Demo;

    /// `cargo test -p hassette-cli` builds the library as a user binary gets it by default.
    #[test]
    fn without_the_feature_demo_says_which_feature_to_enable() {
        let failure = Demo::unavailable();
        assert_eq!(failure.code, crate::EXIT_USAGE);
        let text = format!("{:#}", failure.error);
        assert!(text.contains("`demo` feature"), "{text}");
        assert!(text.contains(r#"features = ["demo"]"#), "{text}");
        // `hassette run --demo` is a usage error (exit 2).
        let code = crate::main_from(
            [
                "hassette",
                "run",
                "--demo",
                "-c",
                "/nonexistent/hassette.toml",
            ],
            hassette_core::app::AppRegistry::new(),
        );
        assert_eq!(code, std::process::ExitCode::from(crate::EXIT_USAGE));
    }
}
