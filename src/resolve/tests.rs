//! Rule-by-rule tests of the resolver over small hand-made universes.

use super::test_support::{pkg, universe_of, universe_on};
use super::*;
use crate::debian::{BinaryPackage, Version};

fn request(roots: &[&str]) -> Request {
    Request {
        roots: roots
            .iter()
            .map(|r| Root::parse(r).expect("valid root"))
            .collect(),
        ..Request::default()
    }
}

fn names(resolution: &Resolution) -> Vec<String> {
    resolution
        .packages
        .iter()
        .map(|c| {
            if c.package.architecture == "amd64" || c.package.architecture == "all" {
                format!("{} {}", c.package.name, c.package.version)
            } else {
                format!(
                    "{}:{} {}",
                    c.package.name, c.package.architecture, c.package.version
                )
            }
        })
        .collect()
}

fn one_suite(packages: Vec<BinaryPackage>) -> Universe {
    universe_of(vec![("bookworm", 500, packages)])
}

fn closure(universe: &Universe, roots: &[&str]) -> Vec<String> {
    names(&resolve(universe, &request(roots)).expect("resolvable"))
}

#[test]
fn follows_pre_depends_and_depends_and_records_edges() {
    let universe = one_suite(vec![
        pkg("app", "1", "Pre-Depends: pre\nDepends: lib"),
        pkg("lib", "2", "Depends: libc"),
        pkg("libc", "3", ""),
        pkg("pre", "1", ""),
        pkg("unrelated", "1", ""),
    ]);
    let resolution = resolve(&universe, &request(&["app"])).expect("resolvable");
    assert_eq!(names(&resolution), ["app 1", "lib 2", "libc 3", "pre 1"]);
    let app = &resolution.packages[0];
    assert_eq!(app.required_by, ["manifest"]);
    assert_eq!(app.depends_on, ["lib", "pre"]);
    assert_eq!(resolution.packages[2].required_by, ["lib"]);
    assert_eq!(resolution.packages[0].source_label, "bookworm");
}

#[test]
fn every_version_operator() {
    let universe = one_suite(vec![
        pkg("aa", "1", "Depends: vv (<< 2)"),
        pkg("bb", "1", "Depends: vv (<= 2)"),
        pkg("cc", "1", "Depends: vv (= 2)"),
        pkg("dd", "1", "Depends: vv (>= 2.0-0)"),
        pkg("ee", "1", "Depends: vv (>> 2)"),
        pkg("vv", "1.5", ""),
        pkg("vv", "2", ""),
        pkg("vv", "2.1~rc1", ""),
    ]);
    assert_eq!(closure(&universe, &["aa"]), ["aa 1", "vv 1.5"]);
    assert_eq!(closure(&universe, &["bb"]), ["bb 1", "vv 2"]);
    assert_eq!(closure(&universe, &["cc"]), ["cc 1", "vv 2"]);
    assert_eq!(closure(&universe, &["dd"]), ["dd 1", "vv 2.1~rc1"]);
    assert_eq!(closure(&universe, &["ee"]), ["ee 1", "vv 2.1~rc1"]);
}

#[test]
fn or_group_takes_first_satisfiable_alternative_in_written_order() {
    let universe = one_suite(vec![
        pkg("aa", "1", "Depends: missing | usrmerge | usr-is-merged"),
        pkg("usrmerge", "1", "Depends: perl"),
        pkg("perl", "1", ""),
        pkg("usr-is-merged", "1", ""),
    ]);
    assert_eq!(
        closure(&universe, &["aa"]),
        ["aa 1", "perl 1", "usrmerge 1"]
    );
}

#[test]
fn or_group_already_satisfied_is_skipped() {
    let universe = one_suite(vec![
        pkg("aa", "1", "Depends: xx, bb | cc"),
        pkg("xx", "1", "Depends: cc"),
        pkg("bb", "1", ""),
        pkg("cc", "1", ""),
    ]);
    // Depth first: x (first group) pulls c before `b | c` is looked at.
    assert_eq!(closure(&universe, &["aa"]), ["aa 1", "cc 1", "xx 1"]);
    // All roots are marked before any dependency is walked.
    let universe = one_suite(vec![
        pkg("aa", "1", "Depends: bb | cc"),
        pkg("bb", "1", ""),
        pkg("cc", "1", ""),
    ]);
    assert_eq!(closure(&universe, &["aa", "cc"]), ["aa 1", "cc 1"]);
}

#[test]
fn candidate_is_highest_priority_then_highest_version() {
    let universe = universe_of(vec![
        (
            "bookworm",
            500,
            vec![pkg("aa", "1", ""), pkg("bb", "1", "Depends: aa (>= 2)")],
        ),
        ("bookworm-backports", 100, vec![pkg("aa", "3", "")]),
        ("bookworm-updates", 500, vec![pkg("aa", "2", "")]),
    ]);
    let resolution = resolve(&universe, &request(&["aa"])).expect("resolvable");
    assert_eq!(names(&resolution), ["aa 2"]);
    assert_eq!(resolution.packages[0].source_label, "bookworm-updates");
    // A versioned dependency the candidate misses takes the best version that meets it.
    let universe = universe_of(vec![
        (
            "bookworm",
            500,
            vec![pkg("aa", "1", ""), pkg("bb", "1", "Depends: aa (>= 3)")],
        ),
        ("bookworm-backports", 100, vec![pkg("aa", "3", "")]),
    ]);
    let resolution = resolve(&universe, &request(&["bb"])).expect("resolvable");
    assert_eq!(names(&resolution), ["aa 3", "bb 1"]);
    assert_eq!(resolution.packages[0].source_label, "bookworm-backports");
}

#[test]
fn pins_from_the_old_lock_win_while_they_satisfy() {
    let universe = one_suite(vec![
        pkg("aa", "1", ""),
        pkg("aa", "2", ""),
        pkg("bb", "1", "Depends: aa (>= 2)"),
    ]);
    let pin = |version: &str| Pin {
        name: "aa".into(),
        arch: "amd64".into(),
        version: Version::parse(version).expect("valid"),
    };
    let mut req = request(&["aa"]);
    req.pins = vec![pin("1")];
    assert_eq!(names(&resolve(&universe, &req).expect("ok")), ["aa 1"]);
    let mut req = request(&["bb"]);
    req.pins = vec![pin("1")];
    assert_eq!(
        names(&resolve(&universe, &req).expect("ok")),
        ["aa 2", "bb 1"]
    );
    let mut req = request(&["aa"]);
    req.pins = vec![pin("0.9")];
    assert_eq!(names(&resolve(&universe, &req).expect("ok")), ["aa 2"]);
}

#[test]
fn real_package_beats_providers_and_apt_order_ranks_providers() {
    let universe = one_suite(vec![
        pkg("acct", "1", "Depends: lsb-base"),
        pkg("lsb-base", "1", "Depends: sysvinit-utils"),
        pkg(
            "sysvinit-utils",
            "1",
            "Provides: lsb-base\nEssential: yes\nPriority: required",
        ),
        pkg("base-files", "1", "Pre-Depends: awk"),
        pkg("gawk", "1", "Provides: awk\nPriority: optional"),
        pkg("mawk", "1", "Provides: awk\nPriority: required"),
    ]);
    assert_eq!(
        closure(&universe, &["acct"]),
        ["acct 1", "lsb-base 1", "sysvinit-utils 1"]
    );
    let resolution = resolve(&universe, &request(&["base-files"])).expect("ok");
    assert_eq!(names(&resolution), ["base-files 1", "mawk 1"]);
    assert_eq!(
        resolution.notes,
        [Note::Provider {
            virtual_name: "awk".into(),
            picked: "mawk".into(),
            others: vec!["gawk".into()],
            tie: false,
        }]
    );
    let mut req = request(&["base-files"]);
    req.prefer.insert("awk".into(), "gawk".into());
    assert_eq!(
        names(&resolve(&universe, &req).expect("ok")),
        ["base-files 1", "gawk 1"]
    );
}

#[test]
fn provider_ties_follow_apt_cache_order_and_are_reported() {
    let universe = one_suite(vec![
        pkg("shell-user", "1", "Depends: c-shell"),
        pkg("csh", "1", "Provides: c-shell"),
        pkg("tcsh", "1", "Provides: c-shell"),
    ]);
    let first = resolve(&universe, &request(&["shell-user"])).expect("ok");
    let second = resolve(&universe, &request(&["shell-user"])).expect("ok");
    assert_eq!(names(&first), names(&second), "deterministic");
    assert_eq!(names(&first), ["shell-user 1", "tcsh 1"]);
    let note = first.notes[0].to_string();
    assert!(note.contains("picked `tcsh`"), "{note}");
    assert!(note.contains("tie"), "{note}");
    assert!(note.contains("prefer = { c-shell"), "{note}");
    // apt's tie-break is cache order: a name mentioned earlier (here as a dependency of an
    // earlier stanza) has the lower ID and loses.
    let universe = one_suite(vec![
        pkg("shell-user", "1", "Depends: c-shell"),
        pkg("script", "1", "Depends: tcsh"),
        pkg("csh", "1", "Provides: c-shell"),
        pkg("tcsh", "1", "Provides: c-shell"),
    ]);
    assert_eq!(
        closure(&universe, &["shell-user"]),
        ["csh 1", "shell-user 1"]
    );
}

#[test]
fn versioned_provides_only_meet_versioned_dependencies_with_equal_versions() {
    let universe = one_suite(vec![
        pkg("app", "1", "Depends: virt (>= 2)"),
        pkg("plain", "1", "Provides: virt"),
        pkg("old", "1", "Provides: virt (= 1)"),
        pkg("new", "1", "Provides: virt (= 2)"),
    ]);
    assert_eq!(closure(&universe, &["app"]), ["app 1", "new 1"]);
    let universe = one_suite(vec![
        pkg("app", "1", "Depends: virt (>= 2)"),
        pkg("plain", "1", "Provides: virt"),
    ]);
    let err = resolve(&universe, &request(&["app"])).expect_err("unversioned provide");
    assert!(
        err.to_string()
            .contains("only provided by `plain` (unversioned)"),
        "{err}"
    );
}

#[test]
fn multi_arch_rules() {
    let universe = universe_on(
        vec![(
            "trixie",
            500,
            vec![
                pkg("libc6", "2", "Multi-Arch: same"),
                pkg("libc6", "2", "Multi-Arch: same\nArchitecture: i386"),
                pkg(
                    "tool",
                    "1",
                    "Architecture: i386\nDepends: libc6, mawk, python3:any",
                ),
                pkg("mawk", "1", "Multi-Arch: foreign"),
                pkg("python3", "3", "Multi-Arch: allowed"),
                pkg("perl", "5", ""),
                pkg("bad", "1", "Depends: perl:any"),
                pkg(
                    "native-user",
                    "1",
                    "Architecture: i386\nDepends: perl:native",
                ),
                pkg("explicit", "1", "Depends: libc6:i386"),
                pkg("sh", "1", "Architecture: i386"),
                pkg("cross", "1", "Depends: sh"),
            ],
        )],
        &["amd64", "i386"],
    );
    // An i386 package needs i386 libc6, takes foreign mawk and allowed python3 from amd64.
    assert_eq!(
        closure(&universe, &["tool:i386"]),
        ["libc6:i386 2", "mawk 1", "python3 3", "tool:i386 1"]
    );
    // A foreign-arch M-A:same library is a package of its own beside the native one.
    assert_eq!(
        closure(&universe, &["libc6", "libc6:i386"]),
        ["libc6 2", "libc6:i386 2"]
    );
    assert_eq!(
        closure(&universe, &["explicit"]),
        ["explicit 1", "libc6:i386 2"]
    );
    assert_eq!(
        closure(&universe, &["native-user:i386"]),
        ["native-user:i386 1", "perl 5"]
    );
    let err = resolve(&universe, &request(&["bad"])).expect_err(":any needs allowed");
    assert!(
        err.to_string().contains("not `Multi-Arch: allowed`"),
        "{err}"
    );
    let err = resolve(&universe, &request(&["cross"])).expect_err("not foreign");
    assert!(
        err.to_string().contains("not available for `amd64`"),
        "{err}"
    );
}

#[test]
fn conflicting_roots_are_an_error_naming_both() {
    let universe = one_suite(vec![
        pkg(
            "exim4",
            "1",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent",
        ),
        pkg(
            "postfix",
            "1",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent",
        ),
        pkg("new-libc", "1", "Breaks: old-tool (<< 2)"),
        pkg("old-tool", "1", ""),
    ]);
    // Conflicting with a virtual it provides itself is fine.
    assert_eq!(closure(&universe, &["exim4"]), ["exim4 1"]);
    let err = resolve(&universe, &request(&["exim4", "postfix"])).expect_err("conflict");
    let text = err.to_string();
    assert!(text.contains("postfix") && text.contains("exim4"), "{text}");
    let err = resolve(&universe, &request(&["old-tool", "new-libc"])).expect_err("breaks");
    let text = err.to_string();
    assert!(
        text.contains("`new-libc` breaks `old-tool (<< 2)`"),
        "{text}"
    );
}

#[test]
fn a_conflicting_alternative_is_skipped() {
    let universe = one_suite(vec![
        pkg("app", "1", "Depends: mta"),
        pkg("mta", "1", "Depends: exim4 | postfix"),
        pkg("exim4", "1", "Conflicts: postfix"),
        pkg("postfix", "1", ""),
        pkg("site", "1", "Depends: postfix"),
    ]);
    assert_eq!(
        closure(&universe, &["app", "site"]),
        ["app 1", "mta 1", "postfix 1", "site 1"]
    );
}

#[test]
fn essential_packages_come_only_when_depended_on() {
    let universe = one_suite(vec![
        pkg("bash", "5", "Essential: yes\nPriority: required"),
        pkg("hello", "1", ""),
        pkg("script", "1", "Depends: bash"),
    ]);
    assert_eq!(closure(&universe, &["hello"]), ["hello 1"]);
    assert_eq!(closure(&universe, &["script"]), ["bash 5", "script 1"]);
}

#[test]
fn excluded_dependencies_are_left_unmet_with_a_note() {
    let universe = one_suite(vec![
        pkg(
            "python3",
            "3",
            "Depends: python3-minimal, tzdata | tzdata-legacy",
        ),
        pkg("python3-minimal", "3", "Depends: dpkg"),
        pkg("dpkg", "1", ""),
        pkg("tzdata", "1", ""),
        pkg("tzdata-legacy", "1", ""),
    ]);
    let mut req = request(&["python3"]);
    req.exclude.insert("dpkg".into());
    req.exclude.insert("tzdata".into());
    let resolution = resolve(&universe, &req).expect("ok");
    // tzdata excluded, but its alternative is not: that one is taken instead.
    assert_eq!(
        names(&resolution),
        ["python3 3", "python3-minimal 3", "tzdata-legacy 1"]
    );
    assert_eq!(
        resolution.notes,
        [Note::UnmetExcluded {
            package: "python3-minimal".into(),
            dependency: "dpkg".into(),
            excluded: vec!["dpkg".into()],
        }]
    );
    let mut req = request(&["dpkg"]);
    req.exclude.insert("dpkg".into());
    assert!(matches!(
        resolve(&universe, &req),
        Err(ResolveError::ExcludedRoot { .. })
    ));
}

#[test]
fn unknown_roots_get_suggestions() {
    let universe = one_suite(vec![pkg("python3", "3", ""), pkg("perl", "5", "")]);
    let err = resolve(&universe, &request(&["pyhton3"])).expect_err("unknown");
    let text = err.to_string();
    assert!(
        text.contains("`pyhton3` is not in any configured suite"),
        "{text}"
    );
    assert!(text.contains("did you mean `python3`"), "{text}");
}

#[test]
fn unsatisfiable_root_constraint_lists_versions() {
    let universe = one_suite(vec![pkg("bash", "5.2-1", ""), pkg("bash", "5.1-2", "")]);
    let err = resolve(&universe, &request(&["bash (>= 6)"])).expect_err("too new");
    assert_eq!(
        err.to_string(),
        "no version of `bash` satisfies `bash (>= 6)`; available: 5.2-1 (bookworm amd64), 5.1-2 (bookworm amd64)"
    );
    assert_eq!(closure(&universe, &["bash=5.1-2"]), ["bash 5.1-2"]);
}

#[test]
fn unsatisfiable_dependency_names_versions_and_the_chain() {
    let universe = one_suite(vec![
        pkg("python3", "3", "Depends: python3-minimal"),
        pkg("python3-minimal", "3", "Depends: python3-foo"),
        pkg("python3-foo", "1.2", "Depends: libbar (>= 3)"),
        pkg("libbar", "2.1", ""),
    ]);
    let err = resolve(&universe, &request(&["python3"])).expect_err("too old");
    assert_eq!(
        err.to_string(),
        "`python3-foo 1.2` depends on `libbar (>= 3)` but `bookworm` has 2.1\n  required by manifest -> python3 -> python3-minimal -> python3-foo"
    );
    let universe = one_suite(vec![pkg("aa", "1", "Depends: ghost")]);
    let err = resolve(&universe, &request(&["aa"])).expect_err("missing");
    assert!(
        err.to_string()
            .contains("`ghost` is in no configured suite"),
        "{err}"
    );
}

#[test]
fn virtual_roots_need_a_single_or_preferred_provider() {
    let universe = one_suite(vec![
        pkg("exim4", "1", "Provides: mail-transport-agent"),
        pkg("postfix", "1", "Provides: mail-transport-agent"),
        pkg("mawk", "1", "Provides: awk"),
    ]);
    let resolution = resolve(&universe, &request(&["awk"])).expect("single provider");
    assert_eq!(names(&resolution), ["mawk 1"]);
    assert!(matches!(resolution.notes[0], Note::VirtualRoot { .. }));
    let err = resolve(&universe, &request(&["mail-transport-agent"])).expect_err("several");
    assert!(err.to_string().contains("`exim4`, `postfix`"), "{err}");
    let mut req = request(&["mail-transport-agent"]);
    req.prefer
        .insert("mail-transport-agent".into(), "postfix".into());
    assert_eq!(names(&resolve(&universe, &req).expect("ok")), ["postfix 1"]);
}

#[test]
fn base_image_packages_satisfy_and_are_not_added() {
    let universe = one_suite(vec![
        pkg("app", "1", "Depends: libc6 (>= 2), libssl"),
        pkg("libc6", "2", ""),
        pkg("libssl", "3", "Depends: libc6"),
    ]);
    let mut req = request(&["app"]);
    req.already_installed = vec![Installed {
        name: "libc6".into(),
        arch: "amd64".into(),
        version: Version::parse("2").expect("valid"),
    }];
    assert_eq!(
        names(&resolve(&universe, &req).expect("ok")),
        ["app 1", "libssl 3"]
    );
}

#[test]
fn backtracks_out_of_a_dead_end_apt_would_stop_at() {
    let universe = one_suite(vec![
        pkg("root", "1", "Depends: aa | bb, cc"),
        pkg("aa", "1", ""),
        pkg("bb", "1", ""),
        pkg("cc", "1", "Conflicts: aa"),
    ]);
    assert_eq!(closure(&universe, &["root"]), ["bb 1", "cc 1", "root 1"]);
}
