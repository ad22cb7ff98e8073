//! End-to-end tests of the real `hassette` binary.
