//! The build information the Go toolchain embeds in every binary it links (what
//! `go version -m` prints), read straight from the ELF file: the Go version, the main module,
//! every module actually linked (with its sum and replacement) and the build settings.
//!
//! The data sits in the `.go.buildinfo` section (or, when section headers are gone, at a
//! 16-byte boundary of a writable `PT_LOAD` segment): a 32-byte header — the magic, the pointer
//! size, flags — and, since Go 1.18 (flag bit 2), two inline strings, each a uvarint length and
//! its bytes: the Go version, then the module information wrapped in 16-byte sentinels.

use goblin::elf::Elf;
use goblin::elf::program_header::{PF_W, PT_LOAD};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
/// Flag bit: the strings follow the header inline (Go ≥ 1.18), instead of pointers to them.
const FLAG_INLINE: u8 = 2;
/// Each end of the module information carries a 16-byte sentinel.
const SENTINEL_LEN: usize = 16;

/// One module line: `mod`/`dep` with an optional `=>` replacement after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Module {
    pub path: String,
    /// `(devel)` for a main module built from its source tree.
    pub version: String,
    /// `h1:…`; absent for the main module, replaced and vendored modules.
    pub sum: Option<String>,
    pub replace: Option<Box<Module>>,
}

/// What a Go binary says about its own build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BuildInfo {
    /// `go1.19.8`.
    pub go_version: String,
    /// The main package's import path.
    pub path: String,
    /// Absent for a binary built outside any module (`go build file.go`).
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    /// `build` lines in the binary's order: `(-ldflags, -s -w)`, `(GOOS, linux)`, …
    pub settings: Vec<(String, String)>,
}

/// The build information of an ELF file; `Ok(None)` when it has none (not built by Go), `Err`
/// with a reason when it has some lade cannot read.
pub(crate) fn read(bytes: &[u8]) -> Result<Option<BuildInfo>, String> {
    let elf = Elf::parse(bytes).map_err(|e| format!("not a readable ELF file: {e}"))?;
    let Some(data) = locate(&elf, bytes) else {
        return Ok(None);
    };
    decode(data).map(Some)
}

/// The build info from its header on.
fn decode(data: &[u8]) -> Result<BuildInfo, String> {
    let header = &data[..HEADER_LEN];
    let flags = header[15];
    if flags & FLAG_INLINE == 0 {
        return Err("Go build info from before Go 1.18 (pointer layout) is not read".into());
    }
    let mut rest = &data[HEADER_LEN..];
    let version = inline_string(&mut rest).ok_or("Go build info: truncated version")?;
    let modinfo = inline_string(&mut rest).ok_or("Go build info: truncated module info")?;
    let version = String::from_utf8(version.to_vec())
        .map_err(|_| "Go build info: the version is not UTF-8")?;
    let modinfo = strip_sentinels(modinfo);
    let text = std::str::from_utf8(modinfo).map_err(|_| "Go build info: not UTF-8")?;
    let mut info = parse_modinfo(text)?;
    info.go_version = version;
    Ok(info)
}

/// The bytes from the build info header to the end of the section or segment holding it.
fn locate<'a>(elf: &Elf, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let at = |start: u64, size: u64| -> Option<&'a [u8]> {
        let start = usize::try_from(start).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        bytes.get(start..end)
    };
    let section = elf.section_headers.iter().find(|sh| {
        elf.shdr_strtab.get_at(sh.sh_name) == Some(".go.buildinfo")
            && sh.sh_type != goblin::elf::section_header::SHT_NOBITS
    });
    if let Some(data) = section.and_then(|sh| at(sh.sh_offset, sh.sh_size)) {
        return (data.len() >= HEADER_LEN && data.starts_with(MAGIC)).then_some(data);
    }
    // Stripped of section headers: Go's own reader searches the writable data at 16-byte steps.
    elf.program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD && ph.p_flags & PF_W != 0)
        .filter_map(|ph| at(ph.p_offset, ph.p_filesz))
        .find_map(|seg| {
            (0..seg.len())
                .step_by(16)
                .map(|i| &seg[i..])
                .find(|d| d.len() >= HEADER_LEN && d.starts_with(MAGIC))
        })
}

/// A uvarint length and that many bytes, advancing `rest` past them.
fn inline_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = *rest.get(i)?;
        i += 1;
        len |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from(len).ok()?;
    let s = rest.get(i..i.checked_add(len)?)?;
    *rest = &rest[i + len..];
    Some(s)
}

/// The module information without its sentinels; empty when they are not there (a binary
/// built without module support carries none).
fn strip_sentinels(m: &[u8]) -> &[u8] {
    if m.len() > 2 * SENTINEL_LEN && m[m.len() - SENTINEL_LEN - 1] == b'\n' {
        &m[SENTINEL_LEN..m.len() - SENTINEL_LEN]
    } else {
        &[]
    }
}

/// Parses the tab-separated lines `path`, `mod`, `dep`, `=>` and `build`.
fn parse_modinfo(text: &str) -> Result<BuildInfo, String> {
    let mut info = BuildInfo::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (word, rest) = line.split_once('\t').unwrap_or((line, ""));
        match word {
            "path" => info.path = rest.to_string(),
            "mod" => info.main = Some(module(rest, line)?),
            "dep" => info.deps.push(module(rest, line)?),
            // A replacement follows the module line it replaces.
            "=>" => {
                let replaced = match info.deps.last_mut() {
                    Some(d) => d,
                    None => info
                        .main
                        .as_mut()
                        .ok_or_else(|| format!("Go build info: `{line}` replaces nothing"))?,
                };
                replaced.replace = Some(Box::new(module(rest, line)?));
            }
            "build" => info.settings.push(setting(rest)),
            // Newer toolchains may add lines; what is known is still right.
            _ => {}
        }
    }
    Ok(info)
}

/// `path\tversion[\tsum]`.
fn module(rest: &str, line: &str) -> Result<Module, String> {
    let mut f = rest.split('\t');
    let path = f.next().filter(|p| !p.is_empty());
    let Some(path) = path else {
        return Err(format!("Go build info: `{line}` names no module"));
    };
    Ok(Module {
        path: path.to_string(),
        version: f.next().unwrap_or_default().to_string(),
        sum: f.next().filter(|s| !s.is_empty()).map(str::to_string),
        replace: None,
    })
}

/// `key=value`, either side a Go quoted string when it holds spaces, quotes or `=`.
fn setting(rest: &str) -> (String, String) {
    let (key, after) = if rest.starts_with('"') {
        match quoted_prefix(rest) {
            Some((k, n)) => (k, rest[n..].strip_prefix('=').unwrap_or(&rest[n..])),
            None => (rest.to_string(), ""),
        }
    } else {
        match rest.split_once('=') {
            Some((k, v)) => (k.to_string(), v),
            None => (rest.to_string(), ""),
        }
    };
    let value = match quoted_prefix(after) {
        Some((v, n)) if n == after.len() => v,
        _ => after.to_string(),
    };
    (key, value)
}

/// A Go double-quoted string at the start of `s` (as `strconv.Quote` writes it), unescaped, and
/// the number of bytes it took.
fn quoted_prefix(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 2)),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' | '"' | '\'' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let digits = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..digits)
                            .filter_map(|_| chars.next())
                            .map(|x| x.1)
                            .collect();
                        let code = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests;
