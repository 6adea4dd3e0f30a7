//! Canonical JSON: object keys sorted, no insignificant whitespace. The bytes returned are the
//! bytes lade hashes, writes and pushes, so the same value always gets the same digest even
//! though oci-spec keeps annotations, labels and ports in `HashMap`s.

use serde::Serialize;
use serde_json::Value;

pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = sorted(serde_json::to_value(value)?);
    serde_json::to_vec(&v)
}

/// Rebuilds every object with its keys in byte order, whichever map type serde_json was built
/// with (a dependency enabling `preserve_order` would otherwise keep insertion order).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn keys_sorted_at_every_depth() {
        let mut inner = HashMap::new();
        for k in ["zeta", "alpha", "mid", "beta", "omega"] {
            inner.insert(k.to_string(), 1);
        }
        let mut outer = HashMap::new();
        outer.insert("b", inner.clone());
        outer.insert("a", inner);
        let bytes = super::to_vec(&outer).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":{"alpha":1,"beta":1,"mid":1,"omega":1,"zeta":1},"b":{"alpha":1,"beta":1,"mid":1,"omega":1,"zeta":1}}"#
        );
    }
}
