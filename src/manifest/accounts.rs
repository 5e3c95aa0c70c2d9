//! `[image] accounts`, `[[image.users]]` and `[[image.groups]]`: the accounts debless writes
//! into `/etc/passwd` and `/etc/group` (`rootfs::accounts`), validated.

use super::wire;

/// `[image] accounts`, `[[image.users]]`, `[[image.groups]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountsSetting {
    /// Whether debless writes the account files at all (default true).
    pub enabled: bool,
    /// Extra users, after distroless' root, nobody and nonroot.
    pub users: Vec<ImageUser>,
    /// Extra groups, after distroless' groups.
    pub groups: Vec<ImageGroup>,
}

impl Default for AccountsSetting {
    fn default() -> Self {
        Self {
            enabled: true,
            users: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// A validated `[[image.users]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUser {
    pub name: String,
    pub uid: u32,
    /// Primary group id (default: the uid).
    pub gid: u32,
    /// Absolute home directory (default `/home/<name>`).
    pub home: Option<String>,
}

/// A validated `[[image.groups]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageGroup {
    pub name: String,
    pub gid: u32,
}

/// Checks `[[image.users]]`/`[[image.groups]]`: account names as useradd accepts them
/// (`[a-z_][a-z0-9_-]*`, at most 32 bytes) and absolute, normal home paths.
pub(super) fn validate_accounts(
    enabled: Option<bool>,
    users: Vec<wire::UserWire>,
    groups: Vec<wire::GroupWire>,
) -> Result<AccountsSetting, String> {
    let enabled = enabled.unwrap_or(true);
    if !enabled && (!users.is_empty() || !groups.is_empty()) {
        return Err("`image.users`/`image.groups` need `image.accounts` (it is false)".into());
    }
    let check_name = |what: &str, name: &str| {
        let mut bytes = name.bytes();
        let ok = name.len() <= 32
            && bytes
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && bytes
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`image.{what}`: `{name}` is not an account name (lower-case letters, digits, `_`, `-`)"
            ))
        }
    };
    let mut out = AccountsSetting {
        enabled,
        ..AccountsSetting::default()
    };
    for group in groups {
        check_name("groups", &group.name)?;
        out.groups.push(ImageGroup {
            name: group.name,
            gid: group.gid,
        });
    }
    for user in users {
        check_name("users", &user.name)?;
        if let Some(home) = &user.home
            && (!home.starts_with('/')
                || home.len() < 2
                || home.ends_with('/')
                || home
                    .split('/')
                    .skip(1)
                    .any(|c| c.is_empty() || c == "." || c == ".."))
        {
            return Err(format!(
                "`image.users`: home `{home}` of `{}` must be an absolute path without `.`, `..` or a trailing `/`",
                user.name
            ));
        }
        out.users.push(ImageUser {
            gid: user.gid.unwrap_or(user.uid),
            name: user.name,
            uid: user.uid,
            home: user.home,
        });
    }
    Ok(out)
}
