//! The helper's view of a repository, read from `.git` directly, must agree
//! with what git itself says: worktrees, submodules, detached and unborn
//! HEADs, packed refs, no remote, no repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use lcd_hook::git::Repo;

/// A scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lcd-git-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Resolve symlinks (macOS /tmp) so paths compare equal to git's.
        Scratch(dir.canonicalize().unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs git in `dir`, isolated from the user's configuration; returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is installed");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository with one commit and the given origin.
fn repo(dir: &Path, origin: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("main.tf"), "# infra\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "first"]);
    if let Some(url) = origin {
        git(dir, &["remote", "add", "origin", url]);
    }
}

/// Compares our snapshot taken in `cwd` with `git rev-parse` there.
fn agrees_with_git(cwd: &Path) {
    let snapshot = Repo::discover(cwd).expect("a repository").snapshot();
    assert_eq!(snapshot.root, git(cwd, &["rev-parse", "--show-toplevel"]), "root in {}", cwd.display());
    assert_eq!(
        snapshot.commit.as_deref(),
        Some(git(cwd, &["rev-parse", "HEAD"]).as_str()),
        "commit in {}",
        cwd.display()
    );
    let branch = git(cwd, &["rev-parse", "--abbrev-ref", "HEAD"]);
    let expected = (branch != "HEAD").then_some(branch);
    assert_eq!(snapshot.branch, expected, "branch in {}", cwd.display());
}

#[test]
fn a_plain_repository_seen_from_a_subfolder() {
    let s = Scratch::new("plain");
    let top = s.0.join("infra");
    repo(&top, Some("git@github.com:acme/infra.git"));
    std::fs::create_dir_all(top.join("modules/net")).unwrap();
    agrees_with_git(&top.join("modules/net"));
    assert_eq!(Repo::discover(&top).unwrap().snapshot().remote_url.as_deref(), Some("git@github.com:acme/infra.git"));
}

#[test]
fn packed_refs_are_read() {
    let s = Scratch::new("packed");
    repo(&s.0, None);
    git(&s.0, &["pack-refs", "--all"]);
    assert!(!s.0.join(".git/refs/heads/main").exists(), "the ref should only be packed now");
    agrees_with_git(&s.0);
}

#[test]
fn a_detached_head_has_no_branch() {
    let s = Scratch::new("detached");
    repo(&s.0, None);
    git(&s.0, &["checkout", "-q", "--detach"]);
    agrees_with_git(&s.0);
    assert_eq!(Repo::discover(&s.0).unwrap().snapshot().branch, None);
}

#[test]
fn a_linked_worktree_has_its_own_head_and_shares_the_rest() {
    let s = Scratch::new("worktree");
    let main = s.0.join("main");
    repo(&main, Some("https://github.com/acme/app.git"));
    git(&main, &["worktree", "add", "-q", "-b", "feature", "../wt"]);
    std::fs::write(s.0.join("wt/new.txt"), "x").unwrap();
    git(&s.0.join("wt"), &["add", "."]);
    git(&s.0.join("wt"), &["commit", "-q", "-m", "on feature"]);
    agrees_with_git(&s.0.join("wt"));
    agrees_with_git(&main);
    assert_eq!(
        Repo::discover(&s.0.join("wt")).unwrap().snapshot().remote_url.as_deref(),
        Some("https://github.com/acme/app.git")
    );
}

#[test]
fn a_submodule_is_its_own_repository() {
    let s = Scratch::new("submodule");
    repo(&s.0.join("lib"), Some("git@github.com:acme/lib.git"));
    repo(&s.0.join("app"), Some("git@github.com:acme/app.git"));
    let lib = s.0.join("lib").display().to_string();
    git(&s.0.join("app"), &["submodule", "add", "-q", &lib, "vendor/lib"]);
    let sub = s.0.join("app/vendor/lib");
    assert!(sub.join(".git").is_file(), "a submodule's .git is a file");
    agrees_with_git(&sub);
    agrees_with_git(&s.0.join("app"));
}

#[test]
fn an_unborn_branch_has_a_name_but_no_commit() {
    let s = Scratch::new("unborn");
    git(&s.0, &["init", "-q"]);
    let snapshot = Repo::discover(&s.0).unwrap().snapshot();
    assert_eq!((snapshot.branch.as_deref(), snapshot.commit), (Some("main"), None));
    assert_eq!(snapshot.remote_url, None);
}

#[test]
fn outside_any_repository_there_is_nothing() {
    let s = Scratch::new("none");
    assert!(
        Command::new("git").args(["rev-parse", "--show-toplevel"]).current_dir(&s.0).output().unwrap().status.code()
            != Some(0)
    );
    assert_eq!(Repo::discover(&s.0), None);
}

#[test]
fn head_after_a_commit_moves() {
    let s = Scratch::new("moves");
    repo(&s.0, None);
    let repo = Repo::discover(&s.0).unwrap();
    let before = repo.head().1;
    std::fs::write(s.0.join("b.tf"), "x").unwrap();
    git(&s.0, &["add", "."]);
    git(&s.0, &["commit", "-q", "-m", "second"]);
    let after = repo.head().1;
    assert_ne!(before, after);
    assert_eq!(after.as_deref(), Some(git(&s.0, &["rev-parse", "HEAD"]).as_str()));
}

fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

#[test]
fn a_start_read_after_the_command_moved_head_still_names_the_commit_it_started_at() {
    // The helper reads HEAD a moment after the shell reports the start; a
    // fast `git commit` can be done by then. The reflog says where HEAD was.
    let s = Scratch::new("late-start");
    repo(&s.0, None);
    let first = git(&s.0, &["rev-parse", "HEAD"]);
    let repo = Repo::discover(&s.0).unwrap();
    let started = now_micros();
    git(&s.0, &["commit", "-q", "--allow-empty", "-m", "second"]);
    let snapshot = repo.snapshot_at(started, None);
    assert_eq!(snapshot.commit.as_deref(), Some(first.as_str()));
    assert_eq!(snapshot.branch.as_deref(), Some("main"));
    // Several moves (a rebase, a pull): back to before the first, up to the
    // commit the helper last saw.
    git(&s.0, &["commit", "-q", "--allow-empty", "-m", "third"]);
    assert_eq!(repo.snapshot_at(started, Some(&first)).commit.as_deref(), Some(first.as_str()));
}

#[test]
fn a_late_start_of_a_checkout_names_the_branch_it_left() {
    let s = Scratch::new("late-checkout");
    repo(&s.0, None);
    git(&s.0, &["branch", "feature"]);
    let repo = Repo::discover(&s.0).unwrap();
    let seen = git(&s.0, &["rev-parse", "HEAD"]);
    let started = now_micros();
    git(&s.0, &["checkout", "-q", "feature"]);
    git(&s.0, &["commit", "-q", "--allow-empty", "-m", "on feature"]);
    let snapshot = repo.snapshot_at(started, Some(&seen));
    assert_eq!(snapshot.branch.as_deref(), Some("main"));
    assert_eq!(snapshot.commit.as_deref(), Some(git(&s.0, &["rev-parse", "main"]).as_str()));
}

#[test]
fn a_start_after_the_previous_commands_move_keeps_head_as_it_is() {
    // The previous command moved HEAD in the same second this one started:
    // the reflog's whole-second times cannot tell them apart, the last
    // commit the helper saw can.
    let s = Scratch::new("same-second");
    repo(&s.0, None);
    let first = git(&s.0, &["rev-parse", "HEAD"]);
    git(&s.0, &["commit", "-q", "--allow-empty", "-m", "previous command"]);
    let seen = git(&s.0, &["rev-parse", "HEAD"]);
    let repo = Repo::discover(&s.0).unwrap();
    // Not moved since the start: HEAD as it is.
    assert_eq!(repo.snapshot_at(now_micros(), Some(&seen)).commit.as_deref(), Some(seen.as_str()));
    // Moved since, in the same second as the previous move: back to `seen`, not `first`.
    let started = now_micros();
    git(&s.0, &["commit", "-q", "--allow-empty", "-m", "this command"]);
    let snapshot = repo.snapshot_at(started, Some(&seen));
    assert_eq!(snapshot.commit.as_deref(), Some(seen.as_str()));
    assert_ne!(snapshot.commit.as_deref(), Some(first.as_str()));
}
