//! What repository a command ran in and at which commit, read from `.git`
//! directly (no git process): the helper takes this snapshot the moment the
//! shell reports a start or an end, so a record spooled for hours still names
//! the commit of its own time.
//!
//! Handles plain repositories, linked worktrees and submodules (a `.git` file
//! holding `gitdir: …`), loose and packed refs, detached and unborn HEADs.

use std::fs;
use std::path::{Path, PathBuf};

use lcd_protocol::GitSnapshot;

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
                if let Some(git_dir) = git_dir.filter(|g| g.join("HEAD").is_file()) {
                    let common_dir = fs::read_to_string(git_dir.join("commondir"))
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
        let Ok(head) = fs::read_to_string(self.git_dir.join("HEAD")) else { return (None, None) };
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
        if depth > 5 || reference.contains("..") {
            return None;
        }
        for dir in [&self.git_dir, &self.common_dir] {
            if let Ok(text) = fs::read_to_string(dir.join(reference)) {
                let text = text.trim();
                if let Some(next) = text.strip_prefix("ref:") {
                    return self.resolve(next.trim(), depth + 1);
                }
                if is_object_id(text) {
                    return Some(text.to_string());
                }
            }
        }
        let packed = fs::read_to_string(self.common_dir.join("packed-refs")).ok()?;
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
        let config = fs::read_to_string(self.common_dir.join("config")).ok()?;
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
    let text = fs::read_to_string(dot_git).ok()?;
    let target = text.trim().strip_prefix("gitdir:")?.trim();
    Some(dir.join(target))
}

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}
