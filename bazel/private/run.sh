#!/usr/bin/env bash
# Runs debless on a staged copy of a project, so that a Bazel action (or `bazel run`/`bazel
# test` target) reads only what it declared and writes only its declared outputs:
#
# - the manifest, the lock and every `--file` are copied into a scratch directory at their
#   workspace-relative paths (so the manifest's relative paths, such as
#   `base = "oci-layout:../python3/python3"` or `[[image.files]] src`, resolve there), and
#   each `--link` (an OCI layout directory) is linked at its path;
# - the declared `.deb` files (named `<sha256>.deb`) become a debless cache
#   (`debs/sha256/<sha256>`, see src/fetch/cache.rs; hard links or copies, as debless refuses
#   symlinks there), so `build --offline` needs no network;
# - debless writes the lock only inside the scratch directory, never the workspace's (the
#   `lock` mode copies it back on purpose, that being its job).
#
# Every argument is a path relative to the working directory (the execroot of an action, the
# runfiles directory of a run or test target): the command line holds no absolute path, so two
# machines compute the same action key.
#
# usage: run.sh build|verify|lock --debless PATH --manifest SHORT=PATH --lock SHORT=PATH
#          [--file SHORT=PATH]… [--link SHORT=PATH]… [--deb PATH]…
#          [--out-dir DIR --out-digest FILE] [-- DEBLESS LOCK ARGS…]
set -euo pipefail

fail() {
    echo "debless rules: $*" >&2
    exit 2
}

[ $# -ge 1 ] || fail "no mode given (build, verify or lock)"
mode=$1
shift
debless='' manifest='' lock='' out_dir='' out_digest=''
files=() links=() debs=() extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --debless) debless=$2 ;;
    --manifest) manifest=$2 ;;
    --lock) lock=$2 ;;
    --file) files+=("$2") ;;
    --link) links+=("$2") ;;
    --deb) debs+=("$2") ;;
    --out-dir) out_dir=$2 ;;
    --out-digest) out_digest=$2 ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    *) fail "unknown argument \`$1\`" ;;
    esac
    shift 2
done
[ -n "$debless" ] && [ -n "$manifest" ] && [ -n "$lock" ] || fail "--debless, --manifest and --lock are required"

here=$PWD
absolute() {
    case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$here" "$1" ;;
    esac
}
debless=$(absolute "$debless")

work=$(mktemp -d "${TMPDIR:-/tmp}/debless-bazel.XXXXXX")
trap 'rm -rf "$work"' EXIT
ws=$work/ws

# SHORT=PATH: the workspace-relative path, then where the file is now.
short_of() { printf '%s' "${1%%=*}"; }
path_of() { printf '%s' "${1#*=}"; }

stage_copy() {
    local short path
    short=$(short_of "$1")
    path=$(path_of "$1")
    case $short in
    /* | ../* | */../*) fail "\`$short\` is not a path inside the main repository" ;;
    esac
    mkdir -p "$ws/$(dirname "$short")"
    # -L: Bazel hands inputs over as symlinks; debless must see the files themselves.
    cp -RL "$path" "$ws/$short"
}

stage_link() {
    local short path
    short=$(short_of "$1")
    path=$(path_of "$1")
    case $short in
    /* | ../* | */../*) fail "\`$short\` is not a path inside the main repository" ;;
    esac
    mkdir -p "$ws/$(dirname "$short")"
    ln -s "$(absolute "$path")" "$ws/$short"
}

stage_copy "$manifest"
stage_copy "$lock"
for entry in ${files[@]+"${files[@]}"}; do stage_copy "$entry"; done
for entry in ${links[@]+"${links[@]}"}; do stage_link "$entry"; done
manifest_path=$ws/$(short_of "$manifest")
lock_short=$(short_of "$lock")
[ "$(dirname "$lock_short")/debless.lock" = "$(dirname "$(short_of "$manifest")")/debless.lock" ] ||
    fail "the lock \`$lock_short\` must be \`debless.lock\` beside the manifest \`$(short_of "$manifest")\`"

make_cache() {
    mkdir -p "$work/cache/debs/sha256"
    local deb name
    for deb in ${debs[@]+"${debs[@]}"}; do
        name=$(basename "$deb" .deb)
        case $name in
        *[!0-9a-f]* | '') fail "\`$deb\` is not named <sha256>.deb (made by debless_debs)" ;;
        esac
        # debless trusts only regular files in its cache: a hard link where the file system
        # allows one (-L: through Bazel's input symlink), else a copy.
        ln -L "$deb" "$work/cache/debs/sha256/$name" 2>/dev/null ||
            cp -L "$deb" "$work/cache/debs/sha256/$name"
    done
}

case $mode in
build)
    [ -n "$out_dir" ] && [ -n "$out_digest" ] || fail "build needs --out-dir and --out-digest"
    make_cache
    "$debless" --quiet --manifest "$manifest_path" --cache-dir "$work/cache" \
        build --offline --output "$work/image" ${extra[@]+"${extra[@]}"} >"$work/stdout"
    digest=$(tail -n 1 "$work/stdout")
    case $digest in
    sha256:*) ;;
    *) fail "debless build printed no digest: $(cat "$work/stdout")" ;;
    esac
    mkdir -p "$out_dir"
    cp -R "$work/image/." "$out_dir/"
    printf '%s\n' "$digest" >"$out_digest"
    ;;
verify)
    make_cache
    "$debless" --quiet --manifest "$manifest_path" --cache-dir "$work/cache" \
        build --offline --verify ${extra[@]+"${extra[@]}"} >/dev/null
    echo "$(short_of "$lock"): the image built from it has the digests it records"
    ;;
lock)
    [ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ] || fail "run the lock target with \`bazel run\`"
    # A re-lock resolves against the live mirror and keeps debless's own cache warm.
    "$debless" --manifest "$manifest_path" lock ${extra[@]+"${extra[@]}"}
    target=$BUILD_WORKSPACE_DIRECTORY/$lock_short
    if ! cmp -s "$ws/$lock_short" "$target"; then
        cp "$ws/$lock_short" "$target.tmp.$$"
        mv -f "$target.tmp.$$" "$target"
        echo "Wrote $lock_short"
    fi
    ;;
*) fail "unknown mode \`$mode\` (build, verify or lock)" ;;
esac
