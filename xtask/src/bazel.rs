//! What the Bazel rules' test (`tests/it/bazel.rs`) needs on the machine: Debian's
//! `bazel-bootstrap` (Bazel 4.2.3, WORKSPACE mode; apt brings the JDK it runs on, and it works
//! offline because its install base is in the package) and `nginx-light` (its WebDAV module is
//! the HTTP remote cache). The test itself starts and stops both, with drop guards.

/// Debian packages of the Bazel test, by the binary that proves each is installed.
pub const TOOLS: &[(&str, &str)] = &[("bazel", "bazel-bootstrap"), ("nginx", "nginx-light")];
