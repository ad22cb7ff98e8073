//! The crate's one integration-test binary: the example apps under the app harness, and the
//! shipped `hassette` binary (this crate's `[[bin]]`) run as a real process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod harness;
