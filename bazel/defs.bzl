"""`debless_image`: a debless image built by one hermetic, remotely cacheable Bazel action.

The action runs `debless build --offline` on declared inputs only (the manifest, the lock, the
`.deb` files `debless_debs` downloaded, the application's files and tars, an optional base
image as an OCI layout), without network, and never writes the workspace's lock: the script
`private/run.sh` stages copies in a scratch directory. Every path on its command line is
relative to the execroot, so the same lock on another machine computes the same action key
and is a cache hit with `--disk_cache` or `--remote_cache`.

`debless_image(name = "app", …)` defines:
- `app`: `app/` (an OCI image layout; an image index for several architectures) and
  `app.digest` (the top digest, one line);
- `app.lock` (`bazel run`): re-locks the manifest and writes the lock in the workspace
  (arguments after `--` go to `debless lock`, e.g. `-- --update` or `-- --check`);
- `app.verify` (`bazel test`): rebuilds from the same inputs with `debless build --verify`,
  failing when the image differs from the digests recorded in the lock.
"""

DeblessImageInfo = provider(
    doc = "A debless image: its OCI layout directory and digest file.",
    fields = {
        "layout": "the OCI image layout directory (a tree artifact)",
        "digest": "a file holding the image's top digest on one line",
    },
)

_DEBLESS = Label("@debless//:debless")
_RUNNER = Label("//private:run.sh")

def _in_main_repo(file, attr):
    if file.short_path.startswith("../"):
        fail("%s: `%s` is in another repository; debless_image stages files by their path in the main repository" % (attr, file.short_path))
    return file.short_path

def _base_layout(target):
    """The OCI layout directory of a `base` target."""
    if target == None:
        return None
    if DeblessImageInfo in target:
        return target[DeblessImageInfo].layout
    dirs = [f for f in target[DefaultInfo].files.to_list() if f.is_directory]
    if len(dirs) != 1:
        fail("base: `%s` must give exactly one OCI layout directory, it gives %d" % (target.label, len(dirs)))
    return dirs[0]

def _staging(attr, path_of):
    """The run.sh arguments staging the project, and the files they name.

    `path_of(file)` is where the file is for the command: its exec path in an action, its
    runfiles path in a run or test target.
    """
    manifest = attr.manifest.files.to_list()[0]
    lock = attr.lock.files.to_list()[0]
    args = [
        "--manifest",
        "%s=%s" % (_in_main_repo(manifest, "manifest"), path_of(manifest)),
        "--lock",
        "%s=%s" % (_in_main_repo(lock, "lock"), path_of(lock)),
    ]
    inputs = [manifest, lock]
    for target in attr.files + attr.tars:
        for f in target.files.to_list():
            args += ["--file", "%s=%s" % (_in_main_repo(f, "files"), path_of(f))]
            inputs.append(f)
    base = _base_layout(attr.base)
    if base:
        args += ["--link", "%s=%s" % (_in_main_repo(base, "base"), path_of(base))]
        inputs.append(base)
    return args, inputs

def _debs(attr, path_of):
    args = []
    files = []
    for f in attr.debs.files.to_list():
        if f.basename == "export.json":
            continue
        args += ["--deb", path_of(f)]
        files.append(f)
    return args, files

def _exec_path(f):
    return f.path

def _runfiles_path(f):
    # Run and test targets start in their main repository's runfiles directory, where another
    # repository's files are under `../<repository>/`, which is what short_path says.
    return f.short_path

def _image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    debless = ctx.executable.debless
    stage_args, stage_inputs = _staging(ctx.attr, _exec_path)
    deb_args, debs = _debs(ctx.attr, _exec_path)
    args = ctx.actions.args()
    args.add("build")
    args.add("--debless", debless.path)
    args.add_all(stage_args)
    args.add_all(deb_args)
    args.add("--out-dir", layout.path)
    args.add("--out-digest", digest.path)
    ctx.actions.run(
        executable = ctx.file._runner,
        arguments = [args],
        inputs = stage_inputs + debs,
        tools = [debless],
        outputs = [layout, digest],
        mnemonic = "DeblessBuild",
        progress_message = "Building image %s with debless" % ctx.label,
        # No environment from the host: the action's key and result depend on its inputs only.
        use_default_shell_env = False,
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        DeblessImageInfo(layout = layout, digest = digest),
    ]

_COMMON_ATTRS = {
    "manifest": attr.label(allow_single_file = True, mandatory = True, doc = "debless.toml"),
    "lock": attr.label(allow_single_file = True, mandatory = True, doc = "debless.lock, beside the manifest"),
    "files": attr.label_list(allow_files = True, doc = "The files `[[image.files]]` names, at the paths the manifest gives relative to itself."),
    "tars": attr.label_list(allow_files = True, doc = "The tar files `[image] tars` names."),
    "base": attr.label(doc = "The base image as an OCI layout directory (a debless_image, or any rule giving one directory), at the path of the manifest's `base = \"oci-layout:…\"`."),
    "debless": attr.label(default = _DEBLESS, executable = True, cfg = "exec", allow_single_file = True, doc = "The debless binary (debless_register makes the default)."),
    "_runner": attr.label(default = _RUNNER, allow_single_file = True),
}

_debless_image = rule(
    implementation = _image_impl,
    attrs = dict(_COMMON_ATTRS, debs = attr.label(mandatory = True, allow_files = True, doc = "`@<name>//:debs` of a debless_debs repository")),
)

def _shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"

def _launcher(ctx, mode, with_debs):
    debless = ctx.executable.debless
    stage_args, stage_inputs = _staging(ctx.attr, _runfiles_path)
    words = [ctx.file._runner.short_path, mode, "--debless", debless.short_path] + stage_args
    files = stage_inputs + [debless, ctx.file._runner]
    if with_debs:
        deb_args, debs = _debs(ctx.attr, _runfiles_path)
        words += deb_args
        files += debs
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        content = "#!/usr/bin/env bash\nexec %s -- \"$@\"\n" % " ".join([_shell_quote(w) for w in words]),
        is_executable = True,
    )
    return DefaultInfo(executable = script, runfiles = ctx.runfiles(files = files))

def _lock_impl(ctx):
    return [_launcher(ctx, "lock", with_debs = False)]

_debless_lock = rule(
    implementation = _lock_impl,
    attrs = _COMMON_ATTRS,
    executable = True,
)

def _verify_impl(ctx):
    return [_launcher(ctx, "verify", with_debs = True)]

_debless_verify_test = rule(
    implementation = _verify_impl,
    attrs = dict(_COMMON_ATTRS, debs = attr.label(mandatory = True, allow_files = True)),
    test = True,
)

def debless_image(name, manifest, lock, debs, files = [], tars = [], base = None, debless = None, **kwargs):
    """An image built by debless, with `<name>.lock` (bazel run) and `<name>.verify` (bazel test).

    Args:
      name: the image target; its outputs are `<name>/` (OCI layout) and `<name>.digest`.
      manifest: the debless.toml label.
      lock: the debless.lock label (beside the manifest).
      debs: `@<repo>//:debs` of the `debless_debs` repository made from this lock.
      files: labels of the files `[[image.files]]` copies, at the paths the manifest names.
      tars: labels of the tars `[image] tars` lists.
      base: an OCI layout label (a debless_image) for the manifest's `base = "oci-layout:…"`.
      debless: the debless binary (default `@debless//:debless`, made by debless_register).
      **kwargs: common attributes (visibility, tags, …), given to every target.
    """
    common = dict(
        manifest = manifest,
        lock = lock,
        files = files,
        tars = tars,
        base = base,
    )
    if debless:
        common["debless"] = debless
    _debless_image(name = name, debs = debs, **dict(common, **kwargs))
    _debless_lock(name = name + ".lock", **dict(common, **kwargs))
    _debless_verify_test(name = name + ".verify", debs = debs, **dict(common, **kwargs))
