//! `examples/lock_and_build.rs`, the library used without the CLI: it locks and builds the
//! hermetic repository's project, prints only the digest, and that digest is the CLI's.

use std::process::Command;

use crate::hermetic::{project, standard_repo};

#[test]
fn the_library_example_builds_the_same_image_as_the_cli() {
    let repo = standard_repo();
    let library = project(&repo, &["hello", "tzdata"]);
    let mut cargo = Command::new(env!("CARGO"));
    // The variables cargo sets for a test would make the nested cargo see another build
    // environment and rebuild the dependency graph; run it as from a shell.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key == "OUT_DIR" {
            cargo.env_remove(&*key);
        }
    }
    let example = cargo
        .args(["run", "--quiet", "--example", "lock_and_build", "--"])
        .arg(library.path().join("debless.toml"))
        .arg(library.path().join("img"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DEBLESS_CACHE_DIR", &library.cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("DEBLESS_MIRROR")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&example.stderr);
    assert!(example.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    let digest = String::from_utf8_lossy(&example.stdout).trim().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(library.path().join("img/index.json").is_file());

    let cli = project(&repo, &["hello", "tzdata"]);
    let locked = cli.run(&["lock"]);
    assert!(locked.status.success(), "{}", cli.render(&locked));
    let built = cli.run(&["build", "--output", "img"]);
    assert!(built.status.success(), "{}", cli.render(&built));
    assert_eq!(String::from_utf8_lossy(&built.stdout).trim(), digest);
    assert_eq!(
        library.read("debless.lock"),
        cli.read("debless.lock"),
        "the same lock"
    );
}
