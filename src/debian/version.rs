//! Debian version numbers (`[epoch:]upstream[-revision]`) compared as dpkg compares them
//! (Debian Policy §5.6.12): epochs numerically, then upstream and revision by alternating
//! non-digit runs (letters before non-letters, `~` before everything, even the end) and digit
//! runs (numerically).

use std::cmp::Ordering;

/// Compares two version strings. Malformed epochs compare as part of the upstream version, as
/// dpkg's lenient parser would, so that a strange version never panics the resolver.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// (epoch, upstream, revision); a missing revision is empty, which equals "0".
fn split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The sort weight of one non-digit character; `None` is the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run, numerically: skip leading zeros, then the longer run is bigger, else the
        // first differing digit decides.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// A version relation in a dependency field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<<" => Op::Lt,
            // `<` and `>` are obsolete spellings of `<=` and `>=` (Policy §7.1).
            "<=" | "<" => Op::Le,
            "=" => Op::Eq,
            ">=" | ">" => Op::Ge,
            ">>" => Op::Gt,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }

    /// Whether `have OP want` holds.
    pub fn holds(self, have: &str, want: &str) -> bool {
        let c = compare(have, want);
        match self {
            Op::Lt => c == Ordering::Less,
            Op::Le => c != Ordering::Greater,
            Op::Eq => c == Ordering::Equal,
            Op::Ge => c != Ordering::Less,
            Op::Gt => c == Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn policy_examples() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0+dfsg", "1.0.1", Less),
            ("1:0.1", "2.0", Greater),
            ("0:2.0", "2.0", Equal),
            ("1.002", "1.2", Equal),
            ("1.10", "1.9", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("1:1.2.13.dfsg-1", "1:1.2.0", Greater),
            ("7.0~beta", "7.0", Less),
            ("5.1.1alpha+20120614", "5.1.1", Greater),
            ("a", "", Greater),
            ("1.2-3-4", "1.2-3-5", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn relations() {
        assert!(Op::Ge.holds("2.36-9", "2.34"));
        assert!(!Op::Lt.holds("2.36", "2.36"));
        assert!(Op::Le.holds("2.36", "2.36"));
        assert!(Op::Eq.holds("1:1.0", "1:1.0-0"));
        assert!(Op::Gt.holds("1:0", "9.9"));
        assert_eq!(Op::parse(">"), Some(Op::Ge));
        assert_eq!(Op::parse("=="), None);
    }
}
