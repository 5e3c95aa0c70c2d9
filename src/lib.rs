//! debless composes container root filesystems and OCI images from Debian packages, without
//! apt, dpkg, Docker or Bazel.
//!
//! # The pipeline
//!
//! Data flows one way; a module uses those above it, never those below. Only [`cli`] knows them all.
//!
//! | stage | module | input → output |
//! |---|---|---|
//! | vocabulary | [`debian`], [`timestamp`], [`env`], [`elf`], [`cleanup`], [`net`] | Debian versions, deb822 stanzas, relationship fields, architectures; dates; environment variables; what ld.so reads from an ELF file; temporaries removed on SIGINT/SIGTERM and swept after SIGKILL; the CA store and HTTP client configuration every fetcher shares |
//! | manifest | [`manifest`] | `debless.toml` → validated [`manifest::Manifest`] |
//! | repository | [`repo`] | mirror + suite → verified `InRelease` → sha256-checked `Packages` indices |
//! | resolution | [`resolve`] | indices + roots → the dependency closure, with why-chains |
//! | lock | [`lock`] | closure → `debless.lock` (canonical TOML, written atomically) |
//! | fetch | [`fetch`] | lock → `.deb` files in a sha256-addressed cache |
//! | registry | [`registry`] | image references → manifests and blobs pulled into a digest cache; layouts pushed |
//! | archives | [`deb`] | `.deb` → control files + data.tar entries |
//! | rootfs | [`rootfs`] | data.tar entries of every package → one checked in-memory tree |
//! | sbom | [`sbom`] | lock + tree → SPDX 2.3 / CycloneDX 1.6 JSON (`build --sbom`), stored in the tree and beside the image |
//! | image | [`oci`] | tree → deterministic layers, config, OCI layout or archive |
//! | check | [`check`] | image tree (in memory, a directory or an OCI layout) → missing shared libraries |
//! | commands | [`cli`] | argument parsing, progress, error rendering |
//!
//! # Files debless reads and writes
//!
//! - `debless.toml`: the user's manifest, read by [`manifest`].
//! - `debless.lock`: written by [`lock`] (`debless lock`), read by `debless build`, which never
//!   resolves again.
//! - the cache (`$DEBLESS_CACHE_DIR`, else `$XDG_CACHE_HOME/debless`, else `~/.cache/debless`):
//!   verified indices and `.deb` files addressed by sha256, laid out in [`fetch`] and [`repo`];
//!   base-image blobs by digest (`oci-blobs-v1/`), laid out in [`registry`]; built layers
//!   and images (`layers-v1/`), laid out in [`oci::layer_cache`]; bounded by `debless cache
//!   prune` ([`ops::cache`]).
//! - the OCI image layout or archive written by [`oci`].
//! - CA certificates for debless's own HTTPS, read by [`net`]: `SSL_CERT_FILE`/`SSL_CERT_DIR`
//!   (default `/etc/ssl/certs`), the manifest's `ca` files, docker's and podman's
//!   `certs.d/<registry>/*.crt`.
//! - SBOMs (`build --sbom`): SPDX / CycloneDX JSON made by [`sbom`], stored under
//!   `/usr/share/sbom/` in the image and beside the `--output` path.

pub mod check;
pub mod cleanup;
pub mod cli;
pub mod deb;
pub mod debian;
pub mod elf;
pub mod env;
pub mod fetch;
pub mod lock;
pub mod manifest;
pub mod net;
pub mod oci;
pub mod ops;
pub mod registry;
pub mod repo;
pub mod resolve;
pub mod rootfs;
pub mod sbom;
pub mod timestamp;
