//! What lade reads from Gradle build scripts without running Gradle: the main class the
//! build names (`mainClassName = '…'`, `mainClass = '…'`, `mainClass.set("…")`, a manifest's
//! `'Main-Class': '…'`). Scripts are programs, so this is a scan of their text for those
//! assignments with a literal string; anything else is left to `[java] main_class`.

/// The build files that make a directory a Gradle project, in the order they are read.
pub const BUILD_FILES: [&str; 4] = [
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "settings.gradle.kts",
];

/// The main class a build script names with a string literal, and the key that named it.
pub fn main_class(script: &str) -> Option<(String, String)> {
    for line in script.lines() {
        let line = line.trim();
        if line.starts_with("//") {
            continue;
        }
        for key in [
            "mainClassName",
            "mainClass",
            "'Main-Class'",
            "\"Main-Class\"",
        ] {
            let Some(at) = line.find(key) else { continue };
            let rest = line[at + key.len()..].trim_start();
            let rest = rest
                .strip_prefix(".set(")
                .or_else(|| rest.strip_prefix('='))
                .or_else(|| rest.strip_prefix(':'))
                .or_else(|| rest.strip_prefix('('));
            let Some(rest) = rest.map(str::trim_start) else {
                continue;
            };
            let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                let class = &rest[1..1 + end];
                if !class.is_empty() && !class.contains('$') {
                    return Some((class.to_string(), key.trim_matches(['\'', '"']).to_string()));
                }
            }
        }
    }
    None
}

/// The Java release a build script compiles for: `options.release = 21`,
/// `JavaLanguageVersion.of(21)` (a toolchain), `targetCompatibility`, then `sourceCompatibility`
/// (`= 17`, `= '17'`, `= JavaVersion.VERSION_17`, `= "1.8"`), and the key that set it.
pub fn release(script: &str) -> Option<(u16, String)> {
    let code: Vec<&str> = script
        .lines()
        .map(|l| l.split("//").next().unwrap_or("").trim())
        .collect();
    for key in [
        "options.release",
        "JavaLanguageVersion.of(",
        "targetCompatibility",
        "sourceCompatibility",
    ] {
        for line in &code {
            let Some(at) = line.find(key) else { continue };
            let rest = line[at + key.len()..]
                .trim_start_matches([' ', '=', '(', '\'', '"'])
                .trim_start_matches(".set(")
                .trim_start_matches("JavaVersion.VERSION_")
                .trim_start_matches("JavaLanguageVersion.of(");
            let value: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
                .collect();
            if let Some(n) = super::java_release_number(&value.replace('_', ".")) {
                return Some((n, key.trim_end_matches('(').to_string()));
            }
        }
    }
    None
}

/// Gradle's path of a project directory relative to the root (`app/api` → `:app:api`).
pub fn project_path(module: &str) -> String {
    if module.starts_with(':') {
        return module.to_string();
    }
    let parts: Vec<&str> = module.split('/').filter(|p| !p.is_empty()).collect();
    format!(":{}", parts.join(":"))
}

/// The directory of a Gradle project path, for the default project layout (`:app:api` →
/// `app/api`).
pub fn project_dir(path: &str) -> String {
    path.trim_start_matches(':').replace(':', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_class_forms() {
        let m = |s: &str| main_class(s).map(|(c, _)| c);
        assert_eq!(
            m("apply plugin: 'application'\nmainClassName = 'com.example.App'\n"),
            Some("com.example.App".into())
        );
        assert_eq!(
            m("application {\n    mainClass = \"a.B\"\n}"),
            Some("a.B".into())
        );
        assert_eq!(
            m("application { mainClass.set(\"a.C\") }"),
            Some("a.C".into())
        );
        assert_eq!(
            m("jar { manifest { attributes 'Main-Class': 'a.D' } }"),
            Some("a.D".into())
        );
        assert_eq!(m("// mainClassName = 'x.Y'\n"), None);
        assert_eq!(m("mainClassName = \"${group}.App\"\n"), None);
        assert_eq!(m("dependencies { compile 'x:y:1' }"), None);
    }

    #[test]
    fn releases() {
        let r = |s: &str| release(s).map(|(n, _)| n);
        assert_eq!(r("sourceCompatibility = 17\n"), Some(17));
        assert_eq!(r("sourceCompatibility = '1.8'\n"), Some(8));
        assert_eq!(
            r("targetCompatibility = JavaVersion.VERSION_21\n"),
            Some(21)
        );
        assert_eq!(
            r("sourceCompatibility = JavaVersion.VERSION_1_8\n"),
            Some(8)
        );
        assert_eq!(
            r("java { toolchain { languageVersion = JavaLanguageVersion.of(21) } }"),
            Some(21)
        );
        assert_eq!(
            r("java.toolchain.languageVersion.set(JavaLanguageVersion.of(17))"),
            Some(17)
        );
        assert_eq!(
            r("tasks.withType(JavaCompile) { options.release = 11 }"),
            Some(11)
        );
        assert_eq!(r("// sourceCompatibility = 21\napply plugin: 'java'"), None);
    }

    #[test]
    fn project_paths() {
        assert_eq!(project_path("app"), ":app");
        assert_eq!(project_path("app/api"), ":app:api");
        assert_eq!(project_path(":svc"), ":svc");
        assert_eq!(project_dir(":app:api"), "app/api");
    }
}
