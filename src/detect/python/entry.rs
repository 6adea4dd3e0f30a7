//! The image's entrypoint: Procfile `web:`, else a console script the project declares, else
//! a `__main__.py`, else main.py/app.py/server.py. Commands are argv lists run without a shell
//! (distroless has none); a Procfile command that uses `$VAR` is run through a few lines of
//! Python that expand variables and exec it, so `--bind 0.0.0.0:$PORT` works.

/// The interpreter path in the base. Debian and distroless both have /usr/bin/python3.
pub const PYTHON: &str = "/usr/bin/python3";

/// Expands environment variables in the command line, splits it as a shell would and execs it:
/// a shell-free stand-in for `sh -c` that Procfile commands with `$PORT` need.
const EXPAND_AND_EXEC: &str =
    "import os,shlex,sys; a=shlex.split(os.path.expandvars(sys.argv[1])); os.execvp(a[0],a)";

/// What the project offers as entry points, in the order they are considered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Candidates {
    /// The Procfile's text, when there is one.
    pub procfile: Option<String>,
    /// Console scripts the project declares (`[project.scripts]`, `[tool.poetry.scripts]`).
    pub scripts: Vec<String>,
    /// The project's name, to pick among several scripts.
    pub name: String,
    /// `__main__.py` at the root → run the directory; or a package (`pkg`) with one.
    pub root_main: bool,
    pub main_package: Option<String>,
    /// The first of main.py, app.py, server.py present at the root.
    pub script_file: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub argv: Vec<String>,
    /// Which file decided it, for the plan's reasons.
    pub from: String,
}

/// Picks the entrypoint; `Err` explains why there is none.
pub fn choose(c: &Candidates, app_dir: &str) -> Result<Choice, String> {
    if let Some(text) = &c.procfile
        && let Some(cmd) = procfile_web(text)
    {
        return Ok(Choice {
            argv: command_argv(&cmd)?,
            from: "Procfile".into(),
        });
    }
    let script = match c.scripts.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => many.iter().find(|s| **s == c.name).cloned(),
    };
    if let Some(s) = script {
        return Ok(Choice {
            argv: vec![s],
            from: "pyproject.toml".into(),
        });
    }
    if c.root_main {
        return Ok(Choice {
            argv: vec![PYTHON.into(), app_dir.into()],
            from: "__main__.py".into(),
        });
    }
    if let Some(p) = &c.main_package {
        return Ok(Choice {
            argv: vec![PYTHON.into(), "-m".into(), p.clone()],
            from: format!("{p}/__main__.py"),
        });
    }
    if let Some(f) = &c.script_file {
        return Ok(Choice {
            argv: vec![PYTHON.into(), format!("{app_dir}/{f}")],
            from: f.clone(),
        });
    }
    let mut why = String::from("no entry point: ");
    if c.procfile.is_some() {
        why.push_str("the Procfile has no `web:` process, and ");
    }
    if c.scripts.len() > 1 {
        why.push_str(&format!(
            "several console scripts ({}) and none named like the project, and ",
            c.scripts.join(", ")
        ));
    }
    why.push_str("there is no __main__.py, main.py, app.py or server.py; add a Procfile line `web: COMMAND`, or set entrypoint in lade.toml");
    Err(why)
}

/// The command of the Procfile's `web` process.
pub fn procfile_web(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (name, cmd) = l.split_once(':')?;
        (name.trim() == "web" && !cmd.trim().is_empty()).then(|| cmd.trim().to_string())
    })
}

/// argv for a Procfile command: split like a shell when it is plain words; through
/// [`EXPAND_AND_EXEC`] when it uses variables. Pipes, `&&` and redirections need a real shell,
/// which the base does not have.
pub fn command_argv(cmd: &str) -> Result<Vec<String>, String> {
    if cmd.contains(['|', '&', ';', '<', '>', '`']) {
        return Err(format!(
            "Procfile web command `{cmd}` needs a shell (pipes, `&&`, `;` or redirections), and the Python base has none; run one program, or set entrypoint in lade.toml"
        ));
    }
    if cmd.contains('$') {
        return Ok(vec![
            PYTHON.into(),
            "-c".into(),
            EXPAND_AND_EXEC.into(),
            cmd.into(),
        ]);
    }
    split_words(cmd)
}

/// Shell-like word splitting with single and double quotes and backslash escapes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated ' in `{s}`")),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated \" in `{s}`")),
                    }
                }
            }
            '\\' => cur.get_or_insert_with(String::new).extend(chars.next()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands() -> Candidates {
        Candidates {
            name: "svc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn procfile_web_wins() {
        let c = Candidates {
            procfile: Some("worker: celery\nweb: gunicorn 'app:create()' -w 2\n".into()),
            script_file: Some("main.py".into()),
            ..cands()
        };
        let ch = choose(&c, "/app").unwrap();
        assert_eq!(ch.argv, ["gunicorn", "app:create()", "-w", "2"]);
        assert_eq!(ch.from, "Procfile");
        let ch = command_argv("gunicorn -b 0.0.0.0:$PORT app:app").unwrap();
        assert_eq!(ch[0], PYTHON);
        assert_eq!(ch[3], "gunicorn -b 0.0.0.0:$PORT app:app");
        assert!(command_argv("a && b").unwrap_err().contains("shell"));
    }

    #[test]
    fn order_after_the_procfile() {
        let mut c = Candidates {
            scripts: vec!["tool".into(), "svc".into()],
            root_main: true,
            script_file: Some("app.py".into()),
            ..cands()
        };
        assert_eq!(choose(&c, "/app").unwrap().argv, ["svc"]);
        c.scripts.clear();
        assert_eq!(choose(&c, "/app").unwrap().argv, [PYTHON, "/app"]);
        c.root_main = false;
        c.main_package = Some("svc".into());
        assert_eq!(choose(&c, "/app").unwrap().argv, [PYTHON, "-m", "svc"]);
        c.main_package = None;
        assert_eq!(choose(&c, "/app").unwrap().argv, [PYTHON, "/app/app.py"]);
    }

    #[test]
    fn procfile_without_web_and_nothing_else_fails() {
        let c = Candidates {
            procfile: Some("worker: python worker.py\n".into()),
            ..cands()
        };
        let e = choose(&c, "/app").unwrap_err();
        assert!(e.contains("the Procfile has no `web:` process"), "{e}");
    }
}
