//! Real git repositories for tests, made with the real git, isolated from
//! the user's git configuration.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

/// Runs git in `dir` with a fixed identity and branch name; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()?;
    anyhow::ensure!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// A repository at `dir` (made if missing) with one empty commit on `branch`
/// and `origin` as its origin; returns that commit.
pub fn repo_with_origin(dir: &Path, origin: &str, branch: &str) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "-q", "-b", branch])?;
    git(dir, &["commit", "-q", "--allow-empty", "-m", "first"])?;
    git(dir, &["remote", "add", "origin", origin])?;
    git(dir, &["rev-parse", "HEAD"])
}
