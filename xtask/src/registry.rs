//! The registry `cargo xtask test` runs for the registry tests (issue #5): Debian's
//! `docker-registry` on 127.0.0.1, a free port, its own config and temporary storage; its
//! address goes to the tests in `DEBLESS_TEST_REGISTRY`, and it is stopped when dropped (also
//! when the tests fail).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// The variable the integration tests read.
pub const REGISTRY_ENV: &str = "DEBLESS_TEST_REGISTRY";

/// A running registry.
pub struct TestRegistry {
    pub address: String,
    child: Child,
    _storage: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts the registry; `None` (the tests then start their own or skip) when the binary
    /// is not installed.
    pub fn start() -> Result<Option<Self>> {
        let Some(binary) = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
        else {
            eprintln!("xtask: docker-registry is not installed; registry tests will skip");
            return Ok(None);
        };
        let storage = tempfile::tempdir().context("creating the registry's storage")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
                storage.path().join("data").display()
            ),
        )
        .context("writing the registry config")?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let registry = Self {
            address,
            child,
            _storage: storage,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.address).is_ok() {
                return Ok(Some(registry));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "docker-registry did not listen on {} within 10 s",
            registry.address
        )
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
