//! Image references as users write them: `host[:port]/repo[:tag][@sha256:…]`, with Docker's
//! defaults (`python` → `docker.io/library/python:latest`), plus the two local forms debless
//! reads bases from: `oci-layout:PATH[:TAG]` and `oci-archive:FILE`.

use std::fmt;
use std::path::PathBuf;

/// Docker Hub's name in references, and the host its API really lives on.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A reference to an image in a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path (`library/python`, `distroless/python3-debian12`).
    pub repository: String,
    /// Tag, if any (`latest` is assumed when there is neither tag nor digest).
    pub tag: Option<String>,
    /// `sha256:<hex>`, if pinned.
    pub digest: Option<String>,
}

/// Where a base image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// A registry.
    Registry(Reference),
    /// An OCI layout directory, optionally one tag of it (`org.opencontainers.image.ref.name`).
    Layout { path: PathBuf, tag: Option<String> },
    /// An OCI layout as one tar file.
    Archive { path: PathBuf },
}

/// Why a reference cannot be used; carries the text as written.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not an image reference: {reason}")]
pub struct BadReference {
    pub text: String,
    pub reason: String,
}

impl Reference {
    /// Parses `host[:port]/repo[:tag][@digest]` with Docker's defaults.
    pub fn parse(text: &str) -> Result<Self, BadReference> {
        let bad = |reason: &str| BadReference {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_sha256_digest(digest) {
                    return Err(bad("the digest must be `sha256:` and 64 hex digits"));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        // A tag is a `:` after the last `/` (a `:` before it is a port).
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if !rest[colon..].contains('/') => {
                (&rest[..colon], Some(rest[colon + 1..].to_owned()))
            }
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !tag.starts_with(['.', '-']);
            if !valid {
                return Err(bad(
                    "a tag is up to 128 of [A-Za-z0-9_.-], not starting with `.` or `-`",
                ));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => {
                (host.to_owned(), path.to_owned())
            }
            Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
        };
        if repository.is_empty() || !repository.split('/').all(component_ok) {
            return Err(bad(
                "the repository must be lowercase path components of [a-z0-9._-]",
            ));
        }
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_owned())
        } else {
            tag
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the registry API answers on (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Whether the registry runs on this machine (`localhost`, `127.0.0.1`, `[::1]`): such a
    /// registry may speak plain HTTP, as docker allows for loopback registries.
    pub fn is_local(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(self.registry.as_str(), |(host, _)| host);
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }

    /// The digest if pinned, else the tag: what `GET /v2/<repo>/manifests/<it>` takes.
    pub fn manifest_key(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl ImageSource {
    /// Parses `oci-layout:PATH[:TAG]`, `oci-archive:FILE` or a registry reference.
    pub fn parse(text: &str) -> Result<Self, BadReference> {
        if let Some(rest) = text.strip_prefix("oci-layout:") {
            let (path, tag) = match rest.rsplit_once(':') {
                Some((path, tag)) if !tag.contains('/') && !path.is_empty() => {
                    (path, Some(tag.to_owned()))
                }
                _ => (rest, None),
            };
            if path.is_empty() {
                return Err(BadReference {
                    text: text.to_owned(),
                    reason: "`oci-layout:` needs a directory".to_owned(),
                });
            }
            return Ok(Self::Layout {
                path: PathBuf::from(path),
                tag,
            });
        }
        if let Some(path) = text.strip_prefix("oci-archive:") {
            if path.is_empty() {
                return Err(BadReference {
                    text: text.to_owned(),
                    reason: "`oci-archive:` needs a file".to_owned(),
                });
            }
            return Ok(Self::Archive {
                path: PathBuf::from(path),
            });
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return Self::parse(rest);
        }
        Reference::parse(text).map(Self::Registry)
    }
}

/// Whether `text` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(text: &str) -> bool {
    crate::oci::Digest::parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(text).expect("valid");
        (r.registry, r.repository, r.tag, r.digest)
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parsed("python"),
            (
                "docker.io".into(),
                "library/python".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(
            parsed("bitnami/redis:7"),
            (
                "docker.io".into(),
                "bitnami/redis".into(),
                Some("7".into()),
                None
            )
        );
        assert_eq!(
            Reference::parse("python").expect("valid").api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            parsed(&format!("127.0.0.1:5000/distroless/python3:v1@{digest}")),
            (
                "127.0.0.1:5000".into(),
                "distroless/python3".into(),
                Some("v1".into()),
                Some(digest.clone())
            )
        );
        let pinned = Reference::parse(&format!("gcr.io/distroless/base@{digest}")).expect("valid");
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.manifest_key(), digest);
        assert!(!pinned.is_local());
        let local = Reference::parse("localhost:5000/x").expect("valid");
        assert!(local.is_local());
        assert_eq!(local.manifest_key(), "latest");
        assert_eq!(local.to_string(), "localhost:5000/x:latest");
    }

    #[test]
    fn refuses_bad_references() {
        for text in [
            "",
            "UPPER/case",
            "host.io/repo:bad tag",
            "repo@sha256:12",
            "host.io/",
        ] {
            assert!(Reference::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn local_sources() {
        assert_eq!(
            ImageSource::parse("oci-layout:/tmp/base:v2").expect("valid"),
            ImageSource::Layout {
                path: "/tmp/base".into(),
                tag: Some("v2".into())
            }
        );
        assert_eq!(
            ImageSource::parse("oci-layout:dir/base").expect("valid"),
            ImageSource::Layout {
                path: "dir/base".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageSource::parse("oci-archive:b.tar").expect("valid"),
            ImageSource::Archive {
                path: "b.tar".into()
            }
        );
        assert!(ImageSource::parse("oci-archive:").is_err());
    }
}
