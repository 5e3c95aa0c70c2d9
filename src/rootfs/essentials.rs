//! What distroless adds around the packages, written by debless instead of maintainer
//! scripts (debian-notes §7.3, §7.4): accounts, `/etc/os-release` when base-files is absent,
//! `/etc/nsswitch.conf`, the time zone links and the CA bundle.
//!
//! Every generated path is owned by root, carries the image epoch as mtime, has no owning
//! package (`Node::owner == None`, so it lands in the bottom layer) and depends only on the
//! tree and the options: the same inputs give the same bytes. When a package ships a file
//! debless generates (`/etc/passwd`, `/etc/group`), the generated one wins and a notice says
//! which package's file it replaced; files that packages normally ship (os-release,
//! nsswitch.conf) are generated only when absent.

use super::Rootfs;
use super::accounts::{Accounts, AccountsError};
use super::tree::{Node, NodeKind, PathProblem, Tree, split_parent};

/// Where update-ca-certificates reads the packaged certificates.
const CA_SOURCE_DIR: &str = "usr/share/ca-certificates";
/// Local certificates, appended after the packaged ones.
const CA_LOCAL_DIR: &str = "usr/local/share/ca-certificates";
/// The bundle every TLS library finds.
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
/// Where tzdata keeps the zone files.
const ZONEINFO: &str = "usr/share/zoneinfo";

/// distroless' `static/nsswitch.conf` directives (`compat` for the account databases, as
/// distroless ships), written when no package ships `/etc/nsswitch.conf`.
pub const NSSWITCH_CONF: &str = "# /etc/nsswitch.conf, written by debless (as distroless' static image)\n\
\n\
passwd:         compat\n\
group:          compat\n\
shadow:         compat\n\
gshadow:        files\n\
\n\
hosts:          files dns\n\
networks:       files\n\
\n\
protocols:      db files\n\
services:       db files\n\
ethers:         db files\n\
rpc:            db files\n\
\n\
netgroup:       nis\n";

/// What to generate.
#[derive(Clone, Debug, Default)]
pub struct Essentials {
    /// The accounts to write; `None` writes no passwd, group or home directories.
    pub accounts: Option<Accounts>,
    /// Zone for `/etc/localtime`; `None` means `UTC` when tzdata is among the packages.
    pub timezone: Option<String>,
    /// Codename of the locked suite (`bookworm`), for a generated `/etc/os-release`.
    pub codename: Option<String>,
    /// mtime of every generated path (the image epoch).
    pub mtime: i64,
    /// `[image] extra-ca-certs`, appended to the CA bundle (written even without
    /// ca-certificates, then holding only these).
    pub extra_ca: Vec<super::ca::ExtraCa>,
}

/// Why the essentials cannot be added; each names the path or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum EssentialsError {
    /// A generated path cannot be placed (a package put a file where a directory goes, …).
    #[error("cannot write `/{path}`: {problem}")]
    Path { path: String, problem: PathProblem },
    /// A package ships something else than a directory where one is needed.
    #[error(
        "`/{path}` is shipped by `{package}` as a non-directory; debless needs a directory there"
    )]
    NotADirectory { path: String, package: String },
    /// A package ships a directory where debless writes a file.
    #[error("`/{path}` is shipped by `{package}` as a directory; debless writes a file there")]
    IsADirectory { path: String, package: String },
    /// The configured zone has no file in the tree.
    #[error("`[image] timezone = \"{zone}\"`: `/{path}` is not in the image{why}")]
    UnknownZone {
        zone: String,
        path: String,
        why: &'static str,
    },
    /// The accounts are inconsistent.
    #[error(transparent)]
    Accounts(#[from] AccountsError),
}

/// A minimal `/etc/os-release`: enough for syft's and trivy's `ID=debian` + `VERSION_ID`
/// purls (debian-notes §8). No URLs, so nothing points at a particular host.
pub fn os_release(codename: Option<&str>) -> String {
    let version = codename.and_then(crate::debian::release::number);
    let mut text = String::new();
    match (version, codename) {
        (Some(v), Some(c)) => {
            text.push_str(&format!("PRETTY_NAME=\"Debian GNU/Linux {v} ({c})\"\n"))
        }
        _ => text.push_str("PRETTY_NAME=\"Debian GNU/Linux\"\n"),
    }
    text.push_str("NAME=\"Debian GNU/Linux\"\n");
    if let (Some(v), Some(c)) = (version, codename) {
        text.push_str(&format!("VERSION_ID=\"{v}\"\nVERSION=\"{v} ({c})\"\n"));
    }
    // Only real codenames: a custom archive's suite name (`stable-local`) is not one.
    if let Some(c) = codename.filter(|c| version.is_some() || *c == "sid") {
        text.push_str(&format!("VERSION_CODENAME={c}\n"));
    }
    text.push_str("ID=debian\n");
    text
}

impl Rootfs {
    /// Adds the generated files; returns notices (files of packages that were replaced).
    pub fn add_essentials(&mut self, opts: &Essentials) -> Result<Vec<String>, EssentialsError> {
        let mut writer = Writer {
            tree: &mut self.tree,
            package_names: self.packages.iter().map(|p| p.name.clone()).collect(),
            mtime: opts.mtime,
            notices: Vec::new(),
        };
        let has_package = |name: &str| writer.package_names.iter().any(|p| p == name);
        let tzdata = has_package("tzdata");
        let ca_certificates = has_package("ca-certificates");

        if let Some(accounts) = &opts.accounts {
            writer.accounts(accounts)?;
        }
        writer.dir("tmp", 0o1777, 0, 0)?;
        if !writer.exists("etc/os-release")? {
            writer.file(
                "etc/os-release",
                os_release(opts.codename.as_deref()).into_bytes(),
                false,
            )?;
        }
        if !writer.exists("etc/nsswitch.conf")? {
            writer.file(
                "etc/nsswitch.conf",
                NSSWITCH_CONF.as_bytes().to_vec(),
                false,
            )?;
        }
        let zone = opts
            .timezone
            .clone()
            .or_else(|| tzdata.then(|| "UTC".to_owned()));
        match (&opts.timezone, zone) {
            (_, None) => {}
            // The default only applies when tzdata really ships the zone (a stripped or
            // synthetic tzdata may not); an explicit zone must exist.
            (None, Some(zone)) if !writer.zone_exists(&zone) => writer.notices.push(format!(
                "tzdata has no `/{ZONEINFO}/Etc/UTC`; no /etc/localtime written (set `[image] timezone`)"
            )),
            (_, Some(zone)) => writer.timezone(&zone, tzdata)?,
        }
        if ca_certificates || !opts.extra_ca.is_empty() {
            let bundle = if ca_certificates {
                ca_bundle(writer.tree)
            } else {
                Vec::new()
            };
            let bundle = super::ca::append_to_bundle(bundle, &opts.extra_ca);
            writer.file(CA_BUNDLE, bundle, true)?;
        }
        Ok(writer.notices)
    }
}

impl Rootfs {
    /// Adds a root-owned 0644 file that no package owns (an SBOM under `/usr/share/sbom`),
    /// creating its parent directories; a package's file at that path is replaced.
    pub fn add_generated_file(
        &mut self,
        path: &str,
        bytes: Vec<u8>,
        mtime: i64,
    ) -> Result<(), EssentialsError> {
        let mut writer = Writer {
            tree: &mut self.tree,
            package_names: self.packages.iter().map(|p| p.name.clone()).collect(),
            mtime,
            notices: Vec::new(),
        };
        writer.file(path, bytes, true)
    }
}

/// The concatenation update-ca-certificates writes: every `*.crt` under
/// /usr/share/ca-certificates in C byte order of its relative path (the order of the
/// `/etc/ca-certificates.conf` the postinst writes), then the local ones, each
/// newline-terminated.
pub fn ca_bundle(tree: &Tree) -> Vec<u8> {
    let mut bundle = Vec::new();
    for dir in [CA_SOURCE_DIR, CA_LOCAL_DIR] {
        let prefix = format!("{dir}/");
        // The tree is a BTreeMap: paths with one prefix come out in byte order of the rest.
        for (path, _) in tree
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".crt"))
        {
            let Some(bytes) = tree.file_bytes(path) else {
                continue;
            };
            bundle.extend_from_slice(&bytes);
            if !bytes.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
    }
    bundle
}

/// `UTC` is spelled `Etc/UTC`, like debconf's default; other names are used as given.
fn zone_file_name(zone: &str) -> &str {
    if zone == "UTC" { "Etc/UTC" } else { zone }
}

/// Places generated nodes, remembering what it replaced.
struct Writer<'a> {
    tree: &'a mut Tree,
    package_names: Vec<String>,
    mtime: i64,
    notices: Vec<String>,
}

impl Writer<'_> {
    fn path_error(path: &str) -> impl Fn(PathProblem) -> EssentialsError + '_ {
        move |problem| EssentialsError::Path {
            path: path.to_owned(),
            problem,
        }
    }

    /// Whether `path` (symlinks followed) names something in the tree.
    fn exists(&self, path: &str) -> Result<bool, EssentialsError> {
        let resolved = self
            .tree
            .resolve(path, true)
            .map_err(Self::path_error(path))?;
        Ok(self.tree.get(&resolved).is_some())
    }

    /// The resolved location of `path`, its parent directories created.
    fn place(&mut self, path: &str) -> Result<String, EssentialsError> {
        let (parent, name) = split_parent(path);
        let parent = self
            .tree
            .resolve(parent, true)
            .map_err(Self::path_error(path))?;
        self.tree
            .ensure_dirs(&parent, None, self.mtime)
            .map_err(Self::path_error(path))?;
        Ok(if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}/{name}")
        })
    }

    fn package_name(&self, node: &Node) -> String {
        node.owner
            .and_then(|id| self.package_names.get(id).cloned())
            .unwrap_or_else(|| "debless".to_owned())
    }

    /// Writes a root-owned file; with `replace_silently` false a package's file there is
    /// replaced with a notice.
    fn file(
        &mut self,
        path: &str,
        bytes: Vec<u8>,
        replace_silently: bool,
    ) -> Result<(), EssentialsError> {
        let at = self.place(path)?;
        if let Some(old) = self.tree.get(&at) {
            if old.is_dir() {
                return Err(EssentialsError::IsADirectory {
                    package: self.package_name(old),
                    path: at,
                });
            }
            if !replace_silently && old.owner.is_some() {
                self.notices.push(format!(
                    "`/{at}` of package `{}` replaced by the file debless generates",
                    self.package_name(old)
                ));
            }
        }
        self.tree.insert(
            at,
            Node {
                kind: NodeKind::File(bytes.into()),
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: self.mtime,
                owner: None,
            },
        );
        Ok(())
    }

    /// Makes `path` a directory with these attributes; a package's directory keeps its
    /// owner (layer) and takes the attributes.
    fn dir(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> Result<(), EssentialsError> {
        let at = self.place(path)?;
        let at = self
            .tree
            .resolve(&at, true)
            .map_err(Self::path_error(path))?;
        let mtime = self.mtime;
        match self.tree.get(&at) {
            Some(node) if !node.is_dir() => {
                return Err(EssentialsError::NotADirectory {
                    package: self.package_name(node),
                    path: at,
                });
            }
            Some(_) => {}
            None => self
                .tree
                .insert(at.clone(), Node::implicit_dir(None, mtime)),
        }
        let node = self.tree.get_mut(&at).expect("inserted or present above");
        node.mode = mode;
        node.uid = u64::from(uid);
        node.gid = u64::from(gid);
        Ok(())
    }

    fn accounts(&mut self, accounts: &Accounts) -> Result<(), EssentialsError> {
        self.file("etc/passwd", accounts.passwd().into_bytes(), false)?;
        self.file("etc/group", accounts.group().into_bytes(), false)?;
        for user in accounts.users() {
            let home = user.home.trim_start_matches('/');
            if user.home == "/nonexistent" || home.is_empty() {
                continue;
            }
            // Parents of a home (`/home`) are root's and world-readable.
            if let Some((parent, _)) = home.rsplit_once('/') {
                self.dir(parent, 0o755, 0, 0)?;
            }
            self.dir(home, 0o700, user.uid, user.gid)?;
        }
        Ok(())
    }

    /// Whether the tree has a zone file for `zone`.
    fn zone_exists(&self, zone: &str) -> bool {
        self.tree
            .file_bytes(&format!("{ZONEINFO}/{}", zone_file_name(zone)))
            .is_some()
    }

    /// `/etc/localtime -> /usr/share/zoneinfo/<zone>` and `/etc/timezone`, as tzdata's
    /// postinst writes them; `UTC` is spelled `Etc/UTC` like debconf's default.
    fn timezone(&mut self, zone: &str, tzdata: bool) -> Result<(), EssentialsError> {
        let name = zone_file_name(zone);
        let zone_path = format!("{ZONEINFO}/{name}");
        if self.tree.file_bytes(&zone_path).is_none() {
            return Err(EssentialsError::UnknownZone {
                zone: zone.to_owned(),
                path: zone_path,
                why: if tzdata {
                    ""
                } else {
                    " (add `tzdata` to `packages`)"
                },
            });
        }
        let at = self.place("etc/localtime")?;
        if let Some(old) = self.tree.get(&at)
            && old.is_dir()
        {
            return Err(EssentialsError::NotADirectory {
                package: self.package_name(old),
                path: at,
            });
        }
        self.tree.insert(
            at,
            Node {
                kind: NodeKind::Symlink(format!("/{zone_path}")),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: self.mtime,
                owner: None,
            },
        );
        self.file("etc/timezone", format!("{name}\n").into_bytes(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_names_the_release() {
        let text = os_release(Some("bookworm"));
        assert!(text.contains("ID=debian\n"));
        assert!(text.contains("VERSION_ID=\"12\"\n"));
        assert!(text.contains("VERSION_CODENAME=bookworm\n"));
        let trixie = os_release(Some("trixie"));
        assert!(trixie.contains("VERSION_ID=\"13\"\n"));
        let sid = os_release(Some("sid"));
        assert!(!sid.contains("VERSION_ID") && sid.contains("VERSION_CODENAME=sid"));
        assert!(!os_release(None).contains("VERSION"));
        assert!(!os_release(Some("stable-local")).contains("VERSION"));
    }

    #[test]
    fn bundle_is_in_byte_order_and_newline_terminated() {
        let mut tree = Tree::default();
        let file = |bytes: &[u8]| Node {
            kind: NodeKind::File(bytes.into()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            owner: Some(0),
        };
        tree.insert(format!("{CA_SOURCE_DIR}/mozilla/b.crt"), file(b"B"));
        tree.insert(format!("{CA_SOURCE_DIR}/mozilla/A.crt"), file(b"A\n"));
        tree.insert(format!("{CA_SOURCE_DIR}/mozilla/README"), file(b"no"));
        tree.insert(format!("{CA_LOCAL_DIR}/corp.crt"), file(b"L"));
        assert_eq!(ca_bundle(&tree), b"A\nB\nL\n");
    }
}
