//! The `lade` binary: parse arguments, call an operation, print its result. Errors are printed
//! as one line (`error: …` with the cause chain) and exit with status 1; warnings the library
//! raises are printed as `lade: warning: …` lines as they happen, even with `-q`.

mod cli;

use anyhow::Context;
use clap::Parser;
use cli::{BaseBuildArgs, BaseCommand, Cli, Command, ProjectArgs, RegistryArgs};
use lade::ops::plan::PlanOptions;
use lade::ops::publish::{Event, PublishOptions};
use lade::sink::Target;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let warnings = lade::warnings::Warnings::new();
    install_warnings(&warnings);
    match run(cli, &warnings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings go to stderr whatever `-q` says: they are about the result, not progress.
fn install_warnings(warnings: &lade::warnings::Warnings) {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber =
        tracing_subscriber::registry().with(warnings.layer(|w| eprintln!("lade: warning: {w}")));
    // Only fails when a subscriber is already installed, and nothing else installs one.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn run(cli: Cli, warnings: &lade::warnings::Warnings) -> anyhow::Result<()> {
    match cli.command {
        Command::Plan { project, json } => {
            let plan = lade::ops::plan::plan(&plan_options(project)?)?;
            if json {
                stdout(&serde_json::to_string_pretty(&plan).context("encoding the plan")?)?;
            } else {
                stdout(plan.render().trim_end())?;
            }
            Ok(())
        }
        Command::Publish {
            project,
            to,
            tags,
            json,
            image_refs,
            refresh_base,
            sbom,
            no_verify,
            sign_key,
            no_attach,
            compression,
            registry,
        } => {
            let opts = PublishOptions {
                plan: plan_options(project)?,
                targets: to
                    .iter()
                    .map(|t| Target::parse(t))
                    .collect::<Result<_, _>>()?,
                tags,
                registry: registry_options(registry)?,
                refresh_base,
                image_refs,
                sbom,
                no_verify,
                sign_key,
                no_attach,
                compression,
            };
            let (verbose, quiet) = (cli.verbose, cli.quiet);
            match lade::ops::publish::publish(&opts, |e| progress(e, verbose, quiet)) {
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
        Command::Verify {
            reference,
            key,
            json,
            registry,
        } => verify(reference, key, json, registry),
        Command::Base {
            command: BaseCommand::Build(args),
        } => base_build(args, cli.verbose, cli.quiet, warnings),
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
        Command::GradleInit { out } => step(lade::tasks::gradle_init_script(&out)),
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
        for reference in report.written() {
            stdout(reference)?;
        }
    }
    Ok(())
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

fn plan_options(p: ProjectArgs) -> anyhow::Result<PlanOptions> {
    let platforms = match &p.platform {
        Some(s) => Some(lade::platform::parse_list(s).context("--platform")?),
        None => None,
    };
    Ok(PlanOptions {
        dir: p.dir,
        platforms,
        base: p.base,
        main: p.main,
    })
}

/// Registry settings: the environment's (credentials, LADE_REGISTRY_MIRRORS) under the flags.
fn registry_options(r: RegistryArgs) -> anyhow::Result<lade::registry::RegistryOptions> {
    let mut o = lade::registry::RegistryOptions::from_env()?;
    let mut mirrors = Vec::new();
    for m in &r.mirrors {
        mirrors.push(
            m.parse::<lade::oci::Mirror>()
                .map_err(|e| anyhow::anyhow!("--registry-mirror: {e}"))?,
        );
    }
    // Flags first: they are tried before the environment's mirrors.
    mirrors.append(&mut o.mirrors);
    o.mirrors = mirrors;
    o.insecure = r.insecure;
    o.cas = r.cas;
    // Checked now: a publish to OCI layouts from a local base never connects, and would
    // otherwise ignore a CA file that is missing or not PEM.
    for f in &o.cas {
        lade::registry::transport::load_pem(f)
            .map_err(|e| anyhow::anyhow!("--registry-ca: {e}"))?;
    }
    if r.concurrency == 0 {
        anyhow::bail!("--registry-concurrency must be at least 1");
    }
    o.concurrency = r.concurrency;
    Ok(o)
}

/// Progress goes to stderr so stdout carries only the result.
fn progress(e: Event, verbose: bool, quiet: bool) {
    // Said even with -q: the summary error line only names the failed outputs.
    if let Event::OutputFailed(target, e) = &e {
        eprintln!(
            "lade: {target}: failed: {}",
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
            eprintln!(
                "lade: {} project '{}' ({})",
                plan.detector,
                plan.name,
                why.join(", ")
            );
            if verbose {
                for e in &plan.excluded {
                    eprintln!("lade: excluded {} by {}", e.path, e.reason);
                }
            }
        }
        Event::BaseResolved(b) => match &b.digest {
            Some(d) => eprintln!("lade: base {} resolved to {d}", b.name),
            None => eprintln!("lade: base {}", b.name),
        },
        Event::StepReused(_, s) => {
            eprintln!(
                "lade: {}: inputs unchanged since its last run, reused",
                s.description
            );
        }
        Event::Step(p, s) => {
            if verbose {
                eprintln!("lade: [{p}] {} {}", s.program, s.args.join(" "));
            } else {
                eprintln!("lade: {}", s.description);
            }
        }
        Event::Layer(l) => {
            if verbose || !l.cached {
                let how = if l.cached { "cached" } else { "written" };
                eprintln!(
                    "lade: [{}] layer {} {} ({} bytes, {how})",
                    l.platform, l.name, l.digest, l.size
                );
            }
        }
        Event::Output(o) => match &o.stats {
            Some(s) => eprintln!(
                "lade: pushed {} ({}): {} blobs uploaded ({} bytes), {} already there, {} mounted",
                o.target,
                o.digest,
                s.blobs_uploaded,
                s.bytes_uploaded,
                s.blobs_present,
                s.blobs_mounted
            ),
            None => eprintln!("lade: wrote {} ({})", o.target, o.digest),
        },
        Event::Sbom(path) => eprintln!("lade: wrote SBOM {}", path.display()),
        Event::Signed(s) => {
            if verbose || s.pushed {
                let how = if s.pushed { "signed" } else { "already signed" };
                eprintln!("lade: {how} {}@{} ({})", s.repository, s.digest, s.tag);
            }
        }
        Event::Attached(a) => {
            if verbose || a.stats.manifests_pushed > 0 {
                eprintln!(
                    "lade: attached {} artifact(s) to {} ({} new)",
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
                eprintln!("lade: base {name} pinned to {d} by lade.lock (--refresh-base to update)")
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
        if let Some(line) = e.describe(verbose).filter(|_| !quiet) {
            eprintln!("lade: {line}");
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
            eprintln!("lade: {line}");
        }
    }
    for o in &report.outputs {
        stdout(&o.reference)?;
    }
    Ok(())
}
