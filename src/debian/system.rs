//! The files a distroless base has that no package installs: users and groups, name-service
//! configuration, the merged-/usr symlinks, writable /tmp and the nonroot home.

/// The user distroless's nonroot images run as, and its home.
pub const NONROOT_UID: u32 = 65532;
pub const NONROOT_HOME: &str = "/home/nonroot";

/// The same three users distroless has. No shells exist, hence `/sbin/nologin`.
pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";

pub const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

/// glibc's resolver reads this; without it `files` and `dns` are still the defaults, but Go's
/// resolver, for one, looks for it to decide the order of /etc/hosts and DNS.
pub const NSSWITCH: &str = "passwd:         files\n\
group:          files\n\
shadow:         files\n\
gshadow:        files\n\
\n\
hosts:          files dns\n\
networks:       files\n\
\n\
protocols:      db files\n\
services:       db files\n\
ethers:         db files\n\
rpc:            db files\n\
\n\
netgroup:       nis\n";

/// The merged-/usr links for an architecture: (path, target). `/lib64` only where the ABI
/// puts the dynamic loader there.
pub fn usr_merge_links(arch: &str) -> Vec<(&'static str, &'static str)> {
    let mut links = vec![
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
    ];
    if arch == "amd64" {
        links.push(("/lib64", "usr/lib64"));
    }
    links
}
