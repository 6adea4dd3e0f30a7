//! The presets, mirroring distroless's package sets for Debian 12. Each preset is a stack of
//! tiers (static, cc, a language runtime), one layer each, so images built from different
//! presets share their lower layers. A tier names its root packages; the resolver adds their
//! dependency closure, minus names on the skip lists: dependencies that exist only to run
//! maintainer scripts, or (as in distroless) optional features such as printing and sound.

use crate::base_spec::Preset;

// The packages and files of each preset; its name and parsing are in `crate::base_spec`.
impl Preset {
    /// The tiers, lowest first.
    pub fn tiers(self) -> Vec<&'static Tier> {
        match self {
            Preset::Static => vec![&STATIC],
            Preset::Cc => vec![&STATIC, &CC],
            Preset::Python3 => vec![&STATIC, &CC, &PYTHON3],
            Preset::Nodejs => vec![&STATIC, &CC, &NODEJS],
            Preset::Java => vec![&STATIC, &CC, &JAVA],
        }
    }

    /// Environment beyond PATH and SSL_CERT_FILE.
    pub fn env(self, arch: &str) -> Vec<(String, String)> {
        match self {
            Preset::Python3 => vec![("LANG".into(), "C.UTF-8".into())],
            Preset::Java => vec![
                ("LANG".into(), "C.UTF-8".into()),
                ("JAVA_HOME".into(), java_home(arch)),
            ],
            _ => Vec::new(),
        }
    }

    /// The entrypoint distroless gives the runtime images; none for static and cc.
    pub fn entrypoint(self) -> Option<Vec<String>> {
        let e: &[&str] = match self {
            Preset::Static | Preset::Cc => return None,
            Preset::Python3 => &["/usr/bin/python3"],
            Preset::Nodejs => &["/usr/bin/node"],
            Preset::Java => &["/usr/bin/java", "-jar"],
        };
        Some(e.iter().map(|s| s.to_string()).collect())
    }

    /// Symlinks that maintainer scripts or other packages (`python3-minimal`,
    /// update-alternatives) would create: (path, target).
    pub fn symlinks(self, arch: &str) -> Vec<(String, String)> {
        match self {
            Preset::Python3 => vec![("/usr/bin/python3".into(), "python3.11".into())],
            Preset::Java => vec![(
                "/usr/bin/java".into(),
                format!("{}/bin/java", java_home(arch)),
            )],
            _ => Vec::new(),
        }
    }
}

fn java_home(arch: &str) -> String {
    format!("/usr/lib/jvm/java-17-openjdk-{arch}")
}

/// What a tier generates besides package files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// passwd, group, nsswitch.conf, /tmp, /root, /home/nonroot, the merged-/usr symlinks and
    /// the CA bundle built from ca-certificates.
    StaticFiles,
    /// /etc/ssl/certs/java/cacerts built from ca-certificates.
    JavaCacerts,
}

/// One layer's worth of packages.
#[derive(Debug)]
pub struct Tier {
    pub name: &'static str,
    pub roots: &'static [&'static str],
    /// Dependencies never installed in this tier, and why.
    pub skip: &'static [(&'static str, &'static str)],
    /// Packages of which only some paths are kept (prefixes of image paths), which then get no
    /// status.d entry: an empty list keeps nothing but what the tier generates from them.
    pub partial: &'static [(&'static str, &'static [&'static str])],
    pub extras: &'static [Extra],
}

/// Skipped everywhere: the machinery of dpkg's maintainer scripts. Nothing runs them in an
/// image built without dpkg, and they would add a shell, perl and dpkg itself.
pub const GLOBAL_SKIP: &[(&str, &str)] = &[
    (
        "dpkg",
        "package manager: nothing installs packages inside the image",
    ),
    ("perl-base", "used only by maintainer scripts"),
    ("perl", "used only by maintainer scripts"),
    (
        "debconf",
        "maintainer-script configuration, not run without dpkg",
    ),
    (
        "debconf-2.0",
        "maintainer-script configuration, not run without dpkg",
    ),
    (
        "cdebconf",
        "maintainer-script configuration, not run without dpkg",
    ),
    ("ucf", "maintainer-script configuration-file handling"),
    (
        "install-info",
        "maintainer-script documentation index; docs are not shipped",
    ),
    (
        "init-system-helpers",
        "maintainer-script service handling; images have no init",
    ),
    (
        "adduser",
        "maintainer-script user creation; lade writes /etc/passwd itself",
    ),
    ("lsb-base", "init-script helpers; images have no init"),
    ("sensible-utils", "used only by maintainer scripts"),
];

pub static STATIC: Tier = Tier {
    name: "static",
    roots: &[
        "base-files",
        "netbase",
        "tzdata",
        "media-types",
        "ca-certificates",
    ],
    skip: &[
        ("awk", "only base-files' maintainer scripts use it"),
        (
            "openssl",
            "update-ca-certificates needs it; lade builds the CA bundle itself",
        ),
    ],
    partial: &[("ca-certificates", &[])],
    extras: &[Extra::StaticFiles],
};

pub static CC: Tier = Tier {
    name: "cc",
    roots: &[
        "libc6",
        "libssl3",
        "libgcc-s1",
        "gcc-12-base",
        "libstdc++6",
        "libgomp1",
    ],
    skip: &[],
    partial: &[],
    extras: &[],
};

/// The C.UTF-8 locale comes from libc-bin, which also holds ldconfig and friends.
const LOCALE: (&str, &[&str]) = ("libc-bin", &["usr/lib/locale/C.utf8"]);

pub static PYTHON3: Tier = Tier {
    name: "python3",
    roots: &[
        "python3.11-minimal",
        "libpython3.11-minimal",
        "libpython3.11-stdlib",
        "libc-bin",
    ],
    skip: &[],
    partial: &[LOCALE],
    extras: &[],
};

pub static NODEJS: Tier = Tier {
    name: "nodejs",
    roots: &["nodejs"],
    skip: &[],
    partial: &[],
    extras: &[],
};

pub static JAVA: Tier = Tier {
    name: "java",
    roots: &[
        "openjdk-17-jre-headless",
        "fonts-dejavu-core",
        "libharfbuzz0b",
        "libc-bin",
    ],
    skip: &[
        (
            "ca-certificates-java",
            "lade builds /etc/ssl/certs/java/cacerts itself",
        ),
        (
            "java-common",
            "only manages update-alternatives; lade links /usr/bin/java",
        ),
        ("libcups2", "printing; distroless's java leaves it out"),
        ("libasound2", "sound; distroless's java leaves it out"),
        (
            "libpcsclite1",
            "smart cards; distroless's java leaves it out",
        ),
        (
            "libnss3",
            "NSS PKCS#11 provider, not used by default; distroless's java leaves it out",
        ),
        ("util-linux", "used only by maintainer scripts"),
    ],
    partial: &[LOCALE],
    extras: &[Extra::JavaCacerts],
};

/// The tier for `--package` names.
pub static EXTRAS: Tier = Tier {
    name: "extras",
    roots: &[],
    skip: &[],
    partial: &[],
    extras: &[],
};

impl Tier {
    /// Why `name` is not installed in this tier, if it is skipped.
    pub fn skip_reason(&self, name: &str) -> Option<String> {
        self.skip
            .iter()
            .chain(GLOBAL_SKIP)
            .find(|(n, _)| *n == name)
            .map(|(_, why)| why.to_string())
    }

    /// The paths kept of `package` when it is installed only in part.
    pub fn partial_paths(&self, package: &str) -> Option<&'static [&'static str]> {
        self.partial
            .iter()
            .find(|(n, _)| *n == package)
            .map(|(_, paths)| *paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_stack() {
        let names: Vec<&str> = Preset::Java.tiers().iter().map(|t| t.name).collect();
        assert_eq!(names, ["static", "cc", "java"]);
        assert!(JAVA.skip_reason("dpkg").is_some());
        assert!(JAVA.skip_reason("libcups2").is_some());
        assert!(CC.skip_reason("libcups2").is_none());
        assert_eq!(STATIC.partial_paths("ca-certificates"), Some(&[][..]));
    }
}
