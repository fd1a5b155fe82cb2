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

use lcd_protocol::protocol::Micros;
use lcd_protocol::small_file::{read_small_tail, read_small_text};
use lcd_protocol::GitSnapshot;

/// The bound for one-line files: HEAD, commondir, a `.git` file, a loose ref.
const MAX_LINE_FILE: usize = 4096;
/// The bound for the repository's config.
const MAX_CONFIG: usize = 256 * 1024;
/// How much of the end of the reflog is read to see how HEAD moved during a
/// command: a rebase writes one line per commit, about 150 bytes each.
const MAX_REFLOG_TAIL: usize = 64 * 1024;
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

    /// The branch and commit as they were when a command started at
    /// `started`. HEAD is read now, a moment after the start; if the command
    /// itself already moved HEAD (a fast `git commit` on a busy machine), the
    /// reflog says so: it was written after the start, and the first of its
    /// lines since then names the commit HEAD left.
    ///
    /// Reflog times are whole seconds, so a line from the start's own second
    /// may be this command's or the previous one's. `known`, the commit this
    /// helper last saw in this repository, settles it: the walk back stops
    /// past the lines that left it. Without it, only the newest line (the file
    /// changed after the start) and lines from later seconds count.
    pub fn snapshot_at(&self, started: Micros, known: Option<&str>) -> GitSnapshot {
        let mut snapshot = self.snapshot();
        if let Some(before) = self.head_before(started, known) {
            snapshot.commit = before.commit;
            if let Some(branch) = before.branch {
                snapshot.branch = Some(branch);
            }
        }
        snapshot
    }

    /// Where HEAD was before the moves the reflog records since `started`;
    /// `None` when it records none.
    fn head_before(&self, started: Micros, known: Option<&str>) -> Option<HeadBefore> {
        let (tail, modified) = read_small_tail(&self.git_dir.join("logs").join("HEAD"), MAX_REFLOG_TAIL).ok()?;
        let modified = modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_micros();
        if modified < u128::try_from(started).ok()? {
            return None;
        }
        let since = started.div_euclid(1_000_000);
        let text = String::from_utf8_lossy(&tail);
        let (mut first, mut reached_known) = (None, false);
        for (newest, step) in text.lines().rev().filter_map(ReflogLine::parse).enumerate().map(|(i, l)| (i == 0, l)) {
            let after_start = step.time > since || (step.time == since && (newest || known.is_some()));
            if !after_start {
                break;
            }
            // Past the line that left `known`, only lines that also left it
            // (a checkout between branches at one commit) are this command's.
            let left_known = known == Some(step.old);
            if reached_known && !left_known {
                break;
            }
            reached_known |= left_known;
            first = Some(step);
        }
        let first = first?;
        let commit = (is_object_id(first.old) && first.old.bytes().any(|b| b != b'0')).then(|| first.old.to_string());
        // A checkout names the branch it left; a detached HEAD is a commit id.
        let branch = first
            .message
            .strip_prefix("checkout: moving from ")
            .and_then(|m| m.split_once(" to "))
            .map(|(from, _)| from)
            .filter(|from| !is_object_id(from))
            .map(str::to_string);
        Some(HeadBefore { commit, branch })
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

/// Where HEAD was when a command started, read back from the reflog.
struct HeadBefore {
    commit: Option<String>,
    branch: Option<String>,
}

/// One line of `logs/HEAD`: `<old> <new> <name> <<email>> <seconds> <zone>\t<message>`.
struct ReflogLine<'a> {
    old: &'a str,
    time: i64,
    message: &'a str,
}

impl<'a> ReflogLine<'a> {
    fn parse(line: &'a str) -> Option<ReflogLine<'a>> {
        let (head, message) = line.split_once('\t').unwrap_or((line, ""));
        let old = head.split(' ').next()?;
        let (_, when) = head.rsplit_once('>')?;
        let time = when.split_whitespace().next()?.parse().ok()?;
        Some(ReflogLine { old, time, message })
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
