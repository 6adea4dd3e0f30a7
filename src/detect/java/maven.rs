//! What lade reads from a `pom.xml`: the artifact, its modules and the main class the build
//! names. The POM is parsed as XML (no Maven run: detectors only read files); properties are
//! substituted one level deep, enough for `${start-class}` style references.

use crate::detect::DetectError;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pom {
    pub artifact_id: Option<String>,
    pub packaging: Option<String>,
    pub modules: Vec<String>,
    /// The main class the build names, and where (`maven-jar-plugin mainClass`, …).
    pub main_class: Option<(String, String)>,
    pub spring_boot: bool,
    /// The Java release the compiler is told to produce, and where it was set.
    pub release: Option<(u16, String)>,
}

/// Properties that name a main class by convention, in the order they are trusted.
const MAIN_PROPERTIES: [&str; 4] = ["start-class", "exec.mainClass", "mainClass", "main.class"];

pub fn read(path: &Path) -> Result<Pom, DetectError> {
    let text = std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|detail| DetectError::Invalid {
        file: path.to_path_buf(),
        detail,
    })
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

pub fn parse(text: &str) -> Result<Pom, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not valid XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "project" {
        return Err(format!(
            "the root element is <{}>, not <project>",
            root.tag_name().name()
        ));
    }
    let mut properties = BTreeMap::new();
    if let Some(props) = child(root, "properties") {
        for p in props.children().filter(|c| c.is_element()) {
            if let Some(v) = text_of(Some(p)) {
                properties.insert(p.tag_name().name().to_string(), v);
            }
        }
    }
    let modules = child(root, "modules")
        .map(|m| {
            m.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "module")
                .filter_map(|c| text_of(Some(c)))
                .collect()
        })
        .unwrap_or_default();
    let (main_class, spring_boot) = main_class(root, &properties);
    Ok(Pom {
        release: release(root, &properties),
        artifact_id: text_of(child(root, "artifactId")),
        packaging: text_of(child(root, "packaging")),
        modules,
        main_class,
        spring_boot,
    })
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: Option<Node<'_, '_>>) -> Option<String> {
    node.and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// `${key}` replaced by the property's value, when there is one.
fn substitute(properties: &BTreeMap<String, String>, v: String) -> String {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(key) => properties.get(key).cloned().unwrap_or(v),
        None => v,
    }
}

/// The `<plugin>` elements under `<build>`.
fn plugins<'a, 'i>(root: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    child(root, "build").into_iter().flat_map(|build| {
        build
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "plugin")
    })
}

/// The main class a plugin's `mainClass` (or, failing that, a conventional property) names,
/// and whether Spring Boot's plugin is there.
fn main_class(
    root: Node<'_, '_>,
    properties: &BTreeMap<String, String>,
) -> (Option<(String, String)>, bool) {
    let mut main_class = None;
    let mut spring_boot = false;
    for plugin in plugins(root) {
        let artifact = text_of(child(plugin, "artifactId")).unwrap_or_default();
        if artifact == "spring-boot-maven-plugin" {
            spring_boot = true;
        }
        if main_class.is_some() {
            continue;
        }
        if let Some(m) = plugin
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "mainClass")
            .and_then(|n| text_of(Some(n)))
        {
            main_class = Some((substitute(properties, m), format!("{artifact} mainClass")));
        }
    }
    if main_class.is_none() {
        main_class = MAIN_PROPERTIES.iter().find_map(|k| {
            properties
                .get(*k)
                .map(|v| (v.clone(), format!("property {k}")))
        });
    }
    // An unresolved `${…}` is not a class name.
    (main_class.filter(|(m, _)| !m.contains("${")), spring_boot)
}

/// The compiler's release/target: the plugin's configuration first, then the properties
/// Maven (and Spring Boot's parent, `java.version`) read.
fn release(root: Node<'_, '_>, properties: &BTreeMap<String, String>) -> Option<(u16, String)> {
    let mut release = None;
    for plugin in plugins(root) {
        if text_of(child(plugin, "artifactId")).as_deref() != Some("maven-compiler-plugin") {
            continue;
        }
        if let Some(config) = child(plugin, "configuration") {
            for key in ["release", "target"] {
                if release.is_none()
                    && let Some(v) = text_of(child(config, key)).map(|v| substitute(properties, v))
                    && let Some(n) = super::java_release_number(&v)
                {
                    release = Some((n, format!("maven-compiler-plugin {key}")));
                }
            }
        }
    }
    release.or_else(|| {
        [
            "maven.compiler.release",
            "maven.compiler.target",
            "java.version",
            "maven.compiler.source",
        ]
        .iter()
        .find_map(|k| {
            let v = substitute(properties, properties.get(*k)?.clone());
            super::java_release_number(&v).map(|n| (n, format!("property {k}")))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_class_from_plugins_then_properties() {
        let pom = parse(
            r#"<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <artifactId>server</artifactId>
  <properties><start-class>com.example.FromProperty</start-class><app.main>com.example.Sub</app.main></properties>
  <build><plugins>
    <plugin><artifactId>maven-compiler-plugin</artifactId></plugin>
    <plugin><artifactId>maven-jar-plugin</artifactId>
      <configuration><archive><manifest><mainClass>${app.main}</mainClass></manifest></archive></configuration>
    </plugin>
  </plugins></build>
</project>"#,
        )
        .unwrap();
        assert_eq!(pom.artifact_id.as_deref(), Some("server"));
        assert_eq!(
            pom.main_class,
            Some((
                "com.example.Sub".to_string(),
                "maven-jar-plugin mainClass".to_string()
            ))
        );
        assert!(!pom.spring_boot);

        let pom = parse(
            "<project><properties><start-class>a.B</start-class></properties>\
             <build><plugins><plugin><artifactId>spring-boot-maven-plugin</artifactId></plugin></plugins></build>\
             <modules><module>lib</module><module>app</module></modules></project>",
        )
        .unwrap();
        assert_eq!(
            pom.main_class,
            Some(("a.B".to_string(), "property start-class".to_string()))
        );
        assert!(pom.spring_boot);
        assert_eq!(pom.modules, ["lib", "app"]);
        assert_eq!(pom.release, None);

        let pom = parse(
            "<project><properties><java.version>21</java.version><maven.compiler.release>${java.version}</maven.compiler.release></properties></project>",
        )
        .unwrap();
        assert_eq!(
            pom.release,
            Some((21, "property maven.compiler.release".to_string()))
        );
        let pom = parse(
            "<project><properties><maven.compiler.release>11</maven.compiler.release></properties>\
             <build><plugins><plugin><artifactId>maven-compiler-plugin</artifactId>\
             <configuration><target>1.8</target></configuration></plugin></plugins></build></project>",
        )
        .unwrap();
        assert_eq!(
            pom.release,
            Some((8, "maven-compiler-plugin target".to_string()))
        );
    }

    #[test]
    fn broken_xml_names_line_and_column() {
        let err = parse("<project>\n  <artifactId>x</artifact>\n</project>").unwrap_err();
        assert!(err.contains("2:"), "{err}");
        assert!(parse("<settings/>").unwrap_err().contains("<settings>"));
    }
}
