//! go.mod and go.work syntax lade reads without the go tool.

/// The bodies of `keyword` directives, one per line: `keyword X` lines and the lines of
/// `keyword ( … )` blocks, comments removed.
pub fn directives(text: &str, keyword: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                out.push(line.to_string());
            }
            continue;
        }
        let Some(rest) = line.strip_prefix(keyword) else {
            continue;
        };
        if !rest.starts_with([' ', '\t', '(']) {
            continue;
        }
        let rest = rest.trim();
        if rest == "(" {
            in_block = true;
        } else if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}
