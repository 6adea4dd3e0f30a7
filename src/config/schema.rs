//! Which keys lade's settings have, read from the setting types themselves (so a new field is
//! known everywhere without a second list), and the pruning of keys lade does not know from a
//! settings table found in another tool's file: there an unknown key is a warning, not an error.

use super::{DebianBaseSetting, GoSettings, JavaSettings, LadeConfig, NodeSettings};
use super::{RegistrySettings, RustSettings};
use serde::Deserialize;
use serde::de::{self, Visitor};
use std::ops::Range;
use toml::Spanned;
use toml::de::DeValue;

/// Tables whose keys are the user's (variable names, label keys, platforms), not lade's.
pub const FREE_MAPS: &[&str] = &["env", "labels", "annotations", "rust.target"];

/// The keys of the table at `path` (`""` for the top level, `"rust"`, `"base"`…), or `None`
/// when `path` is not a table of lade's.
pub fn fields(path: &str) -> Option<&'static [&'static str]> {
    match path {
        "" => Some(fields_of::<LadeConfig>()),
        "go" => Some(fields_of::<GoSettings>()),
        "rust" => Some(fields_of::<RustSettings>()),
        "registry" => Some(fields_of::<RegistrySettings>()),
        "node" => Some(fields_of::<NodeSettings>()),
        "java" => Some(fields_of::<JavaSettings>()),
        // `[base]` as a table: the Debian base form.
        "base" => Some(fields_of::<DebianBaseSetting>()),
        _ => None,
    }
}

/// A key lade does not know, found while pruning: its dotted path in the lade table and the
/// span of the key in the text.
pub struct Unknown {
    pub key: String,
    pub span: Range<usize>,
    /// The closest known key, when one is close enough to be a typo.
    pub suggestion: Option<&'static str>,
}

/// Removes every key lade does not know from the lade table `value` and returns them, in the
/// order they appear. Tables of free keys (`env`, `labels`…) are kept whole.
pub fn prune(value: &mut Spanned<DeValue<'_>>) -> Vec<Unknown> {
    let mut unknown = Vec::new();
    prune_at("", value, &mut unknown);
    unknown.sort_by_key(|u| u.span.start);
    unknown
}

fn prune_at(path: &str, value: &mut Spanned<DeValue<'_>>, unknown: &mut Vec<Unknown>) {
    // Free maps and values are not lade tables: `fields` knows none of their keys.
    let Some(known) = fields(path) else { return };
    let DeValue::Table(table) = value.get_mut() else {
        return;
    };
    for (k, v) in std::mem::replace(table, toml::de::DeTable::new()) {
        if known.contains(&k.get_ref().as_ref()) {
            table.insert(k, v);
        } else {
            unknown.push(Unknown {
                key: join(path, k.get_ref()),
                span: k.span(),
                suggestion: super::parse::closest(k.get_ref(), known),
            });
        }
    }
    for (k, v) in table.iter_mut() {
        prune_at(&join(path, k.get_ref()), v, unknown);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The field names serde's derive gives a struct: a deserializer that only records what
/// `deserialize_struct` is asked for.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = Probe(None);
    // The probe always fails after recording the fields; the error carries nothing.
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

struct Probe(Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for &mut Probe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_from_the_types() {
        let top = fields("").unwrap();
        for k in [
            "name",
            "entrypoint",
            "platforms",
            "base",
            "java",
            "registry",
        ] {
            assert!(top.contains(&k), "{k} in {top:?}");
        }
        assert!(!top.contains(&"path"), "skipped fields are not keys");
        assert!(fields("rust").unwrap().contains(&"no-default-features"));
        assert!(fields("java").unwrap().contains(&"main_class"));
        assert_eq!(fields("base").unwrap(), &["preset", "packages", "root"]);
        assert_eq!(fields("env"), None);
    }

    #[test]
    fn prunes_unknown_keys_and_keeps_free_maps() {
        let text = "name = \"a\"\ncolour = 1\n[env]\nANY = \"x\"\n[rust]\nbin = \"b\"\nbni = \"c\"\ntarget = { \"linux/arm64\" = \"t\" }\n";
        let root = toml::de::DeTable::parse(text).unwrap();
        let mut v = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
        let unknown = prune(&mut v);
        let keys: Vec<&str> = unknown.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["colour", "rust.bni"]);
        assert_eq!(&text[unknown[1].span.clone()], "bni");
        assert_eq!(unknown[1].suggestion, Some("bin"));
        let c = LadeConfig::deserialize(toml::de::ValueDeserializer::from(v)).unwrap();
        assert_eq!(c.env["ANY"], "x");
        assert_eq!(c.rust.target["linux/arm64"], "t");
    }
}
