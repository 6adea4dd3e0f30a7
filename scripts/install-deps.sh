#!/usr/bin/env bash
# Installs the host tools lade's tests drive (Go toolchain, JDK/Maven/Gradle, image tools, runc, a
# registry, qemu).
# Idempotent: each tool is checked first, and `apt-get update` runs at most once, only when
# something is missing. arm64 emulation is optional: what could not be set up is reported,
# never fatal, and the tests say which arm64 check they did.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-deps: not root and no sudo; cannot install anything" >&2
    SUDO=(false)
fi

# "command-or-marker package" pairs. A marker of the form dpkg:NAME means "this Debian package
# is installed" for things that are not a command of their own (or whose command another
# package also ships: Debian's plain `busybox` is dynamic, the tests need the static one).
REQUIRED=(
    "go golang-go"
    "skopeo skopeo"
    "umoci umoci"
    "runc runc"
    "docker-registry docker-registry"
    "oci-image-tool oci-image-tool"
    "qemu-aarch64-static qemu-user-static"
    "update-binfmts binfmt-support"
    "htpasswd apache2-utils"
    "jq jq"
    "curl curl"
    # Progress on a terminal (tests/integration/progress.rs) and a real local engine for
    # `--to docker-daemon:` (tests/integration/engine.rs).
    "tmux tmux"
    "podman podman"
    "openssl openssl"
    "python3 python3"
    "dpkg:busybox-static busybox-static"
    "musl-gcc musl-tools"
    "node nodejs"
    # npm also fetches yarn 4 (@yarnpkg/cli-dist, from the npm registry) into each yarn test's
    # own directory (tests/integration/support/yarn.rs): nothing of yarn is installed here.
    "npm npm"
    "python3.11 python3.11-minimal"
    "dpkg:libpython3.11-stdlib libpython3.11-stdlib"
    # Java: a JDK, Maven and Gradle 4.4 (Debian's), and the Maven plugins and libraries the
    # examples resolve offline from /usr/share/maven-repo (Maven Central is not reachable).
    "javac openjdk-17-jdk-headless"
    "mvn maven"
    "gradle gradle"
    "dpkg:maven-debian-helper maven-debian-helper"
    "dpkg:libmaven-compiler-plugin-java libmaven-compiler-plugin-java"
    "dpkg:libmaven-jar-plugin-java libmaven-jar-plugin-java"
    "dpkg:libmaven-resources-plugin-java libmaven-resources-plugin-java"
    "dpkg:libmaven-install-plugin-java libmaven-install-plugin-java"
    "dpkg:libmaven-clean-plugin-java libmaven-clean-plugin-java"
    "dpkg:libmaven-dependency-plugin-java libmaven-dependency-plugin-java"
    "dpkg:libsurefire-java libsurefire-java"
    "dpkg:libcommons-lang3-java libcommons-lang3-java"
    # A YAML parser lade does not ship: tests/integration/templates.rs reads the CI templates.
    "dpkg:python3-yaml python3-yaml"
    # GNU time (`time` alone is the shell's keyword): scripts/bench-rebase.sh reads lade's CPU time.
    "dpkg:time time"
    # readelf: tests/integration/perf_reuse.rs checks that release binaries are stripped.
    "readelf binutils"
    # scripts/bench-peers.sh: the layer-write peers.
    "pigz pigz"
    "zstd zstd"
)

# >>> registry tests: Python packages from PyPI (the registry engineer fills this in; their
# fixtures under tests/fixtures/registry/ use only the standard library today).
PIP_PACKAGES=(
    # pyspdxtools: the SPDX validator tests/integration/sbom.rs runs on lade's SBOMs.
    spdx-tools
    # CycloneDX's schema validator, run by tests/integration/attach.rs on attached SBOMs.
    "cyclonedx-python-lib[json-validation]"
    # zig (`python3 -m ziglang`): the C compiler and linker lade uses for cgo and C-compiling
    # crates on every platform (tests/integration/native.rs).
    ziglang
)
# <<< registry tests

present() {
    case "$1" in
        dpkg:*) dpkg-query -W -f='${Status}' "${1#dpkg:}" 2>/dev/null | grep -q "ok installed" ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=()
for pair in "${REQUIRED[@]}"; do
    read -r probe pkg <<<"$pair"
    present "$probe" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "install-deps: all tools present"
fi

# Debian 12's python3 is "externally managed" (PEP 668): its pip refuses to install without
# --break-system-packages. As root the packages' commands land in /usr/local/bin.
if [ "${#PIP_PACKAGES[@]}" -gt 0 ]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        "${SUDO[@]}" apt-get update -qq
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    fi
    # The installed check uses the distribution name, without extras ([json-validation]).
    for p in "${PIP_PACKAGES[@]}"; do
        python3 -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "${p%%\[*}" 2>/dev/null \
            || "${SUDO[@]}" python3 -m pip install -q --break-system-packages "$p"
    done
    # Not fatal: lade itself does not need it; the SBOM tests fail loudly without it.
    if ! command -v pyspdxtools >/dev/null 2>&1; then
        echo "install-deps: warning: pyspdxtools (spdx-tools) is not on PATH after pip install; add pip's script directory (/usr/local/bin as root, ~/.local/bin otherwise) to PATH" >&2
    fi
    echo "install-deps: pip packages present (${PIP_PACKAGES[*]})"
fi

# Rust: the musl targets lade builds static images with (rust-lld links them; zig compiles C
# code in crates such as zstd-sys), and the glibc targets of the cc-base tests (zig links the
# other architecture's). Failure is reported, not fatal: the Rust tests then fail and say
# which target is missing.
RUST_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu"
if command -v rustup >/dev/null 2>&1; then
    rustup target add $RUST_TARGETS >/dev/null 2>&1 \
        && echo "install-deps: Rust targets present ($RUST_TARGETS)" \
        || echo "install-deps: rustup target add $RUST_TARGETS failed" >&2
fi

# arm64 emulation through binfmt_misc. Each step may be refused (no privilege to mount, a
# kernel without binfmt_misc, a container): say so and go on.
BINFMT=/proc/sys/fs/binfmt_misc
if [ "$(uname -m)" = aarch64 ]; then
    echo "install-deps: host is arm64, no emulation needed"
elif [ -f "$BINFMT/qemu-aarch64" ] && grep -q '^enabled' "$BINFMT/qemu-aarch64"; then
    echo "install-deps: arm64 emulation already enabled"
else
    if [ ! -f "$BINFMT/register" ]; then
        "${SUDO[@]}" mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
            || echo "install-deps: could not mount binfmt_misc at $BINFMT" >&2
    fi
    if [ -f "$BINFMT/register" ]; then
        "${SUDO[@]}" update-binfmts --enable qemu-aarch64 2>/dev/null \
            || echo "install-deps: update-binfmts --enable qemu-aarch64 failed" >&2
    fi
    if [ -f "$BINFMT/qemu-aarch64" ] && grep -q '^enabled' "$BINFMT/qemu-aarch64"; then
        echo "install-deps: arm64 emulation enabled"
    else
        echo "install-deps: arm64 emulation NOT available; arm64 tests check the ELF header only" >&2
    fi
fi

# Python tests: Debian's arm64 Python packages, unpacked by the tests into an arm64 test base.
# Downloaded with a private apt state so the host's dpkg configuration is left alone.
ARM64_PY_DEBS=/opt/lade-test/arm64-python
if ! ls "$ARM64_PY_DEBS"/*.deb >/dev/null 2>&1; then
    aptdir=$(mktemp -d)
    O=(-o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o "Dir::State::Lists=$aptdir/lists"
       -o "Dir::Cache=$aptdir/cache" -o Debug::NoLocking=1)
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$ARM64_PY_DEBS"
    pkgs=$(sed -n '/^pub const ARM64_PACKAGES/,/^];/p' tests/integration/support/python_base.rs \
        | grep -o '"[^"]*"' | tr -d '"' | sed 's/$/:arm64/')
    if "${SUDO[@]}" apt-get "${O[@]}" update -qq >/dev/null 2>&1 \
        && (cd "$ARM64_PY_DEBS" && "${SUDO[@]}" apt-get "${O[@]}" download $pkgs >/dev/null 2>&1); then
        echo "install-deps: arm64 Python packages in $ARM64_PY_DEBS"
    else
        echo "install-deps: could not download arm64 Python packages; arm64 Python images are checked by ELF headers only" >&2
    fi
    rm -rf "$aptdir"
fi
