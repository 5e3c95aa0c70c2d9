//! Registries for the tests: the real one (`docker-registry`, Debian's package of the
//! distribution registry) on 127.0.0.1, plain or with the TLS and auth settings a test passes
//! to [`start_with`], and tiny in-process fakes that misbehave on purpose.
//!
//! `cargo xtask test` starts one registry for the whole run and passes its address in
//! `DEBLESS_TEST_REGISTRY`. Without it, [`registry`] starts a private one when the
//! `docker-registry` binary is installed, and otherwise returns `None` after printing why the
//! test skips, so plain `cargo test` still passes.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The variable `cargo xtask test` sets to `127.0.0.1:PORT`.
pub const REGISTRY_ENV: &str = "DEBLESS_TEST_REGISTRY";

/// A registry the test may push to; a private one is stopped when dropped.
pub struct TestRegistry {
    /// `127.0.0.1:PORT`.
    pub address: String,
    child: Option<Child>,
    _storage: Option<tempfile::TempDir>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The shared registry, a private one, or `None` (with a printed reason) when neither exists.
pub fn registry() -> Option<TestRegistry> {
    if super::no_live() {
        eprintln!("skipping registry test: {} is set", super::NO_LIVE_ENV);
        return None;
    }
    if let Ok(address) = std::env::var(REGISTRY_ENV)
        && !address.is_empty()
    {
        return Some(TestRegistry {
            address,
            child: None,
            _storage: None,
        });
    }
    let Some(binary) = binary() else {
        eprintln!(
            "skipping registry test: {REGISTRY_ENV} is unset and docker-registry is not installed (`cargo xtask test` installs it)"
        );
        return None;
    };
    match start(binary) {
        Ok(registry) => Some(registry),
        Err(why) => {
            eprintln!("skipping registry test: cannot start docker-registry: {why}");
            None
        }
    }
}

/// The installed `docker-registry` binary, if any.
pub fn binary() -> Option<&'static str> {
    ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
}

/// Starts `docker-registry serve` on a free port with temporary storage; waits until `/v2/`
/// answers.
pub fn start(binary: &str) -> Result<TestRegistry, String> {
    let registry = start_with(binary, "", "")?;
    for _ in 0..100 {
        let ready = reqwest::blocking::get(format!("http://{}/v2/", registry.address))
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(registry);
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{} did not answer within 10 s", registry.address))
}

/// Starts `docker-registry serve` on a free port with temporary storage, `http_extra` added
/// under `http:` and `top_extra` at the top of its config (both YAML, indented as they go);
/// waits until the port accepts connections.
pub fn start_with(binary: &str, http_extra: &str, top_extra: &str) -> Result<TestRegistry, String> {
    let storage = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let address = format!("127.0.0.1:{port}");
    let config = storage.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n{http_extra}{top_extra}",
            storage.path().join("data").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .args(["serve"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let registry = TestRegistry {
        address,
        child: Some(child),
        _storage: Some(storage),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(&registry.address).is_ok() {
            return Ok(registry);
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{} did not listen within 10 s", registry.address))
}

/// One canned answer of a fake registry.
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a fake registry is asked.
pub struct Asked<'a> {
    pub url: &'a str,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
}

/// An in-process registry answering every request with `answer`; returns its address.
pub fn fake_registry(answer: impl Fn(&Asked<'_>) -> Canned + Send + Sync + 'static) -> String {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind a fake registry"));
    let address = server
        .server_addr()
        .to_ip()
        .expect("an IP address")
        .to_string();
    thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut sink = Vec::new();
            let _ = request.as_reader().read_to_end(&mut sink);
            let authorization = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_owned());
            let canned = answer(&Asked {
                url: request.url(),
                authorization,
            });
            let mut response =
                tiny_http::Response::from_data(canned.body).with_status_code(canned.status);
            for (name, value) in canned.headers {
                response.add_header(
                    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                        .expect("a valid header"),
                );
            }
            let _ = request.respond(response);
        }
    });
    address
}
