//! Registry credentials and the token dance of the distribution spec.
//!
//! Credentials come, first found wins, from an explicit user name and password
//! (`DEBLESS_REGISTRY_USERNAME` + `DEBLESS_REGISTRY_PASSWORD`), the file `REGISTRY_AUTH_FILE`
//! names (podman's variable), or `$DOCKER_CONFIG/config.json` else `~/.docker/config.json`
//! (`auths.<host>.auth`, base64 of `user:password`). The binary reads those variables once
//! (into its `Settings`) as a [`RegistryAuth`]; this module reads no environment. Credential
//! helpers (`credsStore`) are not run. Without credentials requests go anonymously, which is
//! what public registries such as gcr.io's distroless expect.
//!
//! A `401` carries `WWW-Authenticate`: `Bearer realm=…,service=…,scope=…` means "fetch a token
//! from the realm" (with basic credentials if we have some), `Basic` means "send them".

use std::path::PathBuf;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// What a `401` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Basic authentication.
    Basic,
    /// A bearer token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` for schemes debless does not speak.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut realm = None;
        let mut service = None;
        let mut scope = None;
        for (key, value) in auth_params(params) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "service" => service = Some(value),
                "scope" => scope = Some(value),
                _ => {}
            }
        }
        Some(Self::Bearer {
            realm: realm?,
            service,
            scope,
        })
    }
}

/// `key="value", key=value` pairs (quoted values may hold commas).
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_owned(), &quoted[end + 1..]),
                None => (quoted.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        pairs.push((key, value));
        rest = remainder.trim_start().trim_start_matches(',');
    }
    pairs
}

/// Where a registry's credentials come from: given outright, or looked up in auth files.
/// Built by the caller (the binary from its environment), so the registry code takes values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    /// Credentials for every registry (`DEBLESS_REGISTRY_USERNAME` + `_PASSWORD`).
    pub explicit: Option<Credentials>,
    /// docker/podman auth files to search, first match wins.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("explicit", &self.explicit)
            .field("files", &self.files)
            .finish()
    }
}

impl RegistryAuth {
    /// The sources the usual variables name: a user name with a password (both or neither
    /// count), `REGISTRY_AUTH_FILE`, then `$DOCKER_CONFIG/config.json` or, without
    /// `DOCKER_CONFIG`, `$HOME/.docker/config.json`.
    pub fn new(
        username: Option<String>,
        password: Option<String>,
        registry_auth_file: Option<PathBuf>,
        docker_config: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Self {
        let explicit = match (username, password) {
            (Some(username), Some(password)) => Some(Credentials { username, password }),
            _ => None,
        };
        let mut files = Vec::new();
        files.extend(registry_auth_file);
        if let Some(dir) = docker_config {
            files.push(dir.join("config.json"));
        } else if let Some(home) = home {
            files.push(home.join(".docker/config.json"));
        }
        RegistryAuth { explicit, files }
    }

    /// The credentials for `registry` (as written in references, e.g. `docker.io`), if any.
    pub fn credentials_for(&self, registry: &str) -> Option<Credentials> {
        if let Some(explicit) = &self.explicit {
            return Some(explicit.clone());
        }
        self.files
            .iter()
            .find_map(|path| from_auth_file(&fs_err::read_to_string(path).ok()?, registry))
    }
}

/// Reads `auths.<registry>.auth` from a docker/podman auth file.
pub fn from_auth_file(text: &str, registry: &str) -> Option<Credentials> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let auths = doc.get("auths")?.as_object()?;
    let keys: Vec<String> = if registry == "docker.io" {
        vec![
            "https://index.docker.io/v1/".into(),
            "docker.io".into(),
            "index.docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![
            registry.to_owned(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    };
    let entry = keys.iter().find_map(|key| auths.get(key))?;
    let decoded = base64_decode(entry.get("auth")?.as_str()?)?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// Standard base64 with padding: `config.json`'s `auth` and Basic authorization headers.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); `None` on a character outside the alphabet.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.trim().bytes().filter(|&b| b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).expect("masked to a byte"));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for text in ["", "a", "ab", "abc", "user:pa:ss"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).expect("valid"), text.as_bytes());
        }
        assert_eq!(base64_encode(b"hi"), "aGk=");
    }

    #[test]
    fn bearer_challenge() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#;
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn auth_file_entries() {
        // "user:pa:ss" in base64.
        let text = r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYTpzcw=="},"https://index.docker.io/v1/":{"auth":"aHViOmh1Yg=="}}}"#;
        let local = from_auth_file(text, "127.0.0.1:5000").expect("present");
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("user", "pa:ss")
        );
        let hub = from_auth_file(text, "docker.io").expect("present");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "hub")
        );
        assert!(from_auth_file(text, "gcr.io").is_none());
        assert_eq!(base64_decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("a*"), None);
    }

    #[test]
    fn sources_follow_the_variables_and_files_are_searched_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let podman = dir.path().join("auth.json");
        fs_err::write(&podman, r#"{"auths":{"a.test":{"auth":"cDpw"}}}"#).expect("write");
        let docker = dir.path().join("docker");
        fs_err::create_dir_all(&docker).expect("mkdir");
        fs_err::write(
            docker.join("config.json"),
            r#"{"auths":{"a.test":{"auth":"ZDpk"},"b.test":{"auth":"ZDpk"}}}"#,
        )
        .expect("write");
        let auth = RegistryAuth::new(
            None,
            None,
            Some(podman.clone()),
            Some(docker.clone()),
            Some(dir.path().join("home")),
        );
        assert_eq!(auth.files, [podman.clone(), docker.join("config.json")]);
        let user = |registry: &str| auth.credentials_for(registry).map(|c| c.username);
        assert_eq!(user("a.test").as_deref(), Some("p"), "podman's file first");
        assert_eq!(user("b.test").as_deref(), Some("d"));
        assert_eq!(user("c.test"), None);
        let home = RegistryAuth::new(None, None, None, None, Some(dir.path().into()));
        assert_eq!(home.files, [dir.path().join(".docker/config.json")]);
        let explicit =
            RegistryAuth::new(Some("u".into()), Some("s".into()), Some(podman), None, None);
        assert_eq!(
            explicit
                .credentials_for("a.test")
                .map(|c| c.username)
                .as_deref(),
            Some("u"),
            "an explicit user name and password win"
        );
        let half = RegistryAuth::new(Some("u".into()), None, None, None, None);
        assert_eq!(half.explicit, None, "a user name alone is not credentials");
        assert!(
            !format!("{explicit:?}").contains("\"s\""),
            "no password in Debug"
        );
    }
}
