//! The error every operation returns: what failed (with the culprit), its cause chain, the
//! hint a person can act on (uv's `hint:` line) and the class of failure, which the CLI maps
//! to an exit code without knowing the operation.

use std::error::Error as StdError;

/// A boxed cause, kept so the chain can be walked.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is, for callers that branch on it (the CLI's exit codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Bad input, a repository or image that fails verification, an unsatisfiable request.
    Failure,
    /// The lock is missing or does not match the manifest.
    LockOutdated,
    /// An ELF file of the image needs a shared library or loader the image lacks.
    MissingLibraries,
    /// A bug or an environment debless did not expect (a worker thread panicked).
    Internal,
}

/// An operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the user can fix, with how.
    #[error("{message}")]
    Input {
        message: String,
        hint: Option<String>,
        class: Class,
    },
    /// A step that failed, naming what was being done, over its cause.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Cause,
    },
    /// A stage's own typed error, passed through unchanged.
    #[error(transparent)]
    Stage(Cause),
}

impl Error {
    /// A failure (exit 1 in the CLI) with a hint.
    pub fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            hint: Some(hint.into()),
            class: Class::Failure,
        }
    }

    /// The lock is missing or stale.
    pub fn outdated(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            hint: Some(hint.into()),
            class: Class::LockOutdated,
        }
    }

    /// Something that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            hint: None,
            class: Class::Internal,
        }
    }

    /// The hint of this error or of the first cause below it that has one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Input { hint, .. } => hint.clone(),
            Error::Context { source, .. } | Error::Stage(source) => hint_of(source.as_ref()),
        }
    }

    /// The class of this error (the innermost operation error decides).
    pub fn class(&self) -> Class {
        match self {
            Error::Input { class, .. } => *class,
            Error::Context { source, .. } | Error::Stage(source) => source
                .downcast_ref::<Error>()
                .map_or(Class::Failure, Error::class),
        }
    }
}

/// The hint any error of debless's stages carries, looking through the chain: operation
/// errors and the stage errors that know how they are fixed.
pub fn hint_of(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(err) = err.downcast_ref::<Error>() {
            return err.hint();
        }
        if err.is::<crate::net::UntrustedCertificate>() {
            return Some(crate::net::UNTRUSTED_HINT.to_owned());
        }
        if err.is::<crate::net::TlsError>() {
            return Some(crate::net::CA_FILE_HINT.to_owned());
        }
        if let Some(err) = err.downcast_ref::<crate::repo::suites::SuitesError>()
            && let Some(hint) = err.hint()
        {
            return Some(hint.to_owned());
        }
        if let Some(err) = err.downcast_ref::<crate::rootfs::RootfsError>()
            && let Some(hint) = err.hint()
        {
            return Some(hint);
        }
        if let Some(err) = err.downcast_ref::<crate::repo::MirrorError>() {
            return Some(err.hint().to_owned());
        }
        if let Some(err) = err.downcast_ref::<crate::registry::RegistryError>() {
            return Some(registry_hint(err).to_owned());
        }
        if let Some(crate::fetch::FetchError::Unavailable {
            untrusted: true, ..
        }) = err.downcast_ref::<crate::fetch::FetchError>()
        {
            return Some(crate::net::UNTRUSTED_HINT.to_owned());
        }
        if let Some(err) = err.downcast_ref::<crate::fetch::FetchError>()
            && let crate::fetch::FetchError::NotCached { .. } = err
        {
            return Some("run `debless build` once without --offline to fill the cache".into());
        }
        current = err.source();
    }
    None
}

/// How a registry failure is usually fixed.
pub fn registry_hint(err: &crate::registry::RegistryError) -> &'static str {
    use crate::registry::RegistryError;
    match err {
        RegistryError::Unauthorized { .. } => {
            "log in (`~/.docker/config.json` or REGISTRY_AUTH_FILE), or set DEBLESS_REGISTRY_USERNAME and DEBLESS_REGISTRY_PASSWORD"
        }
        RegistryError::DigestMismatch { .. } => {
            "the registry (or something between) served other bytes than the digest promises; nothing was kept"
        }
        RegistryError::NotFound { .. } => {
            "check the name and tag of the image; if debless.lock pins a base its source no longer holds (an `oci-layout:` rebuilt, a tag deleted), `debless lock --update` pins it again"
        }
        RegistryError::NoPlatform { .. } => "pick architectures the base image has",
        RegistryError::Untrusted(_) => crate::net::UNTRUSTED_HINT,
        RegistryError::Tls(_) => crate::net::CA_FILE_HINT,
        _ => "check that the registry is reachable and the image exists",
    }
}

/// Adds what was being done to any error, as anyhow's `with_context` does.
pub trait Context<T> {
    /// Wraps the error with the message `what()` returns.
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T, E: Into<Cause>> Context<T> for Result<T, E> {
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|err| Error::Context {
            context: what(),
            source: err.into(),
        })
    }
}

macro_rules! stage_errors {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(err: $ty) -> Self {
                Error::Stage(Box::new(err))
            }
        })*
    };
}

stage_errors!(
    std::io::Error,
    serde_json::Error,
    crate::manifest::ManifestError,
    crate::lock::LockError,
    crate::repo::RepoError,
    crate::repo::HttpError,
    crate::net::TlsError,
    crate::net::UntrustedCertificate,
    crate::repo::MirrorError,
    crate::repo::suites::SuitesError,
    crate::repo::ReleaseError,
    crate::repo::SignatureError,
    crate::fetch::FetchError,
    crate::resolve::ResolveError,
    crate::rootfs::RootfsError,
    crate::rootfs::accounts::AccountsError,
    crate::rootfs::essentials::EssentialsError,
    crate::rootfs::ca::CaError,
    crate::rootfs::alternatives::AlternativesError,
    crate::rootfs::ldcache::LdCacheError,
    crate::oci::OciError,
    crate::oci::base::BaseError,
    crate::oci::files::AppFilesError,
    crate::oci::files::AppImageError,
    crate::registry::RegistryError,
    crate::check::load::LoadError,
    crate::check::elf::ElfError,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_operation_error_gives_hint_and_class() {
        let inner = Error::outdated("stale", "run `debless lock`");
        let outer: Result<(), Error> = Err(inner);
        let Err(err) = outer.context_with(|| "checking debless.lock".into()) else {
            panic!("an error stays an error");
        };
        assert_eq!(err.class(), Class::LockOutdated);
        assert_eq!(err.hint().as_deref(), Some("run `debless lock`"));
        assert_eq!(err.to_string(), "checking debless.lock");
    }

    #[test]
    fn stage_errors_keep_their_text_and_fail_with_exit_class_failure() {
        let err = Error::from(std::io::Error::other("disk full"));
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(err.class(), Class::Failure);
        assert_eq!(err.hint(), None);
    }
}
