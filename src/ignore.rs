//! Which files of the project lade may copy into an image: `.dockerignore` with Docker's exact
//! semantics, under a built-in deny list for secrets and VCS metadata.
//!
//! # API
//! - [`Filter::load`]`(project_dir)` reads `project_dir/.dockerignore` (a missing file means no
//!   patterns; the deny list still applies). [`Filter::parse`]`(text, file)` does the same from
//!   a string, `file` naming the source in reasons and errors.
//! - [`Filter::is_excluded`]`(rel_path)` → `Some(`[`Reason`]`)` when the path (relative to the
//!   project directory) must not be copied.
//! - [`Filter::walk`]`(project_dir, sub_dir)` → [`Walk`]: every included file, directory and
//!   symlink under `sub_dir` (relative to the project directory; `""` or `"."` is the whole
//!   project), sorted, plus the excluded paths with the rule that excluded each, for `-v`.
//!
//! # `.dockerignore` semantics (moby/patternmatcher, as BuildKit applies it)
//! - One pattern per line. A line starting with `#` is a comment (only in the first column:
//!   ` #x` is the pattern `#x`). Surrounding whitespace is trimmed; blank lines are ignored;
//!   a UTF-8 BOM is ignored.
//! - Patterns are relative to the project directory: a leading `/` is dropped and the pattern
//!   is cleaned like Go's `filepath.Clean` (`./a//b/../c/` is `a/c`).
//! - Go `filepath.Match` syntax: `*` is any run of characters but `/`, `?` one character but
//!   `/`, `[a-z]`/`[^a-z]` a class, `\` escapes the next character. `**` matches any number of
//!   directories (`**/*.go`, `docs/**/*.md`); a trailing `**` matches everything below.
//!   Malformed patterns (an unclosed `[`, a trailing `\`, a reversed range) are errors naming
//!   the file and line, as Docker refuses them.
//! - A pattern excludes a path if it matches the path or any of its parent directories
//!   (`foo` excludes `foo/bar`). There are no directory-only patterns: `foo/` is `foo`.
//! - `!PATTERN` re-includes. The last pattern matching a path (or a parent of it) decides, so a
//!   `!` line can re-include a file inside an excluded directory: [`Filter::walk`] still looks
//!   inside an excluded directory when some `!` pattern could match below it, and lists the
//!   directories leading to a re-included file as included (as BuildKit sends them).
//! - `.dockerignore` and `lade.toml` are ordinary files here: copied unless a pattern excludes
//!   them.
//!
//! Two fine points follow Docker's implementation rather than its documentation, on purpose:
//! a leading `**` followed only by literal text is a plain suffix test (`**foo` matches
//! `xfoo`), and `foo**` a plain prefix test. Inside `[...]` every character is literal (Docker's
//! regex translation gives `*` and `?` there odd meanings no one relies on), and `\x` always
//! means the character `x`.
//!
//! # Built-in deny list
//! [`DENY_LIST`] applies at any depth even without a `.dockerignore`, and **a `!` pattern
//! cannot re-include anything it matches**: these are credentials, VCS metadata and lade's own
//! state, which have no business in an image. A denied directory is never entered.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

mod walk;

/// The ignore file read from the project directory.
pub const IGNORE_FILE: &str = ".dockerignore";

/// Names (single path components, `filepath.Match` syntax, matched ignoring case) excluded at
/// any depth, plus `.docker/config.json`, whatever the ignore file says.
pub const DENY_LIST: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    ".dockercfg",
    "*.p12",
    "*.pfx",
    ".docker/config.json",
    ".aws",
    ".ssh",
    ".lade",
    // The base pins a publish writes into the project: publishing again must not put them in
    // the image, or the second image differs from the first only by them.
    "lade.lock",
    "lade-base.lock",
];

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("reading {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{file}:{line}: invalid pattern '{pattern}': {detail}")]
    Pattern {
        file: PathBuf,
        line: usize,
        pattern: String,
        detail: String,
    },
    #[error("{path}: must be a relative path inside the project directory")]
    Outside { path: PathBuf },
    #[error("{path} is not a directory (symlinked directories are not followed)")]
    NotADirectory { path: PathBuf },
    #[error("walking {path}")]
    Walk { path: PathBuf, source: io::Error },
}

/// Why a path is not copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// An entry of [`DENY_LIST`]; nothing re-includes it.
    Denied { rule: &'static str },
    /// A line of the ignore file.
    Pattern {
        file: PathBuf,
        line: usize,
        pattern: String,
    },
    /// A socket, FIFO or device: not something an image layer should carry.
    Special,
    /// An absolute path or one that climbs out of the project with `..`.
    OutsideProject,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Denied { rule } => write!(f, "built-in deny list ({rule})"),
            Reason::Pattern {
                file,
                line,
                pattern,
            } => write!(f, "{}:{line} ({pattern})", file.display()),
            Reason::Special => f.write_str("not a regular file, directory or symlink"),
            Reason::OutsideProject => f.write_str("outside the project directory"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// Never followed; the link itself is what gets copied.
    Symlink,
}

/// An included path, relative to the project directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: EntryKind,
    /// A file with an execute bit (its stat, taken as the walk lists its directory); false
    /// for directories and symlinks.
    pub executable: bool,
}

/// An excluded path, relative to the project directory. An excluded directory is listed once,
/// without its contents, unless something inside it was re-included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excluded {
    pub path: PathBuf,
    pub is_dir: bool,
    pub reason: Reason,
}

/// What [`Filter::walk`] found. Both lists are sorted as paths (component by component), so a
/// directory comes right before its contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    pub entries: Vec<Entry>,
    pub excluded: Vec<Excluded>,
}

/// The deny list and the ignore file's rules, ready to test paths.
#[derive(Clone, Debug)]
pub struct Filter {
    rules: Vec<Rule>,
    deny: Vec<Deny>,
}

/// A deny list entry: the rule as written, the directory name it needs before the matched
/// name (`.docker` for `.docker/config.json`), and the pattern for the name itself.
#[derive(Clone, Debug)]
struct Deny {
    rule: &'static str,
    parent: Option<&'static str>,
    name: DenyName,
}

/// A deny list name, matched without allocating: a walk tries every entry on every name of
/// the tree (the general glob matcher allocated for each try, a fifth of an unchanged publish
/// of a large tree).
#[derive(Clone, Debug)]
enum DenyName {
    Exact(&'static str),
    /// `id_rsa*`, `.env.*`
    Prefix(&'static str),
    /// `*.pem`
    Suffix(&'static str),
    Glob(Pattern),
}

impl DenyName {
    fn of(name: &'static str) -> DenyName {
        let meta = |c: char| matches!(c, '*' | '?' | '[' | ']' | '\\');
        let stars = name.matches('*').count();
        let plain = |s: &str| !s.contains(meta);
        match (stars, name.strip_suffix('*'), name.strip_prefix('*')) {
            (0, _, _) if plain(name) => DenyName::Exact(name),
            (1, Some(prefix), _) if plain(prefix) => DenyName::Prefix(prefix),
            (1, _, Some(suffix)) if plain(suffix) => DenyName::Suffix(suffix),
            _ => DenyName::Glob(Pattern::compile(name).expect("the deny list is valid")),
        }
    }

    fn matches(&self, part: &str) -> bool {
        match self {
            DenyName::Exact(n) => part == *n,
            DenyName::Prefix(p) => part.starts_with(p),
            DenyName::Suffix(s) => part.ends_with(s),
            DenyName::Glob(p) => p.matches(part),
        }
    }
}

#[derive(Clone, Debug)]
struct Rule {
    pattern: Pattern,
    reinclude: bool,
    file: PathBuf,
    line: usize,
    /// The line as written (trimmed), for reasons.
    text: String,
}

impl Default for Filter {
    /// Only the deny list.
    fn default() -> Self {
        Filter::parse("", Path::new(IGNORE_FILE)).expect("no patterns cannot fail")
    }
}

impl Filter {
    /// Reads `project_dir/.dockerignore`; without one only the deny list applies.
    pub fn load(project_dir: &Path) -> Result<Filter, IgnoreError> {
        let path = project_dir.join(IGNORE_FILE);
        match fs::read(&path) {
            Ok(bytes) => Filter::parse(&String::from_utf8_lossy(&bytes), &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Filter::default()),
            Err(source) => Err(IgnoreError::Read { path, source }),
        }
    }

    /// Parses ignore-file `text`; `file` names it in reasons and errors.
    pub fn parse(text: &str, file: &Path) -> Result<Filter, IgnoreError> {
        let deny = DENY_LIST
            .iter()
            .map(|d| {
                let (parent, name) = match d.split_once('/') {
                    Some((parent, name)) => (Some(parent), name),
                    None => (None, *d),
                };
                Deny {
                    rule: d,
                    parent,
                    name: DenyName::of(name),
                }
            })
            .collect();
        let mut rules = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let mut l = raw.strip_suffix('\r').unwrap_or(raw);
            if i == 0 {
                l = l.strip_prefix('\u{feff}').unwrap_or(l);
            }
            // As moby's ignorefile.ReadAll: comments are recognised before trimming.
            if l.starts_with('#') {
                continue;
            }
            let text = l.trim();
            if text.is_empty() {
                continue;
            }
            let bad = |detail: &str| IgnoreError::Pattern {
                file: file.to_path_buf(),
                line,
                pattern: text.to_string(),
                detail: detail.to_string(),
            };
            // moby's ReadAll: clean what follows `!` and drop a leading `/`; then its
            // PatternMatcher cleans again with the `!` in front and refuses a lone `!`.
            let (reinclude, body) = match text.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, text),
            };
            let mut body = if body.is_empty() {
                String::new()
            } else {
                clean(body)
            };
            if body.len() > 1 && body.starts_with('/') {
                body.remove(0);
            }
            let p = if reinclude {
                match clean(&format!("!{body}")).strip_prefix('!') {
                    Some(p) if !p.is_empty() => p.to_string(),
                    _ => return Err(bad("'!' needs a pattern after it")),
                }
            } else {
                body
            };
            let pattern = Pattern::compile(&p).map_err(|d| bad(&d))?;
            rules.push(Rule {
                pattern,
                reinclude,
                file: file.to_path_buf(),
                line,
                text: text.to_string(),
            });
        }
        Ok(Filter { rules, deny })
    }

    /// Why `rel_path` (relative to the project directory) is excluded, or `None` when it is
    /// copied. The project directory itself is never excluded; a path outside it always is.
    pub fn is_excluded(&self, rel_path: &Path) -> Option<Reason> {
        match normalize(rel_path) {
            Some(rel) => self.reason(&rel),
            None => Some(Reason::OutsideProject),
        }
    }

    fn reason(&self, rel: &str) -> Option<Reason> {
        self.reason_from(rel, 0)
    }

    /// [`reason`](Self::reason) for a path whose parent directories are known not to be
    /// denied (a walk only enters those): the deny list is tried on its last name only,
    /// instead of on every component of every path of a deep tree again.
    fn reason_below_allowed(&self, rel: &str) -> Option<Reason> {
        let depth = rel.matches('/').count();
        self.reason_from(rel, depth)
    }

    /// The reason for `rel`, trying the deny list on its components from index `first`.
    fn reason_from(&self, rel: &str, first: usize) -> Option<Reason> {
        if rel.is_empty() {
            return None;
        }
        if let Some(rule) = self.denied(rel, first) {
            return Some(Reason::Denied { rule });
        }
        // Last matching rule wins; a rule matches the path or any of its parents.
        let mut last: Option<&Rule> = None;
        for rule in &self.rules {
            if rule.pattern.matches_or_parent(rel) {
                last = Some(rule);
            }
        }
        last.filter(|r| !r.reinclude).map(|r| Reason::Pattern {
            file: r.file.clone(),
            line: r.line,
            pattern: r.text.clone(),
        })
    }

    fn denied(&self, rel: &str, first: usize) -> Option<&'static str> {
        // Case does not make a secret less secret: `ID_RSA`, `Server.PEM` and `.ENV` are denied
        // too (the entries are lower case).
        // Only the names from `first` on are tried, and the one before them (a rule's parent):
        // a walk asks this for every file of a large tree.
        let lower = |name: &str| -> String {
            match name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
                true => name.to_lowercase(),
                false => name.to_string(),
            }
        };
        let mut before: Option<String> = None;
        for (i, name) in rel.split('/').enumerate() {
            if i + 1 < first {
                continue;
            }
            let part = lower(name);
            if i >= first {
                for d in &self.deny {
                    let hit = match d.parent {
                        // `.docker/config.json`: this component and the one before it.
                        Some(parent) => before.as_deref() == Some(parent) && d.name.matches(&part),
                        None => d.name.matches(&part),
                    };
                    if hit {
                        return Some(d.rule);
                    }
                }
            }
            before = Some(part);
        }
        None
    }

    /// Whether some `!` rule could match a path strictly below directory `rel`.
    fn may_reinclude_below(&self, rel: &str) -> bool {
        let dir_slash = format!("{rel}/");
        self.rules
            .iter()
            .any(|r| r.reinclude && r.pattern.could_match_below(&dir_slash))
    }

    /// Lists what lade may copy from `project_dir/sub_dir`. Symlinks are listed, never
    /// followed; sockets, FIFOs and devices are listed as excluded.
    pub fn walk(&self, project_dir: &Path, sub_dir: &Path) -> Result<Walk, IgnoreError> {
        let Some(rel) = normalize(sub_dir) else {
            return Err(IgnoreError::Outside {
                path: sub_dir.to_path_buf(),
            });
        };
        let rel_path = PathBuf::from(&rel);
        // The project directory may be a symlink (the user named it); nothing below it is
        // followed, including on the way to `sub_dir`.
        let mut abs = project_dir.to_path_buf();
        let meta = fs::metadata(&abs).map_err(|source| IgnoreError::Walk {
            path: abs.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(IgnoreError::NotADirectory { path: abs });
        }
        for part in rel_path.components() {
            abs.push(part);
            let meta = fs::symlink_metadata(&abs).map_err(|source| IgnoreError::Walk {
                path: abs.clone(),
                source,
            })?;
            if !meta.is_dir() {
                return Err(IgnoreError::NotADirectory { path: abs });
            }
        }
        let mut walk = Walk::default();
        let reason = self.reason(&rel);
        match reason {
            Some(r) if matches!(r, Reason::Denied { .. }) || !self.may_reinclude_below(&rel) => {
                walk.excluded.push(Excluded {
                    path: rel_path,
                    is_dir: true,
                    reason: r,
                });
            }
            _ => {
                let root = walk::Dir { abs, rel_path, rel };
                self.walk_parallel(root, &mut walk)?;
            }
        }
        Ok(walk)
    }

    /// Visits the children of one directory; returns whether any of them (or anything below
    /// them) was included. With a `listing`, a subdirectory to walk is handed to it (another
    /// thread lists it) instead of entered here.
    fn walk_dir(
        &self,
        abs: &Path,
        rel_path: &Path,
        rel: &str,
        walk: &mut Walk,
        mut listing: Option<&mut walk::Listing>,
    ) -> Result<bool, IgnoreError> {
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IgnoreError::Walk { path, source }
        };
        // Before the first stat: a build step that starts or ends meanwhile voids them.
        let taken_at = crate::statcache::seen_generation();
        let mut children = Vec::new();
        for entry in fs::read_dir(abs).map_err(werr(abs))? {
            let entry = entry.map_err(werr(abs))?;
            children.push((entry.file_name(), entry.file_type(), entry));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        let mut any = false;
        let mut stats = Vec::new();
        for (name, file_type, dir_entry) in children {
            let child_abs = abs.join(&name);
            let child_path = rel_path.join(&name);
            let child_rel = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            // The directory entry's own type (d_type): no stat per file. Like lstat, it
            // describes a symlink, not its target.
            let ft = file_type.map_err(werr(&child_abs))?;
            let kind = if ft.is_symlink() {
                Some(EntryKind::Symlink)
            } else if ft.is_dir() {
                Some(EntryKind::Dir)
            } else if ft.is_file() {
                Some(EntryKind::File)
            } else {
                None
            };
            // The walk never enters a denied directory, so only the new name can be denied.
            let reason = self.reason_below_allowed(&child_rel);
            let excluded = |reason| Excluded {
                path: child_path.clone(),
                is_dir: kind == Some(EntryKind::Dir),
                reason,
            };
            match (reason, kind) {
                (None, None) => walk.excluded.push(excluded(Reason::Special)),
                (None, Some(kind)) => {
                    any = true;
                    // Through the open directory (fstatat), not the path: no path walk per
                    // file of a deep tree. The stats are kept for the files' layer keys, which
                    // then need not stat them again (`statcache::note_seen`).
                    let executable = kind == EntryKind::File && {
                        use std::os::unix::fs::PermissionsExt;
                        let meta = dir_entry.metadata().map_err(werr(&child_abs))?;
                        let executable = meta.permissions().mode() & 0o111 != 0;
                        stats.push((child_abs.clone(), meta));
                        executable
                    };
                    walk.entries.push(Entry {
                        path: child_path.clone(),
                        kind,
                        executable,
                    });
                    if kind == EntryKind::Dir {
                        match listing.as_deref_mut() {
                            Some(l) => l.enter_later(
                                walk,
                                walk::Dir {
                                    abs: child_abs,
                                    rel_path: child_path,
                                    rel: child_rel,
                                },
                            ),
                            None => {
                                self.walk_dir(&child_abs, &child_path, &child_rel, walk, None)?;
                            }
                        }
                    }
                }
                (Some(r), Some(EntryKind::Dir))
                    if !matches!(r, Reason::Denied { .. })
                        && self.may_reinclude_below(&child_rel) =>
                {
                    // Look inside for re-included paths. If there are some, the directory is
                    // included (its other contents listed as excluded one by one); if not, it
                    // is listed once, as if it had not been entered.
                    let (entries_mark, excluded_mark) = (walk.entries.len(), walk.excluded.len());
                    walk.entries.push(Entry {
                        path: child_path.clone(),
                        kind: EntryKind::Dir,
                        executable: false,
                    });
                    // Entered here: whether anything below is kept decides this entry.
                    if self.walk_dir(&child_abs, &child_path, &child_rel, walk, None)? {
                        any = true;
                    } else {
                        walk.entries.truncate(entries_mark);
                        walk.excluded.truncate(excluded_mark);
                        walk.excluded.push(excluded(r));
                    }
                }
                (Some(r), _) => walk.excluded.push(excluded(r)),
            }
        }
        crate::statcache::note_seen(
            taken_at,
            stats.iter().map(|(path, meta)| (path.as_path(), meta)),
        );
        Ok(any)
    }
}

/// `rel_path` as a `/`-separated string without `.` components; `None` if it is absolute or
/// climbs out with `..`.
fn normalize(rel_path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel_path.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Go's `path.Clean`: lexical `.`/`..`/`//` removal, no trailing slash, `.` for empty.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            _ => out.push(part),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// One compiled pattern. The variants mirror moby/patternmatcher's match types, including its
/// fast paths, so edge cases behave as in Docker.
#[derive(Clone, Debug)]
enum Pattern {
    /// Only literal characters: the path must equal it.
    Exact(String),
    /// Literal text then a final `**`: the path must start with the text.
    Prefix(String),
    /// A leading `**` then literal text: the path must end with the text (`**/foo` also
    /// matches `foo`).
    Suffix(String),
    /// Anything else, matched as Docker's generated regex would.
    Glob(Vec<Tok>),
}

#[derive(Clone, Debug)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    Any,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `[...]`: one character (which may be `/`) in or, negated, not in the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**` (with its `/`) before more pattern: nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end: anything.
    Rest,
}

#[derive(PartialEq)]
enum Detected {
    Exact,
    Prefix,
    Suffix,
    Glob,
}

impl Pattern {
    /// Compiles a cleaned pattern, rejecting what Go's `filepath.Match` rejects (and a
    /// reversed range, which Docker's regex compiler rejects).
    fn compile(p: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = p.chars().collect();
        let mut toks = Vec::new();
        let mut detected = Detected::Exact;
        let mut i = 0;
        let mut first = true;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if detected == Detected::Exact {
                            detected = Detected::Prefix;
                        } else {
                            toks.push(Tok::Rest);
                            detected = Detected::Glob;
                        }
                    } else {
                        toks.push(Tok::AnyDirs);
                        detected = Detected::Glob;
                    }
                    if first {
                        detected = Detected::Suffix;
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    detected = Detected::Glob;
                }
                '?' => {
                    toks.push(Tok::Any);
                    detected = Detected::Glob;
                }
                '\\' => {
                    let Some(&next) = chars.get(i) else {
                        return Err("a trailing '\\' escapes nothing".into());
                    };
                    i += 1;
                    toks.push(Tok::Lit(next));
                    detected = Detected::Glob;
                }
                '[' => {
                    let (tok, next) = parse_class(&chars, i)?;
                    i = next;
                    toks.push(tok);
                    detected = Detected::Glob;
                }
                ']' => {
                    toks.push(Tok::Lit(']'));
                    detected = Detected::Glob;
                }
                c => toks.push(Tok::Lit(c)),
            }
            first = false;
        }
        Ok(match detected {
            Detected::Exact => Pattern::Exact(p.to_string()),
            Detected::Prefix => Pattern::Prefix(p[..p.len() - 2].to_string()),
            Detected::Suffix => Pattern::Suffix(p[2..].to_string()),
            Detected::Glob => Pattern::Glob(toks),
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Exact(p) => path == p,
            Pattern::Prefix(p) => path.starts_with(p.as_str()),
            Pattern::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Pattern::Glob(toks) => {
                let s: Vec<char> = path.chars().collect();
                Matcher::new(toks, &s, false).run()
            }
        }
    }

    /// moby's `MatchesOrParentMatches` for one pattern: the path or one of its parents.
    fn matches_or_parent(&self, path: &str) -> bool {
        self.matches(path)
            || path
                .match_indices('/')
                .any(|(i, _)| self.matches(&path[..i]))
    }

    /// Whether some path starting with `dir_slash` (`dir/`) could match. Errs towards yes:
    /// it only decides whether a walk looks inside an excluded directory.
    fn could_match_below(&self, dir_slash: &str) -> bool {
        match self {
            Pattern::Exact(p) => p.starts_with(dir_slash),
            Pattern::Prefix(p) => p.starts_with(dir_slash) || dir_slash.starts_with(p.as_str()),
            Pattern::Suffix(_) => true,
            Pattern::Glob(toks) => {
                let s: Vec<char> = dir_slash.chars().collect();
                Matcher::new(toks, &s, true).run()
            }
        }
    }
}

/// `[` already consumed at `chars[i - 1]`: parses up to the closing `]` with Go's rules.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Tok, usize), String> {
    const UNCLOSED: &str = "'[' is not closed by ']' (write \\[ for a literal bracket)";
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = class_char(chars, &mut i)?;
        let mut hi = lo;
        if i >= chars.len() {
            return Err(UNCLOSED.into());
        }
        if chars[i] == '-' {
            i += 1;
            hi = class_char(chars, &mut i)?;
            if i >= chars.len() {
                return Err(UNCLOSED.into());
            }
        }
        if hi < lo {
            return Err(format!("the range {lo}-{hi} is reversed"));
        }
        ranges.push((lo, hi));
    }

    fn class_char(chars: &[char], i: &mut usize) -> Result<char, String> {
        match chars.get(*i) {
            None => Err(UNCLOSED.into()),
            Some('-') | Some(']') => {
                Err("a character class needs a character here (escape '-' and ']' with \\)".into())
            }
            Some('\\') => {
                *i += 1;
                let c = *chars.get(*i).ok_or(UNCLOSED)?;
                *i += 1;
                Ok(c)
            }
            Some(&c) => {
                *i += 1;
                Ok(c)
            }
        }
    }
}

/// Backtracking matcher with a memo (so `**` and `*` cannot make it exponential). With
/// `prefix`, reaching the end of the text counts as success: "could a longer text match?".
struct Matcher<'a> {
    toks: &'a [Tok],
    s: &'a [char],
    prefix: bool,
    memo: Vec<Option<bool>>,
}

impl<'a> Matcher<'a> {
    fn new(toks: &'a [Tok], s: &'a [char], prefix: bool) -> Self {
        Matcher {
            toks,
            s,
            prefix,
            memo: vec![None; (toks.len() + 1) * (s.len() + 1)],
        }
    }

    fn run(&mut self) -> bool {
        self.at(0, 0)
    }

    fn at(&mut self, t: usize, i: usize) -> bool {
        let key = t * (self.s.len() + 1) + i;
        if let Some(v) = self.memo[key] {
            return v;
        }
        let v = self.compute(t, i);
        self.memo[key] = Some(v);
        v
    }

    fn compute(&mut self, t: usize, i: usize) -> bool {
        if self.prefix && i == self.s.len() {
            return true;
        }
        let Some(tok) = self.toks.get(t) else {
            return i == self.s.len();
        };
        let c = self.s.get(i).copied();
        match tok {
            Tok::Lit(l) => c == Some(*l) && self.at(t + 1, i + 1),
            Tok::Any => c.is_some_and(|c| c != '/') && self.at(t + 1, i + 1),
            Tok::Class { negated, ranges } => {
                c.is_some_and(|c| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated)
                    && self.at(t + 1, i + 1)
            }
            Tok::Star => {
                // Zero characters, or one non-`/` character and stay on the star.
                self.at(t + 1, i) || (c.is_some_and(|c| c != '/') && self.at(t, i + 1))
            }
            Tok::AnyDirs => {
                self.at(t + 1, i)
                    || (i..self.s.len())
                        .filter(|&j| self.s[j] == '/')
                        .collect::<Vec<_>>()
                        .into_iter()
                        .any(|j| self.at(t + 1, j + 1))
            }
            Tok::Rest => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &str) -> Filter {
        Filter::parse(patterns, Path::new(".dockerignore")).unwrap()
    }

    /// The deny list's allocation-free names match exactly what the glob matcher matches.
    #[test]
    fn deny_names_match_as_globs_do() {
        let names = [
            ".git",
            ".gitx",
            "x.git",
            ".env",
            ".env.local",
            ".envrc",
            "a.pem",
            ".pem",
            "pem",
            "a.pem.bak",
            "id_rsa",
            "id_rsa.pub",
            "xid_rsa",
            "k.key",
            "config.json",
            "lade.lock",
            "a.p12",
            "p12",
            "",
        ];
        for rule in DENY_LIST {
            let name = rule.rsplit('/').next().unwrap();
            let fast = DenyName::of(name);
            assert!(!matches!(fast, DenyName::Glob(_)), "{rule} has a fast form");
            let glob = Pattern::compile(name).unwrap();
            for n in names {
                assert_eq!(fast.matches(n), glob.matches(n), "{rule} on {n:?}");
            }
        }
    }

    #[test]
    fn the_deny_list_ignores_case_and_covers_common_secrets() {
        let f = Filter::parse("", Path::new(".dockerignore")).unwrap();
        for p in [
            "ID_RSA",
            "keys/Server.PEM",
            ".ENV",
            ".Env.Local",
            ".git-credentials",
            "certs/client.p12",
            "certs/CLIENT.PFX",
            ".dockercfg",
            "home/.Docker/Config.json",
            ".GIT/config",
        ] {
            assert!(
                matches!(f.is_excluded(Path::new(p)), Some(Reason::Denied { .. })),
                "{p} is not denied"
            );
        }
        for p in ["src/keys.rs", "docs/pem-format.md", "environment.md"] {
            assert_eq!(f.is_excluded(Path::new(p)), None, "{p} is denied");
        }
    }

    #[test]
    fn docker_semantics_table() {
        // (ignore file, path, excluded?)
        let cases: &[(&str, &str, bool)] = &[
            // Plain names and parent matching.
            ("foo", "foo", true),
            ("foo", "foo/bar/baz", true),
            ("foo", "foobar", false),
            ("foo", "x/foo", false),
            ("foo/", "foo/bar", true),
            ("foo/bar", "foo/bar/x", true),
            ("foo/bar", "foo", false),
            // A leading slash and cleaning.
            ("/foo", "foo", true),
            ("/foo", "x/foo", false),
            ("./a//b/../c", "a/c/d", true),
            ("./a//b/../c", "a/b", false),
            // `*` and `?` stop at `/`.
            ("*", "anything/below", true),
            ("*.txt", "a.txt", true),
            ("*.txt", "dir/a.txt", false),
            ("dir/*.txt", "dir/a.txt", true),
            ("dir/*.txt", "dir/sub/a.txt", false),
            ("*/*.txt", "dir/a.txt", true),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("a?c", "ac", false),
            // Classes.
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[^a-c]x", "dx", true),
            ("[^a-c]x", "bx", false),
            ("file[0-9].log", "file7.log", true),
            ("[*]", "*", true),
            ("[*]", "a", false),
            // `**`.
            ("**", "a/b/c", true),
            ("**/*.go", "main.go", true),
            ("**/*.go", "cmd/x/main.go", true),
            ("**/*.go", "main.gox", false),
            ("**/foo", "foo", true),
            ("**/foo", "a/b/foo", true),
            ("**/foo", "a/b/foo/c", true),
            ("**/foo", "xfoo", false),
            ("docs/**/*.md", "docs/a.md", true),
            ("docs/**/*.md", "docs/x/y/a.md", true),
            ("docs/**/*.md", "docs/x/y/a.txt", false),
            ("docs/**/*.md", "a.md", false),
            ("docs/**/*.md", "other/docs/a.md", false),
            ("docs/**", "docs/a", true),
            ("docs/**", "docs", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            // Docker's fast paths, kept as they are.
            ("**foo", "xfoo", true),
            ("foo**", "foobar", true),
            // Escapes.
            ("\\*.txt", "*.txt", true),
            ("\\*.txt", "a.txt", false),
            ("a\\?", "a?", true),
            ("a\\?", "ab", false),
            ("\\[x\\]", "[x]", true),
            ("\\#notes", "#notes", true),
            // Comments and blank lines.
            ("# foo\n\n   \n", "# foo", false),
            ("# foo", "foo", false),
            (" #x", "#x", true),
            // Re-including: last match wins, also inside an excluded directory.
            ("*.md\n!README.md", "README.md", false),
            ("*.md\n!README.md", "CHANGES.md", true),
            ("!README.md\n*.md", "README.md", true),
            ("vendor\n!vendor/keep.go", "vendor/keep.go", false),
            ("vendor\n!vendor/keep.go", "vendor/drop.go", true),
            ("vendor\n!**/*.go", "vendor/a/b.go", false),
            ("vendor\n!**/*.go", "vendor/a/b.txt", true),
            ("  ! /vendor/keep.go ", "vendor/keep.go", false),
            ("vendor\n  ! /vendor/keep.go ", "vendor/keep.go", false),
            // The project directory itself is never excluded.
            ("*", "", false),
            // The ignore file and lade.toml are ordinary files.
            ("", ".dockerignore", false),
            ("", "lade.toml", false),
            (".dockerignore\nlade.toml", ".dockerignore", true),
            (".dockerignore\nlade.toml", "lade.toml", true),
            // The deny list, at any depth, beyond the reach of `!`.
            ("", ".git", true),
            ("", ".git/config", true),
            ("", "sub/.git/HEAD", true),
            ("!.git\n!**", ".git/config", true),
            ("", ".env", true),
            ("", "web/.env.production", true),
            ("!.env.local", ".env.local", true),
            ("", ".envrc", false),
            ("", "certs/server.pem", true),
            ("", "tls.key", true),
            ("", "keyring", false),
            ("", "home/id_rsa.pub", true),
            ("", "id_ed25519", true),
            ("", "id_ecdsa_sk", true),
            ("", ".npmrc", true),
            ("", ".pypirc", true),
            ("", ".netrc", true),
            ("", ".docker/config.json", true),
            ("", "ci/.docker/config.json", true),
            ("", ".docker/daemon.json", false),
            ("", "config.json", false),
            ("", ".aws/credentials", true),
            ("", ".ssh/known_hosts", true),
            ("", ".hg/store", true),
            ("", ".svn", true),
            ("", ".lade/cache/x", true),
            ("", "lade.lock", true),
            ("!lade.lock", "lade-base.lock", true),
        ];
        let mut failures = Vec::new();
        for (patterns, path, want) in cases {
            let got = filter(patterns).is_excluded(Path::new(path));
            if got.is_some() != *want {
                failures.push(format!(
                    "{patterns:?} on {path:?}: want excluded={want}, got {got:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn reasons_name_the_rule() {
        let f = filter("# c\n*.log\n!keep.log\nbuild/\n");
        assert_eq!(
            f.is_excluded(Path::new("build/out/x")),
            Some(Reason::Pattern {
                file: ".dockerignore".into(),
                line: 4,
                pattern: "build/".into()
            })
        );
        assert_eq!(f.is_excluded(Path::new("keep.log")), None);
        assert_eq!(
            f.is_excluded(Path::new("../secret")),
            Some(Reason::OutsideProject)
        );
        assert_eq!(
            f.is_excluded(Path::new("/etc/passwd")),
            Some(Reason::OutsideProject)
        );
        assert_eq!(
            f.is_excluded(Path::new("a/.git/x")),
            Some(Reason::Denied { rule: ".git" })
        );
        assert_eq!(
            f.is_excluded(Path::new("a.log")).unwrap().to_string(),
            ".dockerignore:2 (*.log)"
        );
    }

    #[test]
    fn malformed_patterns_name_file_and_line() {
        for (text, line) in [
            ("ok\n[abc", 2),
            ("a\\", 1),
            ("x\n\n!", 3),
            ("[]", 1),
            ("[z-a]", 1),
            ("[a-]", 1),
            ("!/", 1),
        ] {
            match Filter::parse(text, Path::new("proj/.dockerignore")) {
                Err(IgnoreError::Pattern { file, line: l, .. }) => {
                    assert_eq!(file, Path::new("proj/.dockerignore"), "{text:?}");
                    assert_eq!(l, line, "{text:?}");
                }
                other => panic!("{text:?}: expected a pattern error, got {other:?}"),
            }
        }
        let msg = Filter::parse("ok\n[abc", Path::new(".dockerignore"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(".dockerignore:2: invalid pattern '[abc':"),
            "{msg}"
        );
        // A BOM and CRLF line ends are not part of patterns.
        let f = filter("\u{feff}a.txt\r\nb.txt\r\n");
        assert!(f.is_excluded(Path::new("a.txt")).is_some());
        assert!(f.is_excluded(Path::new("b.txt")).is_some());
    }

    #[test]
    fn walk_denies_at_any_depth_as_is_excluded_does() {
        // The walk tries the deny list on each new name only (its parents were allowed):
        // nested secrets, the two-part `.docker/config.json` and upper case must still go.
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for f in [
            "a/b/.ssh/id",
            "a/b/.docker/config.json",
            "a/b/.docker/other.json",
            "a/docker/config.json",
            "a/B/Server.PEM",
            "a/b/c/d/ok.txt",
            "a/b/c/.ENV",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        let f = Filter::default();
        let w = f.walk(root, Path::new("")).unwrap();
        let excluded: Vec<String> = w
            .excluded
            .iter()
            .map(|e| format!("{} {}", e.path.display(), e.reason))
            .collect();
        assert_eq!(
            excluded,
            [
                "a/B/Server.PEM built-in deny list (*.pem)",
                "a/b/.docker/config.json built-in deny list (.docker/config.json)",
                "a/b/.ssh built-in deny list (.ssh)",
                "a/b/c/.ENV built-in deny list (.env)",
            ]
        );
        for e in &w.entries {
            assert_eq!(f.is_excluded(&e.path), None, "{}", e.path.display());
        }
        for e in &w.excluded {
            assert_eq!(f.is_excluded(&e.path).as_ref(), Some(&e.reason));
        }
        assert!(
            w.entries
                .iter()
                .any(|e| e.path == Path::new("a/docker/config.json"))
        );
    }

    #[test]
    fn walk_lists_included_and_excluded_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let files = [
            "src/main.go",
            "src/app.log",
            "node_modules/a/index.js",
            "node_modules/keep/x.js",
            "docs/README.md",
            "docs/guide/intro.md",
            "docs/img.png",
            ".git/HEAD",
            ".env",
            "lade.toml",
        ];
        for f in files {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        fs::write(
            root.join(".dockerignore"),
            "node_modules\n!node_modules/keep/**\n*/*.log\ndocs/**/*.md\n!docs/README.md\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("src", root.join("link")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe"))
            .status()
            .expect("this test needs the `mkfifo` command");
        assert!(fifo.success());

        let f = Filter::load(root).unwrap();
        let w = f.walk(root, Path::new("")).unwrap();
        let entries: Vec<(String, EntryKind)> = w
            .entries
            .iter()
            .map(|e| (e.path.to_string_lossy().into_owned(), e.kind))
            .collect();
        use EntryKind::*;
        let want: Vec<(String, EntryKind)> = [
            (".dockerignore", File),
            ("docs", Dir),
            ("docs/README.md", File),
            ("docs/guide", Dir),
            ("docs/img.png", File),
            ("lade.toml", File),
            ("link", Symlink),
            ("node_modules", Dir),
            ("node_modules/keep", Dir),
            ("node_modules/keep/x.js", File),
            ("src", Dir),
            ("src/main.go", File),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_string(), k))
        .collect();
        assert_eq!(entries, want);
        let excluded: Vec<(String, bool, String)> = w
            .excluded
            .iter()
            .map(|e| {
                (
                    e.path.to_string_lossy().into_owned(),
                    e.is_dir,
                    e.reason.to_string(),
                )
            })
            .collect();
        let dockerignore = root.join(".dockerignore").display().to_string();
        let want: Vec<(String, bool, String)> = vec![
            (".env".into(), false, "built-in deny list (.env)".into()),
            (".git".into(), true, "built-in deny list (.git)".into()),
            (
                "docs/guide/intro.md".into(),
                false,
                format!("{dockerignore}:4 (docs/**/*.md)"),
            ),
            (
                "node_modules/a".into(),
                true,
                format!("{dockerignore}:1 (node_modules)"),
            ),
            (
                "pipe".into(),
                false,
                "not a regular file, directory or symlink".into(),
            ),
            (
                "src/app.log".into(),
                false,
                format!("{dockerignore}:3 (*/*.log)"),
            ),
        ];
        assert_eq!(excluded, want);

        // A sub-directory walk reports paths from the project root.
        let w = f.walk(root, Path::new("./src")).unwrap();
        assert_eq!(
            w.entries,
            vec![Entry {
                path: "src/main.go".into(),
                kind: File,
                executable: false,
            }]
        );
        assert_eq!(w.excluded.len(), 1);
        // An excluded directory with nothing re-included below is not entered.
        let w = f.walk(root, Path::new("node_modules/a")).unwrap();
        assert!(w.entries.is_empty());
        assert_eq!(w.excluded[0].path, Path::new("node_modules/a"));
        let w = f.walk(root, Path::new(".git")).unwrap();
        assert_eq!(w.excluded[0].reason, Reason::Denied { rule: ".git" });
        // Symlinked directories are not followed, and the walk stays inside the project.
        assert!(matches!(
            f.walk(root, Path::new("link")),
            Err(IgnoreError::NotADirectory { .. })
        ));
        assert!(matches!(
            f.walk(root, Path::new("link/x")),
            Err(IgnoreError::NotADirectory { .. })
        ));
        assert!(matches!(
            f.walk(root, Path::new("../x")),
            Err(IgnoreError::Outside { .. })
        ));
        // A symlinked project directory is fine: the user named it.
        let alias = tmp.path().join("alias");
        std::os::unix::fs::symlink(root, &alias).unwrap();
        let via_alias = f.walk(&alias, Path::new("src")).unwrap();
        assert_eq!(via_alias.entries.len(), 1);
    }

    #[test]
    fn clean_matches_go() {
        for (p, want) in [
            ("", "."),
            ("a/b/", "a/b"),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/./b/../c", "a/c"),
        ] {
            assert_eq!(clean(p), want, "{p:?}");
        }
    }

    /// The sequential walk of the whole project, for comparison.
    fn walked_in_order(f: &Filter, root: &Path) -> Result<Walk, IgnoreError> {
        let mut w = Walk::default();
        f.walk_dir(root, Path::new(""), "", &mut w, None)?;
        Ok(w)
    }

    /// A tree of 1,111 directories and 3,100 files (100 executable), some excluded, some
    /// re-included inside excluded directories, symlinks among them.
    fn wide_tree(root: &Path) {
        for a in 0..10 {
            for b in 0..10 {
                for c in 0..10 {
                    let d = root.join(format!("d{a}/e{b}/f{c}"));
                    fs::create_dir_all(&d).unwrap();
                    fs::write(d.join("x.txt"), "x").unwrap();
                    fs::write(d.join("y.log"), "y").unwrap();
                    fs::write(d.join(".env"), "secret").unwrap();
                }
                std::os::unix::fs::symlink("..", root.join(format!("d{a}/e{b}/up"))).unwrap();
                let run = root.join(format!("d{a}/e{b}/run"));
                fs::write(&run, "#!/bin/sh").unwrap();
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
            }
        }
        fs::write(
            root.join(".dockerignore"),
            "**/*.log\nd3\n!d3/e4/**\nd5/e*/f7\n",
        )
        .unwrap();
    }

    #[test]
    fn walk_on_all_cores_lists_what_the_walk_in_order_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        wide_tree(root);
        let f = Filter::load(root).unwrap();
        let expected = walked_in_order(&f, root).unwrap();
        assert!(expected.entries.len() > 2_000, "{}", expected.entries.len());
        assert!(
            expected
                .entries
                .iter()
                .any(|e| e.path == Path::new("d3/e4/f0/x.txt"))
        );
        assert!(
            expected
                .excluded
                .iter()
                .any(|e| e.path == Path::new("d5/e2/f7") && e.is_dir)
        );
        for _ in 0..20 {
            assert_eq!(f.walk(root, Path::new("")).unwrap(), expected);
        }
        // Each file's execute bit is its own, symlinks and directories have none.
        let mut executables = 0;
        for e in &expected.entries {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::symlink_metadata(root.join(&e.path))
                .unwrap()
                .permissions()
                .mode();
            let want = e.kind == EntryKind::File && mode & 0o111 != 0;
            assert_eq!(e.executable, want, "{}", e.path.display());
            executables += usize::from(want);
        }
        assert_eq!(executables, 91, "every d*/e*/run outside d3, and d3/e4/run");
        // Below a sub-directory too, as a detector asks.
        let sub = f.walk(root, Path::new("d5")).unwrap();
        let in_d5: Vec<_> = expected
            .entries
            .iter()
            .filter(|e| e.path.starts_with("d5") && e.path != Path::new("d5"))
            .collect();
        assert_eq!(sub.entries.iter().collect::<Vec<_>>(), in_d5);
    }

    /// A chain of directories below `root/under` whose deepest path is longer than the
    /// kernel takes (PATH_MAX, 4096 bytes): listing it fails, for root too. Made where the
    /// path is short enough to make, then moved.
    fn too_deep(root: &Path, under: &str) {
        let name = "n".repeat(200);
        let chain = root.join("chain");
        fs::create_dir(&chain).unwrap();
        let mut p = chain.clone();
        while p.as_os_str().len() + 1 + name.len() < 4050 {
            p.push(&name);
            fs::create_dir(&p).unwrap();
        }
        let into = root.join(under).join("m".repeat(250));
        fs::create_dir(&into).unwrap();
        fs::rename(&chain, into.join("chain")).unwrap();
    }

    #[test]
    fn walk_on_all_cores_fails_on_the_error_the_walk_in_order_meets_first() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        wide_tree(root);
        for d in ["d7/e1/f1", "d2/e8", "d2/e9/f0"] {
            too_deep(root, d);
        }
        let f = Filter::load(root).unwrap();
        let failed_at = |r: Result<Walk, IgnoreError>| match r {
            Err(IgnoreError::Walk { path, .. }) => path,
            other => panic!("expected a walk error, got {other:?}"),
        };
        let expected = failed_at(walked_in_order(&f, root));
        assert!(
            expected.starts_with(root.join("d2/e8")),
            "{}",
            expected.display()
        );
        for _ in 0..20 {
            assert_eq!(failed_at(f.walk(root, Path::new(""))), expected);
        }
    }
}
