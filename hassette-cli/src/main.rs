//! The shipped `hassette` binary, with the example apps registered.

fn main() {}
