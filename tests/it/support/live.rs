//! The host's Debian mirror for live tests: found the way debless finds it, and probed once.
//! When it does not answer, live tests print why and return early (they pass as skipped).

use std::sync::OnceLock;
use std::time::Duration;

use debless::repo::{Http, Mirrors};

/// The mirror, if one is configured and answers; prints the reason to skip otherwise.
pub fn mirror() -> Option<&'static Mirrors> {
    static PROBE: OnceLock<Result<Mirrors, String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        let mirrors = Mirrors::discover().map_err(|e| e.to_string())?;
        let http = Http::with_timeouts(Duration::from_secs(5), Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        http.get(&format!("{}/dists/bookworm/Release", mirrors.debian))
            .map_err(|e| format!("the mirror does not answer: {e}"))?;
        Ok(mirrors)
    });
    match probe {
        Ok(mirrors) => Some(mirrors),
        Err(reason) => {
            eprintln!("skipping live test: {reason}");
            None
        }
    }
}
