//! Does the image's program exist? The entrypoint (or `cmd[0]` without one) must be a file
//! in the image, executable, and, for an ELF file, its program interpreter must be there too;
//! for a `#!` script, the interpreter the first line names. Otherwise `docker run` fails with
//! "exec: no such file or directory", long after the build said all was well.
//!
//! A name without `/` is looked up in the image's `PATH` the way runc does
//! (`exec.LookPath`: first executable file along `PATH`), a relative path from the working
//! directory.

use super::elf;
use super::view::ImageView;
use crate::rootfs::NodeKind;

/// The `PATH` an image without `PATH` in its environment gets (the OCI config's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the image's program cannot start; each names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntrypointError {
    /// Nothing at the path, or no file of that name along `PATH`.
    #[error("the image's program `{program}` is not in the image{searched}")]
    Missing { program: String, searched: String },
    /// The path is a directory or a dangling or looping link.
    #[error("the image's program `{program}` is not a regular file (`{path}` is {what})")]
    NotAFile {
        program: String,
        path: String,
        what: &'static str,
    },
    /// No execute bit.
    #[error("the image's program `{program}` (`{path}`, mode {mode:04o}) is not executable")]
    NotExecutable {
        program: String,
        path: String,
        mode: u32,
    },
    /// An ELF file whose `PT_INTERP`, or a script whose `#!` interpreter, is not in the image.
    #[error(
        "the image's program `{program}` needs the interpreter `{interpreter}`, which is not in the image"
    )]
    NoInterpreter {
        program: String,
        interpreter: String,
    },
}

/// Checks the program `argv0` of an image whose environment has `path_var` as `PATH` (if any)
/// and whose working directory is `workdir` (default `/`). Returns the program's path in the
/// image.
pub fn check_program(
    view: &ImageView<'_>,
    argv0: &str,
    path_var: Option<&str>,
    workdir: Option<&str>,
) -> Result<String, EntrypointError> {
    let candidates: Vec<String> = if argv0.starts_with('/') {
        vec![argv0.to_owned()]
    } else if argv0.contains('/') {
        vec![format!(
            "{}/{argv0}",
            workdir.unwrap_or("/").trim_end_matches('/')
        )]
    } else {
        path_var
            .unwrap_or(DEFAULT_PATH)
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| format!("{}/{argv0}", dir.trim_end_matches('/')))
            .collect()
    };
    let mut first_problem = None;
    for candidate in &candidates {
        match check_file(view, argv0, candidate) {
            Ok(()) => return Ok(candidate.clone()),
            Err(EntrypointError::Missing { .. }) => {}
            Err(problem) => {
                // LookPath keeps looking past a non-executable match; a path is final.
                if candidates.len() == 1 {
                    return Err(problem);
                }
                first_problem.get_or_insert(problem);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| EntrypointError::Missing {
        program: argv0.to_owned(),
        searched: if candidates.len() > 1 {
            format!(" (searched `PATH` {})", path_var.unwrap_or(DEFAULT_PATH))
        } else {
            String::new()
        },
    }))
}

fn check_file(view: &ImageView<'_>, program: &str, path: &str) -> Result<(), EntrypointError> {
    let missing = || EntrypointError::Missing {
        program: program.to_owned(),
        searched: String::new(),
    };
    let not_a_file = |what| EntrypointError::NotAFile {
        program: program.to_owned(),
        path: path.to_owned(),
        what,
    };
    let Some(resolved) = view.resolve(path) else {
        return Err(not_a_file("a symlink loop"));
    };
    match view.get(&resolved) {
        None => {
            return Err(if resolved == path.trim_start_matches('/') {
                missing()
            } else {
                not_a_file("a dangling symlink")
            });
        }
        Some(NodeKind::Dir) => return Err(not_a_file("a directory")),
        Some(_) => {}
    }
    let Some((file, content)) = view.file(path) else {
        return Err(not_a_file("not a regular file"));
    };
    // Only the start matters (ELF headers, `#!` line); an unreadable scratch file reads as empty
    // and the layer writer, which reads every byte, reports the error.
    let bytes = content.read().unwrap_or_default();
    let bytes = bytes.as_ref();
    let mode = view.node(&file).map_or(0, |node| node.mode);
    if mode & 0o111 == 0 {
        return Err(EntrypointError::NotExecutable {
            program: program.to_owned(),
            path: format!("/{file}"),
            mode: mode & 0o7777,
        });
    }
    let interpreter = if elf::is_elf(bytes) {
        elf::parse(bytes).ok().and_then(|info| info.interpreter)
    } else {
        shebang(bytes)
    };
    match interpreter {
        Some(interpreter) if view.file(&interpreter).is_none() => {
            Err(EntrypointError::NoInterpreter {
                program: program.to_owned(),
                interpreter,
            })
        }
        _ => Ok(()),
    }
}

/// The interpreter path of a `#!` line (`#!/bin/sh -e` -> `/bin/sh`).
fn shebang(bytes: &[u8]) -> Option<String> {
    let line = bytes.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let text = std::str::from_utf8(line).ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::elf::{Class, Dynamic, synthesize};
    use crate::check::test_tree;
    use crate::rootfs::Tree;

    fn image() -> Tree {
        let java = synthesize(
            Class::Elf64,
            62,
            Some("/lib64/ld-linux-x86-64.so.2"),
            &Dynamic::default(),
        );
        let mut tree = test_tree(&[
            ("usr/bin/app", Some(&java), None),
            ("usr/bin/java", None, Some("/etc/alternatives/java")),
            ("etc/alternatives/java", None, Some("/usr/lib/jvm/bin/java")),
            ("usr/lib/jvm/bin/java", Some(&java), None),
            (
                "usr/bin/run.sh",
                Some(b"#!/bin/bash -e\nexit 0\n".as_slice()),
                None,
            ),
            ("usr/share/data.txt", Some(b"text".as_slice()), None),
            ("usr/bin/dangling", None, Some("/nowhere")),
        ]);
        if let Some(node) = tree.get_mut("usr/share/data.txt") {
            node.mode = 0o644;
        }
        tree
    }

    fn check(tree: &Tree, argv0: &str) -> Result<String, EntrypointError> {
        let layers = [tree];
        check_program(&ImageView::new(&layers), argv0, None, None)
    }

    #[test]
    fn a_program_without_its_loader_is_refused_and_with_it_accepted() {
        let tree = image();
        let err = check(&tree, "/usr/bin/java").expect_err("no loader yet");
        assert_eq!(
            err.to_string(),
            "the image's program `/usr/bin/java` needs the interpreter `/lib64/ld-linux-x86-64.so.2`, which is not in the image"
        );
        let loader = test_tree(&[
            ("lib64", None, Some("usr/lib64")),
            (
                "usr/lib64/ld-linux-x86-64.so.2",
                Some(b"ld".as_slice()),
                None,
            ),
        ]);
        let layers = [&tree, &loader];
        let view = ImageView::new(&layers);
        assert_eq!(
            check_program(&view, "/usr/bin/java", None, None).as_deref(),
            Ok("/usr/bin/java")
        );
        assert_eq!(
            check_program(&view, "java", Some("/usr/local/bin:/usr/bin"), None).as_deref(),
            Ok("/usr/bin/java"),
            "a bare name is looked up along PATH"
        );
    }

    #[test]
    fn missing_unexecutable_and_odd_programs_are_named() {
        let tree = image();
        assert_eq!(
            check(&tree, "/usr/bin/python3")
                .expect_err("missing")
                .to_string(),
            "the image's program `/usr/bin/python3` is not in the image"
        );
        assert!(
            check(&tree, "python3")
                .expect_err("missing")
                .to_string()
                .contains("(searched `PATH` /usr/local/sbin:")
        );
        assert_eq!(
            check(&tree, "/usr/share/data.txt")
                .expect_err("not executable")
                .to_string(),
            "the image's program `/usr/share/data.txt` (`/usr/share/data.txt`, mode 0644) is not executable"
        );
        assert!(matches!(
            check(&tree, "/usr/share"),
            Err(EntrypointError::NotAFile {
                what: "a directory",
                ..
            })
        ));
        assert!(matches!(
            check(&tree, "/usr/bin/dangling"),
            Err(EntrypointError::NotAFile {
                what: "a dangling symlink",
                ..
            })
        ));
        assert_eq!(
            check(&tree, "/usr/bin/run.sh")
                .expect_err("no bash")
                .to_string(),
            "the image's program `/usr/bin/run.sh` needs the interpreter `/bin/bash`, which is not in the image"
        );
    }
}
