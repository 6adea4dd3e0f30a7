// Run by lade with node on the host after a production install in its staging directory.
// argv: PLATFORM (linux/arm64), HOST_PLATFORM, and "native" when the install was for the host
// itself (install scripts could run) or "cross" when it was not.
// 1. Package managers leave bookkeeping in node_modules that the app never reads and that may
//    hold timestamps or absolute paths (pnpm's .modules.yaml has `prunedAt`); removing it keeps
//    the dependency layer byte-identical for the same lockfile and platform.
// 2. A package that compiles native code at install time (binding.gyp or `gypfile: true`)
//    cannot be built for another architecture here: its install scripts did not run (lade
//    passes --ignore-scripts for a foreign platform), so fail now, naming the packages, rather
//    than ship an image that crashes on require(). For the host's platform the scripts may
//    still have been skipped (npm 11 runs a dependency's install scripts only when
//    package.json's allowScripts approves it): a package with no compiled .node file fails
//    the same way, saying how to approve it.
"use strict";
const fs = require("fs");
const path = require("path");

const [platform, host, mode] = process.argv.slice(-3);
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
  if (prebuilt || (mode === "native" && hasAddon(real, 0))) return;
  native.push(`${pkg.name || path.basename(p)} (${path.relative(process.cwd(), p)})`);
}
// Whether an install script left a compiled addon (*.node) in the package.
function hasAddon(dir, depth) {
  let names;
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return names.some(
    (e) =>
      (e.isFile() && e.name.endsWith(".node")) ||
      (e.isDirectory() && e.name !== "node_modules" && depth < 6 && hasAddon(path.join(dir, e.name), depth + 1)),
  );
}
function nodeArch(a) {
  return { amd64: "x64", arm64: "arm64", arm: "arm", 386: "ia32", ppc64le: "ppc64", s390x: "s390x" }[a] || a;
}
visit(root);
if (native.length > 0) {
  const names = native.join(", ");
  const verb = native.length === 1 ? "compiles" : "compile";
  if (mode === "native") {
    console.error(
      `lade: ${names} ${verb} native code at install time, but no compiled addon was found: ` +
        `its install script did not run. npm 11 and pnpm 10 run a dependency's install scripts ` +
        `only when approved: run \`npm install-scripts approve <package>\` (allowScripts in ` +
        `package.json) or \`pnpm approve-builds\`, then publish again.`,
    );
  } else {
    console.error(
      `lade: ${names} ${verb} native code at install time (binding.gyp) and cannot be built ` +
        `for ${platform} on this ${host} machine without emulation. Build the ${platform} ` +
        `image on a ${platform} machine, leave ${platform} out of the platforms, or use a ` +
        `package that ships prebuilt binaries.`,
    );
  }
  process.exit(1);
}
// Marks the install finished, so the next publish with the same inputs can reuse it.
fs.writeFileSync(".lade-installed", "");
