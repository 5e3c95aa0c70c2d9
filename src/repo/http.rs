//! A small blocking HTTP client for mirrors: timeouts, a `debless/<version>` user agent, three
//! attempts with backoff for transient failures, 404 as its own error, and errors that name
//! the URL. Shared by `repo` (InRelease, indices) and `fetch` (.deb files); cloning is cheap
//! and a clone may be used from any thread (reqwest's blocking client is `Send + Sync`).
//! Built from [`HttpConfig`], the configuration every fetcher shares: one client for the
//! host's CA store, and one per server that a source's `ca` names (see [`crate::net`]).
//!
//! What is transient: connection failures, timeouts, 5xx statuses and bodies cut short. A
//! download cut short resumes with a `Range` request (or skips what was already written when
//! the server ignores the range), so [`Http::get_to`] never writes a byte twice.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Response;

use crate::net::{self, ConfiguredClient, HttpConfig};

/// How many times a transient failure is tried in all.
const ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled before the third.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// A mirror client (see the module doc).
#[derive(Clone, Debug)]
pub struct Http {
    /// For servers without CA files of their own.
    default: ConfiguredClient,
    /// For the servers a source's `ca` names, by `host:port` ([`net::authority`]).
    per_host: Arc<BTreeMap<String, ConfiguredClient>>,
    backoff: Duration,
}

/// Why a download failed; every variant names its URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot set up the HTTP client: {0}")]
    Tls(#[from] net::TlsError),
    /// A certificate the CA store in effect does not vouch for (never retried); kept as the
    /// source so the hint finds it.
    #[error("{0}")]
    Untrusted(#[from] net::UntrustedCertificate),
    #[error("`{url}` was not found (404)")]
    NotFound { url: String },
    #[error("`{url}` answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("`{url}`: {reason} (after {attempts} attempts)")]
    Transport {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("`{url}` is larger than the {limit} bytes expected")]
    TooLarge { url: String, limit: u64 },
    #[error("`{url}`: cannot write the download: {source}")]
    Write {
        url: String,
        #[source]
        source: std::io::Error,
    },
}

/// One attempt's failure: retried when transient.
enum Failure {
    Transient(String),
    Fatal(HttpError),
}

impl Http {
    /// A client with a 15 s connect timeout and a 60 s idle read timeout, trusting the
    /// host's default CA store.
    pub fn new() -> Result<Http, HttpError> {
        Http::from_config(&HttpConfig::default())
    }

    /// Like [`Http::new`], with the configuration every debless fetcher shares
    /// (`SSL_CERT_FILE`/`SSL_CERT_DIR` and the sources' own CA files).
    pub fn from_config(config: &HttpConfig) -> Result<Http, HttpError> {
        Http::configured(config, Duration::from_secs(15), Duration::from_secs(60))
    }

    /// A client with explicit timeouts (short ones let tests probe a mirror quickly).
    pub fn with_timeouts(connect: Duration, read: Duration) -> Result<Http, HttpError> {
        Http::configured(&HttpConfig::default(), connect, read)
    }

    fn configured(
        config: &HttpConfig,
        connect: Duration,
        read: Duration,
    ) -> Result<Http, HttpError> {
        Ok(Http {
            default: config.default_client(connect, read)?,
            per_host: Arc::new(config.host_clients(connect, read)?),
            backoff: FIRST_BACKOFF,
        })
    }

    /// The client for the server `url` names.
    fn client_for(&self, url: &str) -> &ConfiguredClient {
        net::authority(url)
            .and_then(|authority| self.per_host.get(&authority))
            .unwrap_or(&self.default)
    }

    /// The whole body of `url`.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        self.get_to(url, &mut body, None)?;
        Ok(body)
    }

    /// Streams the body of `url` into `out` and returns its length; fails with
    /// [`HttpError::TooLarge`] as soon as more than `max_bytes` arrive.
    pub fn get_to(
        &self,
        url: &str,
        out: &mut impl Write,
        max_bytes: Option<u64>,
    ) -> Result<u64, HttpError> {
        let mut written = 0u64;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                std::thread::sleep(self.backoff * 2u32.pow(attempt - 2));
            }
            match self.attempt(url, out, max_bytes, &mut written) {
                Ok(()) => return Ok(written),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Transient(reason)) => last = reason,
            }
        }
        Err(HttpError::Transport {
            url: url.to_owned(),
            reason: last,
            attempts: ATTEMPTS,
        })
    }

    fn attempt(
        &self,
        url: &str,
        out: &mut impl Write,
        max_bytes: Option<u64>,
        written: &mut u64,
    ) -> Result<(), Failure> {
        let client = self.client_for(url);
        let mut request = client.client.get(url);
        if *written > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={written}-"));
        }
        let response = request.send().map_err(|err| classify(url, &err, client))?;
        let status = response.status();
        // Bytes of this response that were already written by an earlier attempt.
        let skip = match status {
            StatusCode::PARTIAL_CONTENT if *written > 0 => 0,
            StatusCode::OK => *written,
            StatusCode::NOT_FOUND => {
                return Err(Failure::Fatal(HttpError::NotFound {
                    url: url.to_owned(),
                }));
            }
            status if status.is_server_error() => {
                return Err(Failure::Transient(format!("HTTP {}", status.as_u16())));
            }
            status => {
                return Err(Failure::Fatal(HttpError::Status {
                    url: url.to_owned(),
                    status: status.as_u16(),
                }));
            }
        };
        let announced = response.content_length().map(|len| len + *written - skip);
        let over_limit = announced
            .zip(max_bytes)
            .filter(|(total, limit)| total > limit);
        if let Some((_, limit)) = over_limit {
            return Err(Failure::Fatal(HttpError::TooLarge {
                url: url.to_owned(),
                limit,
            }));
        }
        copy_body(url, response, out, max_bytes, skip, written)?;
        if let Some(total) = announced.filter(|total| *written < *total) {
            return Err(Failure::Transient(format!(
                "body cut short at {written} of {total} bytes"
            )));
        }
        Ok(())
    }
}

fn copy_body(
    url: &str,
    mut response: Response,
    out: &mut impl Write,
    max_bytes: Option<u64>,
    mut skip: u64,
    written: &mut u64,
) -> Result<(), Failure> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match response.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Failure::Transient(format!("body cut short: {err}"))),
        };
        let mut chunk = &buffer[..read];
        let skipped = skip.min(chunk.len() as u64);
        chunk = &chunk[skipped as usize..];
        skip -= skipped;
        let total = *written + chunk.len() as u64;
        if let Some(limit) = max_bytes.filter(|limit| total > *limit) {
            return Err(Failure::Fatal(HttpError::TooLarge {
                url: url.to_owned(),
                limit,
            }));
        }
        out.write_all(chunk).map_err(|source| {
            Failure::Fatal(HttpError::Write {
                url: url.to_owned(),
                source,
            })
        })?;
        *written += chunk.len() as u64;
    }
}

fn classify(url: &str, err: &reqwest::Error, client: &ConfiguredClient) -> Failure {
    // Not transient: the same certificate fails the same way on every attempt.
    if let Some(untrusted) = client.untrusted(url, err) {
        return Failure::Fatal(HttpError::Untrusted(untrusted));
    }
    let chain = net::error_chain(err);
    if err.is_connect() || err.is_timeout() || err.is_request() || err.is_body() {
        Failure::Transient(chain)
    } else {
        Failure::Fatal(HttpError::Transport {
            url: url.to_owned(),
            reason: chain,
            attempts: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_shareable_across_threads() {
        fn assert_shareable<T: Clone + Send + Sync>() {}
        assert_shareable::<Http>();
    }

    #[test]
    fn connection_refused_is_retried_and_names_the_url() {
        // Bind then drop a listener: the port is closed for the duration of the test.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut http = Http::new().expect("client");
        http.backoff = Duration::from_millis(1);
        let url = format!("http://127.0.0.1:{port}/dists/x/InRelease");
        match http.get(&url) {
            Err(HttpError::Transport {
                url: u, attempts, ..
            }) => {
                assert_eq!(u, url);
                assert_eq!(attempts, ATTEMPTS);
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
    }

    /// Serves one canned raw response per connection, in order, and records each request.
    fn scripted_server(responses: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/file", listener.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    request.push_str(&line.to_ascii_lowercase());
                }
                requests.push(request);
                let _ = stream.write_all(&response);
            }
            requests
        });
        (url, server)
    }

    fn quick() -> Http {
        let mut http = Http::new().expect("client");
        http.backoff = Duration::from_millis(1);
        http
    }

    #[test]
    fn server_errors_are_retried() {
        let (url, server) = scripted_server(vec![
            b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec(),
        ]);
        assert_eq!(quick().get(&url).expect("second attempt"), b"hello");
        assert_eq!(server.join().expect("server").len(), 2);
    }

    #[test]
    fn a_body_cut_short_resumes_with_a_range_request() {
        let (url, server) = scripted_server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello".to_vec(),
            b"HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nConnection: close\r\n\r\nworld"
                .to_vec(),
        ]);
        let mut out = Vec::new();
        let written = quick().get_to(&url, &mut out, None).expect("resumed");
        assert_eq!((written, out.as_slice()), (10, &b"helloworld"[..]));
        let requests = server.join().expect("server");
        assert!(requests[1].contains("range: bytes=5-"), "{requests:?}");
    }

    #[test]
    fn a_resume_answered_in_full_skips_what_was_written() {
        let (url, server) = scripted_server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhelloworld"
                .to_vec(),
        ]);
        assert_eq!(quick().get(&url).expect("resumed"), b"helloworld");
        server.join().expect("server");
    }

    #[test]
    fn not_found_is_not_retried_and_limits_hold() {
        let (url, server) = scripted_server(vec![
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhelloworld"
                .to_vec(),
        ]);
        match quick().get(&url) {
            Err(HttpError::NotFound { url: u }) => assert_eq!(u, url),
            other => panic!("expected NotFound, got {other:?}"),
        }
        let err = quick()
            .get_to(&url, &mut Vec::new(), Some(4))
            .expect_err("over the limit");
        assert!(matches!(err, HttpError::TooLarge { limit: 4, .. }), "{err}");
        server.join().expect("server");
    }
}
