//! The `lade` binary: parse arguments, call an operation, print its result. Errors are printed
//! as one line (`error: …` with the cause chain) and exit with status 1; warnings the library
//! raises are printed as `lade: warning: …` lines as they happen, even with `-q`.

mod cli;
mod cli_rebase;
mod options;
mod render;

/// `eprintln!` for lade's own lines: written above any live progress lines.
macro_rules! say {
    ($($t:tt)*) => { render::line(&format!($($t)*)) };
}

use anyhow::Context;
use clap::Parser;
use cli::{BaseBuildArgs, BaseCommand, Cli, Command, RegistryArgs};
use lade::ops::publish::Event;
use lade::sink::Target;
use options::{publish_options, registry_options};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    render::install(cli.verbose, cli.quiet);
    let warnings = lade::warnings::Warnings::new();
    install_warnings(&warnings);
    match run(cli, &warnings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            render::clear();
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings go to stderr whatever `-q` says: they are about the result, not progress.
fn install_warnings(warnings: &lade::warnings::Warnings) {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber =
        tracing_subscriber::registry().with(warnings.layer(|w| say!("lade: warning: {w}")));
    // Only fails when a subscriber is already installed, and nothing else installs one.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn run(cli: Cli, warnings: &lade::warnings::Warnings) -> anyhow::Result<()> {
    match cli.command {
        Command::Plan {
            project,
            output,
            json,
        } => {
            if let Some(dirs) = lade::ops::multi::projects(&options::project_dirs(&project)?)? {
                let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                anyhow::bail!(
                    "lade plan takes one project and these are {}: {}; plan one of them (lade plan DIR)",
                    dirs.len(),
                    list.join(", ")
                );
            }
            let dry = lade::ops::plan::dry_run(&publish_options(project, output)?)?;
            if json {
                stdout(&serde_json::to_string_pretty(&dry).context("encoding the plan")?)?;
            } else {
                stdout(dry.render().trim_end())?;
            }
            Ok(())
        }
        Command::Publish {
            project,
            output,
            json,
            jobs,
        } => {
            let dirs = options::project_dirs(&project)?;
            if let Some(dirs) = lade::ops::multi::projects(&dirs)? {
                let mut opts = options::multi_options(project, output, dirs, jobs)?;
                opts.publish.progress = render::reporter();
                return publish_many(&opts, json, (cli.verbose, cli.quiet), warnings);
            }
            // -j N holds trivially for one project; a script may pass it whatever it publishes.
            if jobs == Some(0) {
                anyhow::bail!("-j must be at least 1");
            }
            let mut opts = publish_options(project, output)?;
            opts.progress = render::reporter();
            let (verbose, quiet) = (cli.verbose, cli.quiet);
            match lade::ops::publish::publish(&opts, |e| progress(e, verbose, quiet, "")) {
                Ok(mut report) => publish_result(&mut report, json, warnings),
                // Some outputs were written: say which, as for a success, then fail.
                Err(e) => match e.downcast::<lade::ops::publish::OutputsFailed>() {
                    Ok(mut f) => {
                        publish_result(&mut f.report, json, warnings)?;
                        Err(f.into())
                    }
                    Err(e) => Err(e),
                },
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "lade",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { dir } => man(dir),
        Command::Verify {
            reference,
            key,
            json,
            registry,
        } => verify(reference, key, json, registry),
        Command::Init { dir } => {
            let done = lade::ops::init::init(dir)?;
            stdout(&format!(
                "wrote {} ({} project '{}'): edit it to change what lade detected",
                done.path.display(),
                done.plan.detector,
                done.plan.name
            ))
        }
        Command::Base {
            command: BaseCommand::Build(args),
        } => base_build(args, cli.verbose, cli.quiet, warnings),
        Command::Base {
            command: BaseCommand::Outdated(args),
        } => cli_rebase::outdated(args, registry_options),
        Command::Rebase(args) => cli_rebase::rebase(args, cli.quiet, warnings, registry_options),
        Command::JavaLayout(args) => {
            if let Err(e) = java_layout(args) {
                eprintln!("lade: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Stage {
            from,
            to,
            skip,
            files,
        } => step(lade::tasks::stage::stage(&from, &to, &files, &skip)),
        Command::PythonRequirements { project, out } => {
            step(lade::tasks::python::requirements(&project, &out))
        }
        Command::PythonNormalize { dir, python } => {
            step(lade::tasks::python::normalize(&dir, &python))
        }
        Command::PythonCheckNative {
            dir,
            machine,
            platform,
        } => step(lade::tasks::python::check_native(&dir, machine, &platform)),
        Command::NodeFinish {
            platform,
            host,
            native,
        } => step(lade::tasks::node::finish(
            std::path::Path::new("."),
            &platform,
            &host,
            native,
        )),
        Command::NpmInstall {
            lockfile,
            cpu,
            os,
            libc,
            npm,
        } => step(lade::tasks::npm_install::install(
            std::path::Path::new("."),
            &lade::tasks::npm_install::Request {
                lockfile: &lockfile,
                platform: lade::detect::node::npm_lock::NpmPlatform { cpu, os, libc },
                npm: &npm,
            },
            // The step's output goes to its log.
            |line| println!("lade: {line}"),
        )),
        Command::GradleInit { out } => step(lade::tasks::gradle_init_script(&out)),
        Command::CargoCrates {
            triple,
            out,
            packages,
            locked,
            features,
            no_default_features,
        } => step(lade::tasks::cargo::crates(
            &lade::tasks::cargo::Selection {
                triple,
                packages,
                locked,
                features,
                no_default_features,
            },
            &out,
        )),
        Command::ZigWrappers { target, out, zig } => step(
            lade::toolchain::zig::write_wrappers(&out, &target, zig.as_deref()).map_err(Into::into),
        ),
        Command::ZigCc {
            zig,
            target,
            tool,
            args,
        } => Err(lade::toolchain::zig::exec(&zig, tool, &target, args).into()),
    }
}

/// Prints what was found; each broken check is one `lade: check failed:` line on stderr,
/// then one `error:` line, and the exit status is 1.
fn verify(
    reference: String,
    key: std::path::PathBuf,
    json: bool,
    r: RegistryArgs,
) -> anyhow::Result<()> {
    let opts = lade::ops::verify::VerifyOptions {
        reference,
        key,
        registry: registry_options(r)?,
    };
    let report = lade::ops::verify::verify(&opts)?;
    if json {
        stdout(&serde_json::to_string_pretty(&report).context("encoding the report")?)?;
    } else {
        for line in report.lines() {
            stdout(&line)?;
        }
    }
    let failures = report.failures();
    // Not silenced by -q: they are the result.
    for f in &failures {
        eprintln!("lade: check failed: {f}");
    }
    if !report.ok() {
        anyhow::bail!(
            "{} is not verified: {} check(s) failed",
            report.reference,
            failures.len()
        );
    }
    Ok(())
}

/// Prints what a publish wrote: the report with `--json`, else one reference per line.
fn publish_result(
    report: &mut lade::ops::publish::PublishReport,
    json: bool,
    warnings: &lade::warnings::Warnings,
) -> anyhow::Result<()> {
    report.warnings = warnings.said();
    if json {
        stdout(&serde_json::to_string_pretty(&report).context("encoding the report")?)?;
    } else {
        for line in report.lines() {
            stdout(&line)?;
        }
    }
    Ok(())
}

/// Publishes several projects: one result line per image, prefixed by its project's name,
/// or `--json`; each failed project is said on stderr and the command fails naming them all.
fn publish_many(
    opts: &lade::ops::multi::MultiOptions,
    json: bool,
    (verbose, quiet): (bool, bool),
    warnings: &lade::warnings::Warnings,
) -> anyhow::Result<()> {
    let mut report = lade::ops::multi::publish_all(opts, &|name, e| {
        progress(e, verbose, quiet, &format!("{name}: "))
    })?;
    report.warnings = warnings.said();
    for p in report.failed() {
        say!(
            "lade: {}: failed: {}",
            p.name,
            p.error.as_deref().unwrap_or_default()
        );
    }
    if json {
        stdout(&serde_json::to_string_pretty(&report).context("encoding the report")?)?;
    } else {
        for line in report.lines() {
            stdout(&line)?;
        }
    }
    let failed: Vec<&str> = report.failed().map(|p| p.name.as_str()).collect();
    let total = report.projects.len();
    match failed.len() {
        0 => Ok(()),
        n if n == total => anyhow::bail!(
            "all {total} projects failed: {} (each said above)",
            failed.join(", ")
        ),
        n => anyhow::bail!(
            "{n} of {total} projects failed: {} (each said above); the others were published",
            failed.join(", ")
        ),
    }
}

/// The result of one of lade's own build steps. Its failure is printed as `lade: …`, not
/// `error: …`: the publish that ran the step prints the one error line, naming the step.
fn step(result: Result<(), lade::tasks::TaskError>) -> anyhow::Result<()> {
    if let Err(e) = result {
        eprintln!("lade: {:#}", anyhow::Error::new(e));
        std::process::exit(1);
    }
    Ok(())
}

fn java_layout(a: cli::JavaLayoutArgs) -> anyhow::Result<()> {
    use lade::java::{LayoutInput, LayoutRequest};
    let input = match (a.classpath_file, a.jar, a.exploded) {
        (Some(classpath_file), _, _) => LayoutInput::Build {
            // clap requires --project-root with --classpath-file.
            project_root: a.project_root.unwrap_or_default(),
            classes: a.classes,
            classpath_file,
        },
        (None, Some(jar), _) => LayoutInput::Jar(jar),
        (None, None, Some(dir)) => LayoutInput::Exploded(dir),
        (None, None, None) => {
            anyhow::bail!("java-layout: give --classpath-file, --jar or --exploded")
        }
    };
    let report = lade::java::write_layout(&LayoutRequest {
        out: a.out.clone(),
        input,
        main_class: a.main_class,
    })
    .with_context(|| format!("laying out the Java application in {}", a.out.display()))?;
    eprintln!(
        "lade: {} layout for {}: {}",
        report.kind,
        report.main_class,
        report.layers.join(", ")
    );
    Ok(())
}

/// Writes one line of the result; a closed pipe (`lade plan | head`) is not an error.
fn stdout(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// `lade man`: the page of `lade` on stdout, or with `--dir` one page per command there.
fn man(dir: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("--dir {}: creating it", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("--dir {}: writing man pages", dir.display()))
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .context("rendering the man page")?;
            stdout(String::from_utf8_lossy(&page).trim_end())
        }
    }
}

/// Progress goes to stderr so stdout carries only the result.
/// `who` names the project (`api: `) when several are published.
fn progress(e: Event, verbose: bool, quiet: bool, who: &str) {
    // Said even with -q: the summary error line only names the failed outputs.
    if let Event::OutputFailed(target, e) = &e {
        say!(
            "lade: {who}{target}: failed: {}",
            lade::ops::publish::output_error(target, e)
        );
        return;
    }
    if quiet {
        return;
    }
    match e {
        Event::Planned(plan) => {
            let why: Vec<&str> = plan.reasons.iter().map(|r| r.file.as_str()).collect();
            say!(
                "lade: {who}{} project '{}' ({})",
                plan.detector,
                plan.name,
                why.join(", ")
            );
            if verbose {
                for e in &plan.excluded {
                    say!("lade: {who}excluded {} by {}", e.path, e.reason);
                }
            }
        }
        Event::BaseResolved(b) => match &b.digest {
            Some(d) => say!("lade: {who}base {} resolved to {d}", b.name),
            None => say!("lade: {who}base {}", b.name),
        },
        Event::StepReused(_, s) => {
            say!(
                "lade: {who}{}: inputs unchanged since its last run, reused",
                s.description
            );
        }
        // The step's live line (or timestamped lines) come from its progress task.
        Event::Step(p, s) => {
            if verbose {
                say!(
                    "lade: {who}[{p}] {}",
                    render::command_line(&s.program, &s.args)
                );
            }
        }
        Event::Layer(l) => {
            if verbose || !l.cached {
                let how = if l.cached { "cached" } else { "written" };
                say!(
                    "lade: {who}[{}] layer {} {} ({} bytes, {how})",
                    l.platform,
                    l.name,
                    l.digest,
                    l.size
                );
            }
        }
        Event::Output(o) => match &o.stats {
            Some(s) => say!(
                "lade: {who}pushed {} ({}): {} blobs uploaded ({} bytes), {} already there, {} mounted",
                o.target,
                o.digest,
                s.blobs_uploaded,
                s.bytes_uploaded,
                s.blobs_present,
                s.blobs_mounted
            ),
            None => say!("lade: {who}wrote {} ({})", o.target, o.digest),
        },
        Event::Sbom(path) => say!("lade: {who}wrote SBOM {}", path.display()),
        Event::Signed(s) => {
            if verbose || s.pushed {
                let how = if s.pushed { "signed" } else { "already signed" };
                say!("lade: {who}{how} {}@{} ({})", s.repository, s.digest, s.tag);
            }
        }
        Event::Attached(a) => {
            if verbose || a.stats.manifests_pushed > 0 {
                say!(
                    "lade: {who}attached {} artifact(s) to {} ({} new)",
                    a.artifacts.len(),
                    a.target,
                    a.stats.manifests_pushed
                );
            }
        }
        // Said above, whatever -q says.
        Event::OutputFailed(..) => {}
        Event::BaseLocked(name, d) => {
            if verbose {
                say!("lade: {who}base {name} pinned to {d} by lade.lock (--refresh-base to update)")
            }
        }
    }
}

fn base_build(
    a: BaseBuildArgs,
    verbose: bool,
    quiet: bool,
    warnings: &lade::warnings::Warnings,
) -> anyhow::Result<()> {
    use lade::base_spec::BaseSpec;
    use lade::debian::DebianOptions;
    use lade::ops::base::BaseBuildOptions;
    let platforms = match &a.platform {
        Some(s) => lade::platform::parse_list(s).context("--platform")?,
        None => vec![
            lade::platform::Platform::host()
                .context("--platform: the host's platform is not one lade knows")?,
        ],
    };
    let mut debian = DebianOptions::new(lade::ops::cache_dir());
    debian.mirror = a.debian_mirror;
    debian.security_mirror = a.debian_security_mirror;
    debian.keyring = a.debian_keyring;
    debian.verify_signatures = !a.no_verify_signatures;
    debian.lock = a.lock;
    debian.update = a.update;
    debian.epoch = lade::git::source_date_epoch_or_zero()?;
    debian.progress = render::reporter();
    let opts = BaseBuildOptions {
        spec: BaseSpec::parse(&a.preset, &a.packages, a.root)?,
        platforms,
        targets: a
            .to
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<_, _>>()?,
        debian,
    };
    let mut report = lade::ops::base::build(&opts, |e| {
        // A failed output is said whatever -q says: the error line only counts them.
        let always = matches!(e, lade::ops::base::BaseEvent::OutputFailed(..));
        if let Some(line) = e.describe(verbose).filter(|_| always || !quiet) {
            say!("lade: {line}");
        }
    })?;
    if a.json {
        // Not before the summary below: these were printed when they happened.
        report.build.warnings.extend(warnings.said());
        stdout(&serde_json::to_string_pretty(&report).context("encoding the report")?)?;
        return Ok(());
    }
    if !quiet {
        for line in report.summary(verbose) {
            say!("lade: {line}");
        }
    }
    for o in &report.outputs {
        stdout(&lade::sink::result_line(&o.reference, &o.digest))?;
    }
    Ok(())
}
