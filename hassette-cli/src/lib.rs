//! The `hassette` command line, as a library: a user's own binary registers its apps and calls
//! [`main`].
