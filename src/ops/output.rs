//! Where `build` writes: the `--output` image (an OCI layout directory or an archive file) and
//! the `--rootfs` tree, checked before anything is downloaded so a bad destination fails in a
//! second, naming the path as the user gave it.

use std::path::{Path, PathBuf};

use super::Error;

/// The container formats an image can be written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// An OCI image layout directory (`oci:DIR` for skopeo).
    #[default]
    Oci,
    /// The OCI layout as one tar file (`oci-archive:FILE`).
    OciArchive,
    /// A `docker load` tarball (`docker-archive:FILE`; one architecture).
    DockerArchive,
}

/// Where to write the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub path: PathBuf,
    pub format: OutputFormat,
}

/// Refuses destinations the build could not write: a missing or read-only parent directory,
/// an existing directory that is not an OCI layout, an existing file where a layout goes, an
/// existing archive without `force`, a non-empty `--rootfs` directory.
pub fn check_destinations(
    output: Option<&Output>,
    rootfs: Option<&Path>,
    force: bool,
) -> Result<(), Error> {
    if let Some(Output { path, format }) = output {
        check_parent("--output", path)?;
        let existing = std::fs::symlink_metadata(path).ok();
        match (format, existing) {
            (_, None) => {}
            (OutputFormat::Oci, Some(meta)) => {
                let layout =
                    meta.is_dir() && (path.join("oci-layout").is_file() || is_empty_dir(path));
                if !layout {
                    return Err(Error::input(
                        format!(
                            "--output `{}` exists and is not an OCI layout; refusing to replace it",
                            path.display()
                        ),
                        "name a new or empty directory, or one a previous `debless build --output` wrote",
                    ));
                }
            }
            (_, Some(meta)) if meta.is_dir() => {
                return Err(Error::input(
                    format!(
                        "--output `{}` is a directory; an archive is written as one file",
                        path.display()
                    ),
                    "name a file, or use `--format oci` for a layout directory",
                ));
            }
            (_, Some(_)) if !force => {
                return Err(Error::input(
                    format!("--output `{}` already exists", path.display()),
                    "pass --force to replace it, or name another file",
                ));
            }
            (_, Some(_)) => {}
        }
    }
    if let Some(dir) = rootfs {
        check_parent("--rootfs", dir)?;
        if dir.exists() && !is_empty_dir(dir) {
            return Err(Error::input(
                format!(
                    "--rootfs `{}` exists and is not an empty directory",
                    dir.display()
                ),
                "debless writes a rootfs only into a new or empty directory; remove it or name another",
            ));
        }
    }
    Ok(())
}

/// The directory `path` is created in must exist and take new files.
fn check_parent(flag: &str, path: &Path) -> Result<(), Error> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::input(
            format!(
                "{flag} `{}`: the directory `{}` does not exist",
                path.display(),
                parent.display()
            ),
            "create the directory first, or name a path in an existing one",
        ));
    }
    // Writing is the only reliable test (permissions, read-only mounts, ACLs, root).
    tempfile::Builder::new()
        .prefix(".debless-probe-")
        .tempfile_in(parent)
        .map_err(|err| {
            // The error names the probe file; say only why, under the user's path.
            let err = err.raw_os_error().map_or_else(
                || err.kind().to_string(),
                |code| std::io::Error::from_raw_os_error(code).to_string(),
            );
            Error::input(
                format!(
                    "{flag} `{}`: cannot create files in `{}`: {err}",
                    path.display(),
                    parent.display()
                ),
                "name a path in a directory you can write",
            )
        })?;
    Ok(())
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(path: PathBuf, format: OutputFormat) -> Output {
        Output { path, format }
    }

    #[test]
    fn refuses_bad_destinations_naming_the_given_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no/such/out");
        let err = check_destinations(
            Some(&output(missing.clone(), OutputFormat::Oci)),
            None,
            false,
        )
        .expect_err("missing parent");
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );

        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("write");
        let err = check_destinations(Some(&output(file.clone(), OutputFormat::Oci)), None, false)
            .expect_err("a file is no layout");
        assert!(err.to_string().contains("is not an OCI layout"), "{err}");
        let err = check_destinations(
            Some(&output(file.clone(), OutputFormat::OciArchive)),
            None,
            false,
        )
        .expect_err("an archive needs --force");
        assert!(err.hint().is_some_and(|h| h.contains("--force")));
        check_destinations(
            Some(&output(file.clone(), OutputFormat::OciArchive)),
            None,
            true,
        )
        .expect("--force replaces");

        std::fs::create_dir(dir.path().join("full")).expect("mkdir");
        std::fs::write(dir.path().join("full/x"), "x").expect("write");
        check_destinations(None, Some(&dir.path().join("full")), false).expect_err("not empty");
        check_destinations(
            Some(&output(dir.path().join("new"), OutputFormat::Oci)),
            Some(&dir.path().join("tree")),
            false,
        )
        .expect("new paths are fine");
    }
}
