//! A small blocking client for the OCI distribution API (GET/HEAD/PUT manifests, blobs,
//! monolithic uploads, cross-repository mounts), over the `reqwest` client configuration every
//! debless fetcher shares ([`crate::net`]). Every byte read is checked against the digest
//! that named it.
//!
//! Why not the `oci-client` crate: it is async (tokio) and heavy to compile, and debless
//! needs only these few calls, blocking, with its own errors.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use sha2::{Digest as _, Sha256};

use super::RegistryError;
use super::auth::{Challenge, Credentials, RegistryAuth};
use super::reference::Reference;
use crate::net::{ConfiguredClient, HttpConfig};
use crate::oci::Digest;

/// Media types of manifests and indices, OCI and Docker, in the order debless prefers.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index as the registry sent it, with its verified digest.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// A connection to one registry, keeping the last token it was given.
pub struct RegistryClient {
    http: ConfiguredClient,
    /// `https://host[:port]`, or `http://…` for a local registry that speaks no TLS; decided
    /// on the first request ([`RegistryClient::base`]).
    base_url: OnceLock<String>,
    api_host: String,
    local: bool,
    registry: String,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

impl RegistryClient {
    /// A client for the registry of `reference`, with its credentials if `auth` has some,
    /// built from the configuration every debless fetcher shares (`net`): the host's CA
    /// store plus the CA files trusted for this registry.
    pub fn new(
        reference: &Reference,
        auth: &RegistryAuth,
        config: &HttpConfig,
    ) -> Result<Self, RegistryError> {
        let http = config.registry_client(
            &reference.registry,
            Duration::from_secs(15),
            Duration::from_secs(600),
        )?;
        Ok(Self {
            http,
            base_url: OnceLock::new(),
            api_host: reference.api_host().to_owned(),
            local: reference.is_local(),
            registry: reference.registry.clone(),
            credentials: auth.credentials_for(&reference.registry),
            authorization: Mutex::new(None),
        })
    }

    /// The registry's root URL. A registry on this machine may speak TLS or not: HTTPS is
    /// tried first, as docker does for loopback registries, and plain HTTP only when the
    /// server does not speak TLS at all, never after a certificate failure.
    fn base(&self) -> Result<&str, RegistryError> {
        if let Some(base) = self.base_url.get() {
            return Ok(base);
        }
        let https = format!("https://{}", self.api_host);
        let base = if self.local {
            let probe = format!("{https}/v2/");
            match self.http.client.get(&probe).send() {
                Ok(_) => https,
                Err(err) => {
                    if let Some(untrusted) = self.http.untrusted(&probe, &err) {
                        return Err(untrusted.into());
                    }
                    format!("http://{}", self.api_host)
                }
            }
        } else {
            https
        };
        Ok(self.base_url.get_or_init(|| base))
    }

    fn url(&self, repository: &str, tail: &str) -> Result<String, RegistryError> {
        Ok(format!("{}/v2/{repository}/{tail}", self.base()?))
    }

    /// A failed request as an error naming `url` once: an untrusted certificate with the CA
    /// store in effect, anything else with its causes.
    fn transport(&self, url: &str, err: &reqwest::Error) -> RegistryError {
        match self.http.untrusted(url, err) {
            Some(untrusted) => untrusted.into(),
            None => RegistryError::Transport {
                url: url.to_owned(),
                message: crate::net::error_chain(err),
            },
        }
    }

    /// Sends a request, answering one authentication challenge if the registry asks.
    fn send(
        &self,
        repository: &str,
        url: &str,
        build: &dyn Fn(&Client) -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let transport = |err: reqwest::Error| self.transport(url, &err);
        let with_auth = |request: RequestBuilder| {
            let header = self
                .authorization
                .lock()
                .expect("no thread panics holding the token")
                .clone();
            match header {
                Some(value) => request.header(AUTHORIZATION, value),
                None => request,
            }
        };
        let response = with_auth(build(&self.http.client)?)
            .send()
            .map_err(transport)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse);
        let header = match challenge {
            Some(Challenge::Basic) => match &self.credentials {
                Some(creds) => basic_header(creds),
                None => return Err(self.unauthorized(repository)),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => self.token(repository, &realm, service.as_deref(), scope.as_deref())?,
            None => return Err(self.unauthorized(repository)),
        };
        *self
            .authorization
            .lock()
            .expect("no thread panics holding the token") = Some(header);
        let response = with_auth(build(&self.http.client)?)
            .send()
            .map_err(transport)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(repository));
        }
        Ok(response)
    }

    fn unauthorized(&self, repository: &str) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            repository: repository.to_owned(),
            had_credentials: self.credentials.is_some(),
        }
    }

    /// Fetches a bearer token from `realm` (with basic credentials when configured).
    fn token(
        &self,
        repository: &str,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, RegistryError> {
        let mut request = self.http.client.get(realm);
        if let Some(service) = service {
            request = request.query(&[("service", service)]);
        }
        if let Some(scope) = scope {
            request = request.query(&[("scope", scope)]);
        }
        if let Some(creds) = &self.credentials {
            request = request.basic_auth(&creds.username, Some(&creds.password));
        }
        let response = request.send().map_err(|err| self.transport(realm, &err))?;
        if response.status() == StatusCode::UNAUTHORIZED
            || response.status() == StatusCode::FORBIDDEN
        {
            return Err(self.unauthorized(repository));
        }
        let response = check_status(response, realm)?;
        let text = response.text().map_err(|err| self.transport(realm, &err))?;
        let body: serde_json::Value =
            serde_json::from_str(&text).map_err(|err| RegistryError::Transport {
                url: realm.to_owned(),
                message: format!("token answer is not JSON: {err}"),
            })?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| RegistryError::Transport {
                url: realm.to_owned(),
                message: "token answer has no `token`".to_owned(),
            })?;
        Ok(format!("Bearer {token}"))
    }

    /// `GET /v2/<repo>/manifests/<tag|digest>`; checks the digest when one was asked for.
    pub fn manifest(&self, reference: &Reference) -> Result<FetchedManifest, RegistryError> {
        let key = reference.manifest_key();
        let url = self.url(&reference.repository, &format!("manifests/{key}"))?;
        let response = self.send(&reference.repository, &url, &|http| {
            Ok(http.get(&url).header(ACCEPT, MANIFEST_ACCEPT))
        })?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                what: reference.to_string(),
            });
        }
        let response = check_status(response, &url)?;
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
            .unwrap_or_default();
        let bytes = response
            .bytes()
            .map_err(|err| self.transport(&url, &err))?
            .to_vec();
        let digest = Digest::of(&bytes).to_string();
        if let Some(expected) = &reference.digest
            && *expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: url,
                expected: expected.clone(),
                actual: digest,
            });
        }
        // Some registries omit the type; the document names itself.
        let media_type = if media_type.is_empty() || media_type == "application/json" {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
                .unwrap_or(media_type)
        } else {
            media_type
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Streams blob `digest` of `repository` into `out`, failing (after the whole body) when
    /// the bytes do not hash to `digest`.
    pub fn blob_into(
        &self,
        repository: &str,
        digest: &str,
        out: &mut dyn Write,
    ) -> Result<u64, RegistryError> {
        let url = self.url(repository, &format!("blobs/{digest}"))?;
        let response = self.send(repository, &url, &|http| Ok(http.get(&url)))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                what: format!("{}/{repository}@{digest}", self.registry),
            });
        }
        let mut response = check_status(response, &url)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            let read = response
                .read(&mut buffer)
                .map_err(|err| RegistryError::Transport {
                    url: url.clone(),
                    message: err.to_string(),
                })?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            out.write_all(&buffer[..read])
                .map_err(|source| RegistryError::Write {
                    what: digest.to_owned(),
                    source,
                })?;
            total += read as u64;
        }
        let actual = Digest::from_sha256(hasher).to_string();
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: url,
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(total)
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: whether the registry already has the blob.
    pub fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(repository, &format!("blobs/{digest}"))?;
        let response = self.send(repository, &url, &|http| Ok(http.head(&url)))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            status if status.is_success() => Ok(true),
            _ => check_status(response, &url).map(|_| false),
        }
    }

    /// Asks the registry to link a blob it has in repository `from` into `repository`;
    /// `false` when it would rather receive the bytes.
    pub fn mount_blob(
        &self,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let url = self.url(repository, "blobs/uploads/")?;
        let response = self.send(repository, &url, &|http| {
            Ok(http.post(&url).query(&[("mount", digest), ("from", from)]))
        })?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// Uploads the file at `path` as blob `digest` (one POST, one PUT).
    pub fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        path: &Path,
    ) -> Result<(), RegistryError> {
        let url = self.url(repository, "blobs/uploads/")?;
        let response = self.send(repository, &url, &|http| Ok(http.post(&url)))?;
        let response = check_status(response, &url)?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Transport {
                url: url.clone(),
                message: "upload started without a Location".to_owned(),
            })?;
        let mut upload_url = if location.starts_with("http://") || location.starts_with("https://")
        {
            location.to_owned()
        } else {
            format!("{}{location}", self.base()?)
        };
        upload_url.push(if upload_url.contains('?') { '&' } else { '?' });
        upload_url.push_str("digest=");
        upload_url.push_str(digest);
        let size = fs_err::metadata(path)
            .map_err(|source| RegistryError::Write {
                what: path.display().to_string(),
                source,
            })?
            .len();
        let response = self.send(repository, &upload_url, &|http| {
            let file = std::fs::File::open(path).map_err(|source| RegistryError::Write {
                what: path.display().to_string(),
                source,
            })?;
            Ok(http
                .put(&upload_url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::blocking::Body::sized(file, size)))
        })?;
        check_status(response, &upload_url)?;
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<tag|digest>`; returns the digest the registry reports (or
    /// the bytes' own).
    pub fn put_manifest(
        &self,
        repository: &str,
        key: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<String, RegistryError> {
        let url = self.url(repository, &format!("manifests/{key}"))?;
        let response = self.send(repository, &url, &|http| {
            Ok(http
                .put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(bytes.to_vec()))
        })?;
        check_status(response, &url)?;
        Ok(Digest::of(bytes).to_string())
    }
}

fn basic_header(creds: &Credentials) -> String {
    let raw = format!("{}:{}", creds.username, creds.password);
    format!("Basic {}", super::auth::base64_encode(raw.as_bytes()))
}

/// Turns a non-success answer into an error carrying the registry's own message.
fn check_status(response: Response, url: &str) -> Result<Response, RegistryError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let first = v.get("errors")?.get(0)?;
            Some(format!(
                "{} {}",
                first.get("code")?.as_str()?,
                first.get("message").and_then(|m| m.as_str()).unwrap_or("")
            ))
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    Err(RegistryError::Status {
        url: url.to_owned(),
        status,
        message: message.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_failure_names_the_url_once() {
        // Bind then drop a listener: the port is closed for the duration of the test.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let reference = Reference::parse(&format!("127.0.0.1:{port}/app:v1")).expect("valid");
        let client =
            RegistryClient::new(&reference, &RegistryAuth::default(), &HttpConfig::default())
                .expect("client");
        let err = client
            .manifest(&reference)
            .expect_err("nothing listens")
            .to_string();
        // A local registry that speaks no TLS is tried over plain HTTP after HTTPS.
        let url = format!("http://127.0.0.1:{port}/v2/app/manifests/v1");
        assert!(err.starts_with(&format!("cannot reach `{url}`: ")), "{err}");
        assert_eq!(
            err.matches(&format!("127.0.0.1:{port}")).count(),
            1,
            "{err}"
        );
    }
}
