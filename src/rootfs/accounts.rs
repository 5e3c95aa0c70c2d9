//! The image's user database: `/etc/passwd` and `/etc/group` as distroless writes them
//! (debian-notes §7.4), plus the users and groups the manifest adds, and the resolution of
//! `[image] user` names to the numeric ids a runtime needs.
//!
//! No maintainer script runs, so base-passwd's preinst never writes its 18 users; distroless
//! replaces them with three (root, nobody, nonroot) and the shell `/sbin/nologin`, which does
//! not exist in the image on purpose. There is no `/etc/shadow`: every password field is `x`
//! and no account can log in.

use std::collections::BTreeSet;

use crate::manifest::{ImageGroup, ImageUser};

/// The shell of every account: absent from the image, so no account has a login shell.
pub const NOLOGIN: &str = "/sbin/nologin";

/// uid and gid of distroless' `nonroot`.
pub const NONROOT_ID: u32 = 65532;

/// uid and gid of `nobody`.
pub const NOBODY_ID: u32 = 65534;

/// One `/etc/passwd` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (absolute); created 0700 and owned by the user unless `/nonexistent`.
    pub home: String,
}

/// One `/etc/group` line (no members).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Numeric group id.
    pub gid: u32,
}

/// Why the accounts or the image user are unusable; each names the culprit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountsError {
    /// Two accounts share a name or an id.
    #[error("{what} `{name}` clashes with {existing}")]
    Clash {
        what: &'static str,
        name: String,
        existing: String,
    },
    /// `[image] user` names an account that does not exist.
    #[error("`[image] user`: no {what} named `{name}` (known: {known})")]
    UnknownName {
        what: &'static str,
        name: String,
        known: String,
    },
    /// `[image] user` uses a name while accounts are off.
    #[error(
        "`[image] user = \"{spec}\"` needs a name lookup but `[image] accounts = false`; use numeric ids such as \"65532:65532\""
    )]
    NoAccounts { spec: String },
}

/// The users and groups of an image, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounts {
    users: Vec<User>,
    groups: Vec<Group>,
}

impl Accounts {
    /// distroless' accounts: root, nobody, nonroot and the groups root, nobody, tty, staff,
    /// nonroot (rules_distroless `passwd`/`group` as used by distroless' base images).
    pub fn distroless() -> Self {
        let user = |name: &str, id: u32, home: &str| User {
            name: name.into(),
            uid: id,
            gid: id,
            home: home.into(),
        };
        let group = |name: &str, gid: u32| Group {
            name: name.into(),
            gid,
        };
        Self {
            users: vec![
                user("root", 0, "/root"),
                user("nobody", NOBODY_ID, "/nonexistent"),
                user("nonroot", NONROOT_ID, "/home/nonroot"),
            ],
            groups: vec![
                group("root", 0),
                group("nobody", NOBODY_ID),
                group("tty", 5),
                group("staff", 50),
                group("nonroot", NONROOT_ID),
            ],
        }
    }

    /// distroless' accounts followed by the manifest's, refusing a name or id used twice.
    pub fn with_manifest(
        users: &[ImageUser],
        groups: &[ImageGroup],
    ) -> Result<Self, AccountsError> {
        let mut accounts = Self::distroless();
        for group in groups {
            if let Some(existing) = accounts
                .groups
                .iter()
                .find(|g| g.name == group.name || g.gid == group.gid)
            {
                return Err(AccountsError::Clash {
                    what: "group",
                    name: group.name.clone(),
                    existing: format!("group `{}` ({})", existing.name, existing.gid),
                });
            }
            accounts.groups.push(Group {
                name: group.name.clone(),
                gid: group.gid,
            });
        }
        for user in users {
            if let Some(existing) = accounts
                .users
                .iter()
                .find(|u| u.name == user.name || u.uid == user.uid)
            {
                return Err(AccountsError::Clash {
                    what: "user",
                    name: user.name.clone(),
                    existing: format!("user `{}` ({})", existing.name, existing.uid),
                });
            }
            accounts.users.push(User {
                name: user.name.clone(),
                uid: user.uid,
                gid: user.gid,
                home: user
                    .home
                    .clone()
                    .unwrap_or_else(|| format!("/home/{}", user.name)),
            });
        }
        Ok(accounts)
    }

    /// The users in file order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The groups in file order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// `/etc/passwd`: `name:x:uid:gid:name:home:/sbin/nologin` per user.
    pub fn passwd(&self) -> String {
        self.users
            .iter()
            .map(|u| {
                format!(
                    "{0}:x:{1}:{2}:{0}:{3}:{NOLOGIN}\n",
                    u.name, u.uid, u.gid, u.home
                )
            })
            .collect()
    }

    /// `/etc/group`: `name:x:gid:` per group.
    pub fn group(&self) -> String {
        self.groups
            .iter()
            .map(|g| format!("{}:x:{}:\n", g.name, g.gid))
            .collect()
    }

    /// Turns `[image] user` (`name`, `uid`, `name:group`, `uid:gid`, mixed) into the numeric
    /// form runtimes need without reading the image's passwd: `nonroot` -> `65532`.
    pub fn resolve_user(accounts: Option<&Self>, spec: &str) -> Result<String, AccountsError> {
        let (user, group) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec, None),
        };
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let needs_lookup = !numeric(user) || group.is_some_and(|g| !numeric(g));
        let Some(accounts) = accounts.filter(|_| needs_lookup) else {
            return if needs_lookup {
                Err(AccountsError::NoAccounts { spec: spec.into() })
            } else {
                Ok(spec.into())
            };
        };
        let uid = if numeric(user) {
            user.to_owned()
        } else {
            let found = accounts.users.iter().find(|u| u.name == user);
            let Some(found) = found else {
                return Err(AccountsError::UnknownName {
                    what: "user",
                    name: user.into(),
                    known: names(accounts.users.iter().map(|u| u.name.as_str())),
                });
            };
            found.uid.to_string()
        };
        let Some(group) = group else {
            return Ok(uid);
        };
        let gid = if numeric(group) {
            group.to_owned()
        } else {
            let found = accounts.groups.iter().find(|g| g.name == group);
            let Some(found) = found else {
                return Err(AccountsError::UnknownName {
                    what: "group",
                    name: group.into(),
                    known: names(accounts.groups.iter().map(|g| g.name.as_str())),
                });
            };
            found.gid.to_string()
        };
        Ok(format!("{uid}:{gid}"))
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distroless_files_match_distroless() {
        let accounts = Accounts::distroless();
        assert_eq!(
            accounts.passwd(),
            "root:x:0:0:root:/root:/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
             nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
        );
        assert_eq!(
            accounts.group(),
            "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
        );
    }

    #[test]
    fn manifest_accounts_follow_and_may_not_clash() {
        let app = ImageUser {
            name: "app".into(),
            uid: 1000,
            gid: 1000,
            home: None,
        };
        let group = ImageGroup {
            name: "app".into(),
            gid: 1000,
        };
        let accounts =
            Accounts::with_manifest(std::slice::from_ref(&app), std::slice::from_ref(&group))
                .expect("no clash");
        assert!(
            accounts
                .passwd()
                .ends_with("app:x:1000:1000:app:/home/app:/sbin/nologin\n")
        );
        assert!(accounts.group().ends_with("app:x:1000:\n"));

        let clash = ImageUser {
            uid: NONROOT_ID,
            ..app
        };
        let err = Accounts::with_manifest(&[clash], &[]).expect_err("uid taken");
        assert!(err.to_string().contains("`nonroot`"), "{err}");
        let err = Accounts::with_manifest(
            &[],
            &[ImageGroup {
                name: "staff".into(),
                gid: 7,
            }],
        )
        .expect_err("name taken");
        assert!(err.to_string().contains("staff"), "{err}");
    }

    #[test]
    fn resolves_user_names_to_ids() {
        let accounts = Accounts::distroless();
        let resolve = |spec| Accounts::resolve_user(Some(&accounts), spec);
        assert_eq!(resolve("nonroot").as_deref(), Ok("65532"));
        assert_eq!(resolve("nonroot:nonroot").as_deref(), Ok("65532:65532"));
        assert_eq!(resolve("nobody:tty").as_deref(), Ok("65534:5"));
        assert_eq!(resolve("1234:staff").as_deref(), Ok("1234:50"));
        assert_eq!(resolve("1234").as_deref(), Ok("1234"));
        let err = resolve("nonrot").expect_err("unknown");
        assert!(err.to_string().contains("`nonrot`") && err.to_string().contains("nonroot"));
        assert!(resolve("root:wheel").is_err());
        assert_eq!(
            Accounts::resolve_user(None, "10:20").as_deref(),
            Ok("10:20")
        );
        assert!(matches!(
            Accounts::resolve_user(None, "nonroot"),
            Err(AccountsError::NoAccounts { .. })
        ));
    }
}
