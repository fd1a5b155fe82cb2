//! What repository a command ran in and at which commit, read from `.git`
//! directly (no git process): the helper takes this snapshot the moment the
//! shell reports a start or an end, so a record spooled for hours still names
//! the commit of its own time.
//!
//! Handles plain repositories, linked worktrees and submodules (a `.git` file
//! holding `gitdir: …`), loose and packed refs, detached and unborn HEADs.
//!
//! Everything under `.git` comes from whoever made the folder, so every file
//! is read with [`read_small_text`]: no symlink, no FIFO or device, a bound
//! per file; what cannot be read that way counts as absent. The daemon
//! redacts what ends up in a record.

use std::fs;
use std::path::{Component, Path, PathBuf};

use lcd_protocol::small_file::read_small_text;
use lcd_protocol::GitSnapshot;

/// The bound for one-line files: HEAD, commondir, a `.git` file, a loose ref.
const MAX_LINE_FILE: usize = 4096;
/// The bound for the repository's config.
const MAX_CONFIG: usize = 256 * 1024;
/// The bound for packed-refs: large monorepos reach a few MB; past this the
/// commit is left unknown rather than read on every command.
const MAX_PACKED_REFS: usize = 8 << 20;

/// Where a work tree keeps its git data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub root: PathBuf,
    /// This work tree's own git folder (HEAD lives here).
    pub git_dir: PathBuf,
    /// The folder shared by all work trees (refs, packed-refs, config).
    pub common_dir: PathBuf,
}

impl Repo {
    /// The repository containing `cwd`, looking upwards as git does.
    pub fn discover(cwd: &Path) -> Option<Repo> {
        let mut dir = Some(cwd);
        while let Some(d) = dir {
            let dot_git = d.join(".git");
            if let Ok(meta) = fs::metadata(&dot_git) {
                let git_dir = if meta.is_dir() { Some(dot_git) } else { gitdir_file(&dot_git, d) };
                // Like git, a folder whose HEAD is not a plain file is no
                // repository and the search goes on upwards.
                let has_head = |g: &PathBuf| fs::symlink_metadata(g.join("HEAD")).is_ok_and(|m| m.is_file());
                if let Some(git_dir) = git_dir.filter(has_head) {
                    let common_dir = read_small_text(&git_dir.join("commondir"), MAX_LINE_FILE)
                        .ok()
                        .map(|c| git_dir.join(c.trim()))
                        .unwrap_or_else(|| git_dir.clone());
                    return Some(Repo { root: d.to_path_buf(), git_dir, common_dir });
                }
            }
            dir = d.parent();
        }
        None
    }

    /// The current branch and commit, and the origin URL.
    pub fn snapshot(&self) -> GitSnapshot {
        let (branch, commit) = self.head();
        GitSnapshot { root: self.root.to_string_lossy().into_owned(), branch, commit, remote_url: self.origin_url() }
    }

    /// (branch, commit) of HEAD.
    pub fn head(&self) -> (Option<String>, Option<String>) {
        let Ok(head) = read_small_text(&self.git_dir.join("HEAD"), MAX_LINE_FILE) else { return (None, None) };
        let head = head.trim();
        match head.strip_prefix("ref:") {
            Some(reference) => {
                let reference = reference.trim();
                let branch = reference.strip_prefix("refs/heads/").unwrap_or(reference).to_string();
                (Some(branch), self.resolve(reference, 0))
            }
            None => (None, is_object_id(head).then(|| head.to_string())),
        }
    }

    /// The commit a ref names: a loose ref file, else packed-refs.
    fn resolve(&self, reference: &str, depth: u8) -> Option<String> {
        // A ref names a file below the git folder: never an absolute path or
        // one that climbs out (`ref: /home/me/.aws/credentials`).
        let inside = Path::new(reference).components().all(|c| matches!(c, Component::Normal(_)));
        if depth > 5 || reference.contains("..") || !inside {
            return None;
        }
        for dir in [&self.git_dir, &self.common_dir] {
            if let Ok(text) = read_small_text(&dir.join(reference), MAX_LINE_FILE) {
                let text = text.trim();
                if let Some(next) = text.strip_prefix("ref:") {
                    return self.resolve(next.trim(), depth + 1);
                }
                if is_object_id(text) {
                    return Some(text.to_string());
                }
            }
        }
        let packed = read_small_text(&self.common_dir.join("packed-refs"), MAX_PACKED_REFS).ok()?;
        packed
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
            .filter_map(|l| l.split_once(' '))
            .find(|(_, name)| name.trim() == reference)
            .map(|(id, _)| id.to_string())
            .filter(|id| is_object_id(id))
    }

    /// `remote.origin.url` from the repository's config.
    pub fn origin_url(&self) -> Option<String> {
        let config = read_small_text(&self.common_dir.join("config"), MAX_CONFIG).ok()?;
        let mut in_origin = false;
        for line in config.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                let section: String =
                    line.trim_matches(|c| c == '[' || c == ']').split_whitespace().collect::<Vec<_>>().join(" ");
                in_origin = section == "remote \"origin\"";
            } else if in_origin {
                if let Some((key, value)) = line.split_once('=') {
                    if key.trim().eq_ignore_ascii_case("url") {
                        return Some(value.trim().trim_matches('"').to_string());
                    }
                }
            }
        }
        None
    }
}

/// A `.git` file (worktree, submodule): `gitdir: <path>`, relative to its folder.
fn gitdir_file(dot_git: &Path, dir: &Path) -> Option<PathBuf> {
    let text = read_small_text(dot_git, MAX_LINE_FILE).ok()?;
    let target = text.trim().strip_prefix("gitdir:")?.trim();
    Some(dir.join(target))
}

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}
