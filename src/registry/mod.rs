//! Stage `registry` (transport, beside `fetch`): OCI images in and out of registries and
//! local layouts. References ([`reference`]), credentials and tokens ([`auth`]), a small
//! blocking distribution-API client ([`client`]), pulling into a digest-addressed blob cache
//! ([`pull`]) and pushing a layout ([`push`]). It knows nothing of Debian or of how images are
//! built; `oci::base` reads what it pulls.

pub mod auth;
pub mod client;
pub mod pull;
pub mod push;
pub mod reference;

pub use pull::{BlobCache, PulledImage, Puller};
pub use push::{PushReport, push_layout};
pub use reference::{BadReference, ImageSource, Reference};

/// Why talking to a registry or reading an image failed; each variant names the culprit.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A malformed reference.
    #[error(transparent)]
    Reference(#[from] BadReference),
    /// The connection failed or the answer could not be read.
    #[error("cannot reach `{url}`: {message}")]
    Transport { url: String, message: String },
    /// The registry's certificate is not vouched for by the CA store in effect.
    #[error("{0}")]
    Untrusted(#[from] crate::net::UntrustedCertificate),
    /// The client could not be set up (a CA file that cannot be used).
    #[error(transparent)]
    Tls(#[from] crate::net::TlsError),
    /// `401` even after answering the challenge.
    #[error("registry `{registry}` refused access to `{repository}` (401 unauthorized{})", if *had_credentials { ", with the configured credentials" } else { ", no credentials configured" })]
    Unauthorized {
        registry: String,
        repository: String,
        had_credentials: bool,
    },
    /// A manifest, tag or blob that does not exist.
    #[error("{what} was not found")]
    NotFound { what: String },
    /// Any other non-success answer.
    #[error("`{url}` answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// Bytes that do not hash to the digest that named them.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A manifest, index or config that is not what it claims.
    #[error("{what} is not a valid image document: {reason}")]
    BadDocument { what: String, reason: String },
    /// The image has no manifest for an architecture.
    #[error("image `{image}` has no linux/{architecture} manifest (it has: {available})")]
    NoPlatform {
        image: String,
        architecture: String,
        available: String,
    },
    /// Local I/O.
    #[error("cannot read or write `{what}`: {source}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
