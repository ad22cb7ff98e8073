//! End-to-end tests live in `tests/e2e.rs`. This library holds the typed module that
//! `hassette codegen` writes from the real Home Assistant 2024.3.3 of those tests (its demo
//! integration and test helpers), for the test apps built on it.

pub mod real_ha;
