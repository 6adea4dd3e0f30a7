//! Command-line definitions. Values that need parsing (platforms, targets) are kept as strings
//! here and parsed by `main` so their errors read like every other lade error.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lade",
    version,
    about = "Build reproducible OCI images of Go, Rust, Node, Python and Java projects without a Dockerfile",
    after_help = MAIN_EXAMPLES
)]
pub struct Cli {
    /// Say more: excluded files, cached layers, each step's command.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Say nothing but errors, warnings and the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what lade would do: detector and why, build steps, layers, base, entrypoint,
    /// outputs. Takes every flag publish takes, so a dry run is the same command line.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan {
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build the project and write the image to every --to.
    #[command(visible_alias = "build", after_help = PUBLISH_EXAMPLES)]
    Publish {
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Print the result as JSON on stdout: outputs with tags and digests, each platform's
        /// manifest and sizes, the base, steps, layers and warnings (with several projects,
        /// `projects`: one such entry per project, with its name, status and error).
        #[arg(long)]
        json: bool,
        /// With several projects: how many are built at once. Default: the number of CPUs.
        #[arg(short = 'j', long = "jobs", value_name = "N")]
        jobs: Option<usize>,
    },
    /// Check the cosign signatures of an image in a registry: the index and every platform
    /// manifest must be signed by KEY for this digest and repository. Lists attached artifacts.
    Verify {
        /// REGISTRY/REPO[:TAG] or REGISTRY/REPO@sha256:…
        #[arg(value_name = "REF")]
        reference: String,
        /// PEM public key (ECDSA P-256 or Ed25519).
        #[arg(long, value_name = "PUB.pem")]
        key: PathBuf,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, powershell, elvish) on stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print lade's man page (roff), or with --dir write one page per command into DIR.
    #[command(hide = true)]
    Man {
        /// Write lade.1 and lade-COMMAND.1 pages into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write a commented lade.toml for the project in DIR (default: the current directory)
    /// with what detection found; never overwrites one.
    Init {
        /// The project directory (default: the current directory).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Move an image to a newer base without rebuilding: lade's layers are kept byte for byte,
    /// the base layers and config become the new base's (registry-side: nothing downloaded).
    Rebase(RebaseArgs),
    /// Base images built from Debian 12 packages, without a Dockerfile or RUN.
    Base {
        #[command(subcommand)]
        command: BaseCommand,
    },
    /// A build step of Java plans (shown by `lade plan`): sorts a build's classpath, a jar
    /// or an exploded jar into one directory per layer.
    #[command(hide = true)]
    JavaLayout(JavaLayoutArgs),
    /// A build step: copies project files into a staging directory of lade's build directory.
    #[command(hide = true)]
    Stage {
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Leave out entries with this name (`*` wildcards). Repeatable.
        #[arg(long, value_name = "NAME")]
        skip: Vec<String>,
        /// Paths relative to --from (directories whole); none means everything.
        files: Vec<String>,
    },
    /// A build step of Python plans: writes a lock's pinned requirements for pip.
    #[command(hide = true)]
    PythonRequirements {
        #[arg(long, value_name = "DIR")]
        project: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// A build step of Python plans: removes bytecode and host paths from what pip installed.
    #[command(hide = true)]
    PythonNormalize {
        dir: PathBuf,
        /// The image's interpreter, for console scripts' shebangs.
        #[arg(long)]
        python: String,
    },
    /// A build step of Python plans: native code must be for the image's platform.
    #[command(hide = true)]
    PythonCheckNative {
        dir: PathBuf,
        /// ELF e_machine of the platform.
        #[arg(long)]
        machine: u16,
        #[arg(long)]
        platform: String,
    },
    /// A build step of Node plans: tidies node_modules and checks native packages.
    #[command(hide = true)]
    NodeFinish {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        host: String,
        /// The install was for the host's own platform (install scripts could run).
        #[arg(long)]
        native: bool,
    },
    /// A build step of Node plans: a locked npm install for production written from npm's
    /// download cache when the lockfile allows it, else the npm command given after `--`.
    #[command(hide = true)]
    NpmInstall {
        /// The lockfile in the step's directory (package-lock.json).
        #[arg(long)]
        lockfile: String,
        /// npm's `--cpu`, `--os` and `--libc` of the install.
        #[arg(long)]
        cpu: String,
        #[arg(long)]
        os: String,
        #[arg(long)]
        libc: String,
        /// The npm command that installs the same tree (program first).
        #[arg(last = true, required = true)]
        npm: Vec<String>,
    },
    /// A build step of Rust plans: lists the crates the build links, with their features,
    /// for the SBOM (cargo's resolution for the target).
    #[command(hide = true)]
    CargoCrates {
        #[arg(long)]
        triple: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// A package whose binaries are built. Repeatable.
        #[arg(long = "package", value_name = "NAME")]
        packages: Vec<String>,
        #[arg(long)]
        locked: bool,
        #[arg(long, value_name = "LIST")]
        features: Option<String>,
        #[arg(long)]
        no_default_features: bool,
    },
    /// A build step of native builds: finds zig and writes the cc, c++, ar and ranlib
    /// wrappers for a zig target into a directory.
    #[command(hide = true)]
    ZigWrappers {
        /// zig's target (`aarch64-linux-musl`, `x86_64-linux-gnu.2.36`).
        #[arg(long)]
        target: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// `[build] zig` from lade.toml.
        #[arg(long)]
        zig: Option<String>,
    },
    /// What the zig wrappers run: zig as the C compiler, archiver or linker for a target.
    #[command(hide = true)]
    ZigCc {
        #[arg(long, value_name = "FILE")]
        zig: PathBuf,
        #[arg(long)]
        target: String,
        #[arg(long, value_enum)]
        tool: lade::toolchain::zig::Tool,
        /// The compiler's arguments, after `--`.
        #[arg(last = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// A build step of Gradle plans: writes lade's init script (the `ladeClasspath` task).
    #[command(hide = true)]
    GradleInit {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["classpath_file", "jar", "exploded"]))]
pub struct JavaLayoutArgs {
    /// Directory to write (replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The build tool's runtime classpath, ':' or newline separated.
    #[arg(long, value_name = "FILE", requires = "project_root")]
    pub classpath_file: Option<PathBuf>,
    /// The project's own class output directory. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub classes: Vec<PathBuf>,
    /// Jars under this directory are the project's own modules.
    #[arg(long, value_name = "DIR")]
    pub project_root: Option<PathBuf>,
    /// A prebuilt jar.
    #[arg(long, value_name = "FILE")]
    pub jar: Option<PathBuf>,
    /// An exploded jar directory.
    #[arg(long, value_name = "DIR")]
    pub exploded: Option<PathBuf>,
    /// The class the entrypoint starts; checked to be there.
    #[arg(long, value_name = "CLASS")]
    pub main_class: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum BaseCommand {
    /// Build a distroless-equivalent base (static, cc, python3, nodejs, java) and write it to every --to.
    Build(BaseBuildArgs),
    /// List the bases pinned in lade.lock and lade-base.lock that have newer digests or
    /// packages; exits 1 when one has.
    Outdated(OutdatedArgs),
}

#[derive(Args, Debug)]
pub struct RebaseArgs {
    /// The image: REGISTRY/REPO[:TAG] or oci:DIR[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The new base. Default: the base the image records, resolved again (same tag, newer digest).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Where to write the rebased image (a registry or oci:DIR[:TAG]). Default: IMAGE.
    #[arg(long = "to", value_name = "TARGET")]
    pub to: Option<String>,
    /// An extra tag for the destination. Repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Rebase onto a base of another lineage (repository, Debian release, libc or preset).
    #[arg(long)]
    pub force: bool,
    /// Sign the rebased index and platform manifests with this PEM PKCS#8 private key.
    #[arg(long = "sign-key", value_name = "FILE", env = lade::env::LADE_SIGN_KEY.name())]
    pub sign_key: Option<PathBuf>,
    /// A project whose lade.lock pins the base: its pin moves to the new digest. Repeatable.
    #[arg(short = 'C', long = "dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Attach fresh SBOMs (SPDX, CycloneDX) and provenance to the rebased images even when
    /// the image had none attached (lade's packages come from its attached SBOM). Default:
    /// when the image had them.
    #[arg(long, conflicts_with = "no_attach")]
    pub attach: bool,
    /// Attach no SBOMs or provenance to the rebased images, even when the image had them.
    #[arg(long)]
    pub no_attach: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct OutdatedArgs {
    /// A project directory (its lade.lock and lade-base.lock). Repeatable. Default: `.`.
    #[arg(short = 'C', long = "dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Debian archive for bookworm and bookworm-updates (for lade-base.lock).
    #[arg(long, value_name = "URL", env = lade::env::LADE_DEBIAN_MIRROR.name(), default_value = lade::debian::DEFAULT_MIRROR)]
    pub debian_mirror: String,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct BaseBuildArgs {
    /// static, cc, python3, nodejs or java; PRESET:root for the root variant.
    #[arg(value_name = "PRESET")]
    pub preset: String,
    /// An extra Debian package, installed with its dependencies. Repeatable, or comma separated.
    #[arg(long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// The root variant (User 0) instead of nonroot (User 65532, WorkingDir /home/nonroot).
    #[arg(long)]
    pub root: bool,
    /// Platforms, comma separated (linux/amd64,linux/arm64). Default: the host's.
    #[arg(long, value_name = "LIST", env = lade::env::LADE_PLATFORMS.name())]
    pub platform: Option<String>,
    /// Output: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or
    /// REGISTRY/REPO[:TAG]. Repeatable.
    #[arg(long = "to", value_name = "TARGET", required = true)]
    pub to: Vec<String>,
    /// Debian archive for bookworm and bookworm-updates.
    #[arg(long, value_name = "URL", env = lade::env::LADE_DEBIAN_MIRROR.name(), default_value = lade::debian::DEFAULT_MIRROR)]
    pub debian_mirror: String,
    /// Debian security archive. Default: debian-security beside --debian-mirror.
    #[arg(long, value_name = "URL", env = lade::env::LADE_DEBIAN_SECURITY_MIRROR.name())]
    pub debian_security_mirror: Option<String>,
    /// Trust this keyring (armored or binary) instead of the Debian archive keys lade ships.
    #[arg(long, value_name = "FILE")]
    pub debian_keyring: Option<PathBuf>,
    /// Do not check the archive's signatures (the output says they were not checked).
    #[arg(long)]
    pub no_verify_signatures: bool,
    /// Lock file: used when it pins this preset and these packages, else written.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Resolve packages again and rewrite --lock.
    #[arg(long, requires = "lock")]
    pub update: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// How registries are reached, for pushes and for bases.
#[derive(Args, Debug, Default)]
pub struct RegistryArgs {
    /// Allow plain HTTP or an unverified certificate for HOST[:PORT]. Repeatable.
    /// (Loopback registries may use plain HTTP without it.)
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = lade::env::LADE_INSECURE_REGISTRIES.name(),
        value_delimiter = ','
    )]
    pub insecure: Vec<String>,
    /// Trust the CA certificates in this PEM file for every registry. Repeatable.
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub cas: Vec<PathBuf>,
    /// Pull FROM's images from TO first (e.g. docker.io=mirror.internal:5000). Repeatable;
    /// LADE_REGISTRY_MIRRORS adds more, comma separated.
    #[arg(long = "registry-mirror", value_name = "FROM=TO")]
    pub mirrors: Vec<String>,
    /// Blob uploads and downloads in flight at once.
    #[arg(long = "registry-concurrency", value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(Args, Debug)]
pub struct ProjectArgs {
    /// Project directory (default: the current directory). Same as -C. Several, or a
    /// directory whose lade.toml has `[workspace] members`, publish several projects.
    #[arg(value_name = "DIR")]
    pub paths: Vec<PathBuf>,
    /// Project directory. Repeatable, as DIR.
    #[arg(short = 'C', long = "dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// A package inside the project directory, as a path relative to it (`-C ROOT --project
    /// apps/web`): the image is that package's; lade finds the workspace around it.
    /// Repeatable: each package is a project of its own.
    #[arg(long = "project", value_name = "PATH")]
    pub projects: Vec<PathBuf>,
    /// Platforms to build, comma separated (linux/amd64,linux/arm64), or `all`: every platform
    /// the base has that the project's toolchain builds. Default: lade.toml's, else the host's.
    #[arg(long, value_name = "LIST", env = lade::env::LADE_PLATFORMS.name())]
    pub platform: Option<String>,
    /// Base image: scratch, oci:PATH[:TAG] or a registry reference
    /// (gcr.io/distroless/static-debian12:nonroot, alpine@sha256:…). Default: the detector's choice.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// The main package (Go) or binary to use as entrypoint.
    #[arg(long, value_name = "PKG")]
    pub main: Option<String>,
    /// A label of the image config, over lade.toml's `labels`. Repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// An annotation of the manifests and index, over lade.toml's `annotations`. Repeatable.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// An environment variable of the image, over lade.toml's `env`. Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
}

/// Where the image goes and what goes with it: publish's flags, which plan checks without
/// writing anything.
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Output: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or
    /// REGISTRY/REPO[:TAG]. Repeatable. Default: $LADE_REPO/NAME:latest, else oci:./lade-out:latest.
    /// `{name}` is replaced by the project's name; with several projects every --to must hold
    /// it (REGISTRY/team/{name}, oci:./out:{name}); their default is oci:./lade-out:NAME.
    #[arg(long = "to", value_name = "TARGET")]
    pub to: Vec<String>,
    /// An extra tag for every output. Repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Write each output's reference (REPO@sha256:… for registries, oci:DIR:TAG for layouts)
    /// to FILE, one per line, then the references of the artifacts attached to them and of
    /// their signatures.
    #[arg(long = "image-refs", value_name = "FILE")]
    pub image_refs: Option<PathBuf>,
    /// Resolve a registry base's tag again instead of using the digest pinned in lade.lock.
    #[arg(long = "refresh-base")]
    pub refresh_base: bool,
    /// Write an SPDX 2.3 JSON SBOM for every platform image into DIR
    /// (NAME-OS-ARCH[-VARIANT].spdx.json): packages from the image's jars, Python and npm
    /// packages, Debian status files and the project's Cargo.lock.
    #[arg(long, value_name = "DIR")]
    pub sbom: Option<PathBuf>,
    /// Skip the check that the image's entrypoint (and its interpreter) is in the image
    /// and executable; a warning says it was skipped.
    #[arg(long = "no-verify")]
    pub no_verify: bool,
    /// Do not attach SBOMs (SPDX, CycloneDX) and provenance to registry and OCI layout
    /// outputs (attached by default as OCI 1.1 referrers of each platform image).
    #[arg(long = "no-attach")]
    pub no_attach: bool,
    /// Layer compression: gzip (read by every runtime) or zstd (smaller and much faster
    /// to write; needs containerd ≥ 1.5 or Docker ≥ 23). Both are reproducible.
    #[arg(long, value_name = "gzip|zstd", default_value = "gzip")]
    pub compression: lade::layer::Compression,
    /// The compression level of lade's layers: gzip 1–9 (6 by default), zstd 1–19 (3 by
    /// default). Lower is faster to write, higher smaller to pull; either is reproducible.
    #[arg(long = "compression-level", value_name = "N")]
    pub compression_level: Option<u32>,
    /// A registry repository shared by every machine that publishes the project as a build
    /// cache: layers found there (by a key of everything that makes them) are not built
    /// again, and the layers this publish makes are recorded there. Over lade.toml's
    /// `[build] cache-repo`.
    #[arg(long = "cache-repo", value_name = "REGISTRY/REPOSITORY")]
    pub cache_repo: Option<String>,
    /// Sign each registry output's index and platform manifests with this PEM PKCS#8
    /// private key (ECDSA P-256 or Ed25519), as cosign does (`sha256-<digest>.sig` tags).
    #[arg(long = "sign-key", value_name = "FILE", env = lade::env::LADE_SIGN_KEY.name())]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

const MAIN_EXAMPLES: &str = "\
Examples:
  lade plan                                  what would be built, without building
  lade publish examples/go-hello             build and write oci:./lade-out:latest
  lade publish . --to registry.example/app:v1 --platform linux/amd64,linux/arm64
  source <(lade completions bash)            completions for this shell";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  source <(lade completions bash)                        this bash session
  lade completions bash > ~/.local/share/bash-completion/completions/lade
  lade completions zsh > \"${fpath[1]}/_lade\"
  lade completions fish > ~/.config/fish/completions/lade.fish
  lade completions powershell >> $PROFILE";

const PLAN_EXAMPLES: &str = "\
Examples:
  lade plan                                  the project in the current directory
  lade plan examples/go-hello --json         as JSON, for scripts
  lade plan . --platform all                 which platforms `all` resolves to
  lade plan . --to registry.example/app --tag v1.2.0
                                             check a publish's flags without building";

const PUBLISH_EXAMPLES: &str = "\
Examples:
  lade publish                               to $LADE_REPO/NAME:latest, else oci:./lade-out:latest
  lade publish examples/go-hello --to oci:./out:v1
  lade publish . --platform linux/amd64,linux/arm64 --to registry.example/team/app:v1
  lade publish . --to registry.example/app --tag $GIT_SHA --label team=payments --json
  lade publish . --to docker-archive:app.tar:app:dev    then: docker load -i app.tar
  lade publish services/api services/web -j 2 --to registry.example/team/{name}:v1
                                             several projects, two at a time";
