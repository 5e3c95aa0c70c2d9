"""The bzlmod module extension (Bazel 6+): the same repository rules as repositories.bzl.

```starlark
# MODULE.bazel
bazel_dep(name = "debless_rules", version = "0.1.0")
debless = use_extension("@debless_rules//:extensions.bzl", "debless")
debless.binary(binary = "/usr/local/bin/debless")   # or urls = [...], sha256 = "..."
debless.debs(name = "app_debs", lock = "//:debless.lock")
use_repo(debless, "app_debs")
```

Untested here: the Bazel these rules are tested with (Debian's bazel-bootstrap 4.2.3) has no
bzlmod. The repositories it makes are the ones WORKSPACE mode makes, from the same rules.
"""

load(":repositories.bzl", "debless_debs", "debless_register_rule")

_binary = tag_class(
    attrs = {
        "binary": attr.string(doc = "Absolute path of a debless binary."),
        "urls": attr.string_list(doc = "URLs of a release binary (with sha256)."),
        "sha256": attr.string(doc = "sha256 of the release binary."),
    },
    doc = "Which debless binary `@debless//:debless` is; the root module's tag wins.",
)

_debs = tag_class(
    attrs = {
        "name": attr.string(mandatory = True),
        "lock": attr.label(mandatory = True),
        "manifest": attr.label(),
        "mirrors": attr.string_list(),
    },
    doc = "A debless_debs repository: the .deb files of one lock.",
)

def _debless_impl(module_ctx):
    binary = None
    for module in module_ctx.modules:
        for tag in module.tags.binary:
            # The root module comes first in module_ctx.modules: its choice wins.
            if binary == None:
                binary = tag
        for tag in module.tags.debs:
            debless_debs(
                name = tag.name,
                lock = tag.lock,
                manifest = tag.manifest,
                mirrors = tag.mirrors,
            )
    if binary:
        debless_register_rule(name = "debless", binary = binary.binary, urls = binary.urls, sha256 = binary.sha256)
    else:
        debless_register_rule(name = "debless")

debless = module_extension(
    implementation = _debless_impl,
    tag_classes = {"binary": _binary, "debs": _debs},
)
