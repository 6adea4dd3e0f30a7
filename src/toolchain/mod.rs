//! C toolchains lade provides for building native code: zig (`zig cc`) compiles and links C for
//! any Linux target, so cgo and C-compiling crates cross-build without a cross gcc or an
//! emulator. Detectors name the wrappers in their plans; `ops::checks` finds zig before a
//! build; the `lade zig-wrappers` and `lade zig-cc` steps are the code behind them.

pub mod zig;
