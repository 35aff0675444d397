//! Finding scenario files: the paths a user named (files as given, directories searched
//! recursively for `*.toml`), or the shipped `scenarios/` directory found by walking up
//! from the current directory.

use std::io;
use std::path::{Path, PathBuf};

/// The directory of shipped scenarios, looked for in the current directory and each parent.
pub const SCENARIOS_DIR: &str = "scenarios";

/// Why the scenario files could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A named path does not exist.
    #[error("{}: no such file or directory", .0.display())]
    NotFound(PathBuf),
    /// A directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory or entry.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A named directory holds no `*.toml` file.
    #[error("{}: no scenario files (*.toml) in this directory or below", .0.display())]
    NoScenarios(PathBuf),
    /// No path was given and no `scenarios/` directory exists here or above.
    #[error("no scenario files given and no `{SCENARIOS_DIR}/` directory in {} or any parent; name files or directories to run", .0.display())]
    NoScenariosDir(PathBuf),
}

/// The `scenarios/` directory in `cwd` or its nearest ancestor, written relative to `cwd`
/// (`scenarios`, `../scenarios`, ...) so that printed paths stay short.
pub fn find_scenarios_dir(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors().enumerate().find_map(|(depth, dir)| {
        dir.join(SCENARIOS_DIR).is_dir().then(|| {
            let mut rel = PathBuf::new();
            for _ in 0..depth {
                rel.push("..");
            }
            rel.join(SCENARIOS_DIR)
        })
    })
}

/// The scenario files to run: each named file as given, each named directory's `*.toml`
/// files (recursively, sorted by path, leaving out subdirectories named `defects`), in
/// the order named, without repeats. With no
/// paths, the `scenarios/` directory found from `cwd` (see [`find_scenarios_dir`]).
pub fn scenario_files(paths: &[PathBuf], cwd: &Path) -> Result<Vec<PathBuf>, FilesError> {
    let default;
    let paths = if paths.is_empty() {
        default =
            [find_scenarios_dir(cwd)
                .ok_or_else(|| FilesError::NoScenariosDir(cwd.to_path_buf()))?];
        &default[..]
    } else {
        paths
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for path in paths {
        let found = if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            if found.is_empty() {
                return Err(FilesError::NoScenarios(path.clone()));
            }
            found.sort();
            found
        } else if path.exists() {
            vec![path.clone()]
        } else {
            return Err(FilesError::NotFound(path.clone()));
        };
        for file in found {
            if !out.contains(&file) {
                out.push(file);
            }
        }
    }
    Ok(out)
}

/// Appends every `*.toml` file under `dir`. Symbolic links to directories are not
/// followed (no cycles); links to files are.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FilesError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FilesError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            // `defects/` below a named directory holds scenarios that show an unfixed
            // defect and fail by design: run them by naming them (or the directory).
            if path.file_name().is_some_and(|n| n == "defects") {
                continue;
            }
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sim-cli-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    #[test]
    fn walks_directories_sorted_and_finds_scenarios_upwards() {
        let root = scratch("walk");
        let dir = root.join(SCENARIOS_DIR);
        std::fs::create_dir_all(dir.join("regressions")).expect("mkdir");
        for f in ["b.toml", "a.toml", "README.md", "regressions/x-seed1.toml"] {
            std::fs::write(dir.join(f), "").expect("write");
        }
        let files = scenario_files(std::slice::from_ref(&dir), &root).expect("list");
        let names: Vec<_> = files
            .iter()
            .map(|p| p.strip_prefix(&dir).expect("under dir"))
            .collect();
        assert_eq!(
            names,
            [
                Path::new("a.toml"),
                Path::new("b.toml"),
                Path::new("regressions/x-seed1.toml")
            ]
        );

        let deep = root.join("x/y");
        std::fs::create_dir_all(&deep).expect("mkdir");
        assert_eq!(
            find_scenarios_dir(&deep),
            Some(PathBuf::from("../../scenarios"))
        );
        assert_eq!(find_scenarios_dir(&root), Some(PathBuf::from("scenarios")));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_and_empty_paths_are_errors() {
        let root = scratch("errors");
        assert!(matches!(
            scenario_files(&[root.join("nope.toml")], &root),
            Err(FilesError::NotFound(_))
        ));
        assert!(matches!(
            scenario_files(std::slice::from_ref(&root), &root),
            Err(FilesError::NoScenarios(_))
        ));
        let _ = std::fs::remove_dir_all(&root);
    }
}
