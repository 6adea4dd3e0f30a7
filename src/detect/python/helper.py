# lade python build helper: clean DIR | write FILE TEXT... | copy SRC DST | normalize DIR PYTHON.
# Run by the host's python3 as build steps (`python3 -c <this> CMD ARGS`). The plan carries it as data so every step is visible in `lade plan`, and it only touches
# lade's build directory.
import os, shutil, sys

def clean(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)

def write(path, *pieces):
    # The text comes in pieces: one argument may not exceed 128 KiB.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(pieces))

SKIP = shutil.ignore_patterns(".git", ".hg", ".venv", "venv", "__pycache__", "node_modules",
                              "build", "dist", "*.egg-info", ".tox", ".nox", "lade-out",
                              ".env", ".env.*", "*.pem", "*.key")

def copy(src, dst):
    # Wheels are built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True, ignore=SKIP)

def normalize(d, python):
    # What pip leaves that would differ between runs or hosts: bytecode, direct_url.json (the
    # file:// path of a local wheel) and console scripts whose shebang names the host python.
    for root, dirs, files in os.walk(d):
        for x in [x for x in dirs if x == "__pycache__"]:
            shutil.rmtree(os.path.join(root, x))
            dirs.remove(x)
        for f in files:
            p = os.path.join(root, f)
            if f.endswith(".pyc") or (f == "direct_url.json" and root.endswith(".dist-info")):
                os.remove(p)
    bindir = os.path.join(d, "bin")
    if os.path.isdir(bindir):
        for f in sorted(os.listdir(bindir)):
            p = os.path.join(bindir, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as fh:
                data = fh.read()
            first, _, rest = data.partition(b"\n")
            if first.startswith(b"#!") and b"python" in first:
                with open(p, "wb") as fh:
                    fh.write(b"#!" + python.encode() + b"\n" + rest)

def owner(d, rel):
    # The distribution whose RECORD lists `rel`, for the error message.
    for info in sorted(os.listdir(d)):
        record = os.path.join(d, info, "RECORD")
        if info.endswith(".dist-info") and os.path.isfile(record):
            with open(record, encoding="utf-8") as fh:
                if any(line.split(",")[0] == rel for line in fh):
                    return info[: -len(".dist-info")].replace("-", " ", 1)
    return "an unknown distribution"

def check_native(d, machine, platform):
    # pip builds a source distribution on this machine even when told another platform, and
    # installs the result as is: native code built that way is for the wrong CPU. Pure Python
    # ones are fine, so this checks the result instead of refusing every sdist.
    want = int(machine)
    bad = []
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            if os.path.islink(p):
                continue
            with open(p, "rb") as fh:
                head = fh.read(20)
            if len(head) == 20 and head[:4] == b"\x7fELF":
                got = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
                if got != want:
                    bad.append(os.path.relpath(p, d))
    for rel in bad:
        print(f"lade: {owner(d, rel)} has no wheel for {platform}; its source was built on this machine, and {rel} is native code for this machine's CPU, not {platform}. Use a version with {platform} wheels, or build on a {platform} machine.", file=sys.stderr)
    sys.exit(1 if bad else 0)

cmd, args = sys.argv[1], sys.argv[2:]
{"clean": clean, "write": write, "copy": copy, "normalize": normalize, "check-native": check_native}[cmd](*args)
