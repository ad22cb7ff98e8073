//! `hassette.toml`: loading, layering and validation (issue 2).

mod secret;

pub use secret::Secret;
