//! Staging copies: build steps that copy project files into lade's build directory (the
//! project tree is never written to), optionally keeping the previous copy and what was built
//! from it when nothing changed.

use crate::plan::BuildStep;
use std::collections::BTreeMap;
use std::path::Path;

/// Marks a staging directory whose build or install finished; written by the step that
/// finishes it, removed with the directory whenever its inputs change.
pub const INSTALLED_STAMP: &str = ".lade-installed";

/// Replaces `dest` with a copy of `files` (paths relative to `from`, directories copied whole),
/// through a tar pipe: portable (GNU and BSD tar), keeps symlinks and modes, and never writes
/// to `from`.
pub fn copy_step(description: String, from: &Path, files: &[String], dest: &Path) -> BuildStep {
    let script = "set -e\ndest=$1\nshift\nrm -rf -- \"$dest\"\nmkdir -p -- \"$dest\"\n\
                  tar -cf - -- \"$@\" | tar -xf - -C \"$dest\"\n";
    let mut args = vec![
        "-c".to_string(),
        script.to_string(),
        "lade-copy".into(),
        dest.to_string_lossy().into_owned(),
    ];
    args.extend(files.iter().cloned());
    BuildStep {
        description,
        program: "sh".into(),
        args,
        env: BTreeMap::new(),
        dir: from.to_path_buf(),
    }
}

/// Like [`copy_step`], but keeps `dest` (and its install) when the files and `key` are exactly
/// what they were at its last finished install; `.lade-inputs` records them.
pub fn reusable_copy_step(
    description: String,
    from: &Path,
    files: &[String],
    dest: &Path,
    key: &str,
) -> BuildStep {
    let script = format!(
        "# copies the files; keeps the last copy and what was built from it when they and the command are unchanged
set -e
dest=$1
key=$2
shift 2
new=$dest.new
rm -rf -- \"$new\"
mkdir -p -- \"$new\"
tar -cf - -- \"$@\" | tar -xf - -C \"$new\"
{{
  printf '%s\\n' \"$key\"
  for f in \"$@\"; do
    find \"$f\" -type f | LC_ALL=C sort | while IFS= read -r p; do
      printf '%s\\n' \"$p\"
      cat -- \"$p\"
    done
  done
}} > \"$new/.lade-inputs\"
if [ -f \"$dest/{INSTALLED_STAMP}\" ] && cmp -s \"$new/.lade-inputs\" \"$dest/.lade-inputs\"; then
  rm -rf -- \"$new\"
  exit 0
fi
rm -rf -- \"$dest\"
mv -- \"$new\" \"$dest\"
"
    );
    let mut args = vec![
        "-c".to_string(),
        script,
        "lade-stage".into(),
        dest.to_string_lossy().into_owned(),
        key.to_string(),
    ];
    args.extend(files.iter().cloned());
    BuildStep {
        description,
        program: "sh".into(),
        args,
        env: BTreeMap::new(),
        dir: from.to_path_buf(),
    }
}
