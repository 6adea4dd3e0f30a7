//! Command-line definitions. Values that need parsing (platforms, targets) are kept as strings
//! here and parsed by `main` so their errors read like every other lade error.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lade",
    version,
    about = "Build reproducible OCI images of Go, Rust, Node, Python and Java projects without a Dockerfile"
)]
pub struct Cli {
    /// Say more: excluded files, cached layers, each step's command.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Say nothing but errors and the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what lade would do: detector and why, build steps, layers, base, entrypoint.
    Plan {
        #[command(flatten)]
        project: ProjectArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build the project and write the image to every --to.
    Publish {
        #[command(flatten)]
        project: ProjectArgs,
        /// Output: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or
        /// REGISTRY/REPO[:TAG]. Repeatable. Default: $LADE_REPO/NAME:latest, else oci:./lade-out:latest.
        #[arg(long = "to", value_name = "TARGET")]
        to: Vec<String>,
        /// An extra tag for every output. Repeatable.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ProjectArgs {
    /// Project directory.
    #[arg(short = 'C', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Platforms to build, comma separated (linux/amd64,linux/arm64). Default: lade.toml's, else the host's.
    #[arg(long, value_name = "LIST", env = "LADE_PLATFORMS")]
    pub platform: Option<String>,
    /// Base image: scratch or oci:PATH[:TAG]. Default: the detector's choice.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// The main package (Go) or binary to use as entrypoint.
    #[arg(long, value_name = "PKG")]
    pub main: Option<String>,
}
