// Run by lade with node on the host after a production install in its staging directory.
// argv: PLATFORM (linux/arm64) and HOST_PLATFORM, or "native-ok" when the install was for the
// host itself.
// 1. Package managers leave bookkeeping in node_modules that the app never reads and that may
//    hold timestamps or absolute paths (pnpm's .modules.yaml has `prunedAt`); removing it keeps
//    the dependency layer byte-identical for the same lockfile and platform.
// 2. A package that compiles native code at install time (binding.gyp or `gypfile: true`)
//    cannot be built for another architecture here: its install scripts did not run (lade
//    passes --ignore-scripts for a foreign platform), so fail now, naming the packages, rather
//    than ship an image that crashes on require().
"use strict";
const fs = require("fs");
const path = require("path");

const [platform, host] = process.argv.slice(-2);
const root = "node_modules";
fs.mkdirSync(root, { recursive: true });
for (const f of [
  ".package-lock.json",
  ".modules.yaml",
  ".yarn-integrity",
  ".yarn-state.yml",
  ".pnpm-workspace-state.json",
  ".pnpm-workspace-state-v1.json",
  ".pnpm/lock.yaml",
  ".cache",
]) {
  fs.rmSync(path.join(root, f), { recursive: true, force: true });
}

if (host === "native-ok") process.exit(0);

const arch = platform.split("/")[1];
const native = [];
const seen = new Set();
function visit(dir) {
  let names;
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of names) {
    const p = path.join(dir, e.name);
    if (e.name.startsWith("@") && e.isDirectory()) {
      visit(p);
      continue;
    }
    if (!e.isDirectory() && !e.isSymbolicLink()) continue;
    let real;
    try {
      real = fs.realpathSync(p);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    check(p, real);
    visit(path.join(real, "node_modules"));
  }
}
function check(p, real) {
  let pkg;
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(real, "package.json"), "utf8"));
  } catch {
    // pnpm's virtual store (.pnpm) holds packages one level further down.
    if (path.basename(p) === ".pnpm") visit(real);
    return;
  }
  const gyp = fs.existsSync(path.join(real, "binding.gyp")) || pkg.gypfile === true;
  if (!gyp) return;
  // Packages that ship prebuilt binaries per platform (prebuildify) need no compiler.
  const prebuilt = ["prebuilds/linux-" + nodeArch(arch), "prebuilds/linux-" + arch].some((d) =>
    fs.existsSync(path.join(real, d)),
  );
  if (!prebuilt) native.push(`${pkg.name || path.basename(p)} (${path.relative(process.cwd(), p)})`);
}
function nodeArch(a) {
  return { amd64: "x64", arm64: "arm64", arm: "arm", 386: "ia32", ppc64le: "ppc64", s390x: "s390x" }[a] || a;
}
visit(root);
if (native.length > 0) {
  console.error(
    `lade: ${native.join(", ")} ${native.length === 1 ? "compiles" : "compile"} native code at install time ` +
      `(binding.gyp) and cannot be built for ${platform} on this ${host} machine without emulation. ` +
      `Build the ${platform} image on a ${platform} machine, leave ${platform} out of the platforms, ` +
      `or use a package that ships prebuilt binaries.`,
  );
  process.exit(1);
}
