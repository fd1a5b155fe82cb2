//! A working folder can come from anyone (a cloned repository, an unpacked
//! archive), and so can the files lcd reads there: `.terraform/environment`
//! (the daemon, for the workspace) and `.git/{HEAD,commondir,config,
//! packed-refs}` (lcd-hook, for the git context). Each trap a hostile folder
//! can set in each of those places: the shell stays responsive, the daemon
//! keeps serving, and no record holds what the trap held.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use lcd_testkit::{Shell, TestEnv};
use serde_json::Value;

/// What a hostile folder puts where lcd reads.
#[derive(Debug, Clone, Copy)]
enum Trap {
    /// A symlink to a file of the user's (`~/.aws/credentials`).
    SymlinkToSecret,
    /// A FIFO: opening it for reading waits for a writer that never comes.
    Fifo,
    /// A symlink to `/dev/zero`: endless bytes.
    DevZero,
    /// A 100 MB regular file, whose first lines look right.
    Huge,
}

/// What a reader that falls for a trap would take: a workspace, a branch, a
/// packed ref and an origin, each marked so that a record holding any of
/// them is caught.
const BAIT: &str = "ref: refs/heads/leaked\n\
    5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2 refs/heads/main\n\
    [remote \"origin\"]\n\turl = git@github.com:leaked/secret.git\n";
const MARKS: [&str; 2] = ["leaked", "5ec2e7"];

/// Each place lcd reads a file in a working folder: (folder, file).
const PLACES: [(&str, &str); 5] = [
    ("terraform", ".terraform/environment"),
    ("head", ".git/HEAD"),
    ("commondir", ".git/commondir"),
    ("config", ".git/config"),
    ("packed-refs", ".git/packed-refs"),
];

/// One folder per place, the trap set there (and, for the `.git` files but
/// HEAD, a repository around it that sends lcd-hook to that file).
fn plant(env: &TestEnv, trap: Trap) -> Result<Vec<PathBuf>> {
    let secret = env.home().join("secret");
    std::fs::write(&secret, BAIT)?;
    if let Trap::Huge = trap {
        let mut huge = BAIT.as_bytes().to_vec();
        huge.resize(100 << 20, b'\n');
        std::fs::write(&secret, huge)?;
    }
    let mut dirs = Vec::new();
    for (folder, file) in PLACES {
        let dir = env.home().join("untrusted").join(folder);
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        if file.starts_with(".git/") && file != ".git/HEAD" {
            // No loose ref: the commit is looked up in packed-refs.
            std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n")?;
        }
        match trap {
            Trap::SymlinkToSecret => std::os::unix::fs::symlink(&secret, &path)?,
            Trap::DevZero => std::os::unix::fs::symlink("/dev/zero", &path)?,
            Trap::Huge => std::fs::hard_link(&secret, &path)?,
            Trap::Fifo => mkfifo(&path)?,
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

fn mkfifo(path: &Path) -> Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path.
    ensure!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } == 0, "mkfifo {}", path.display());
    Ok(())
}

/// Runs `terraform plan` (a stand-in function) in each trapped folder, then
/// a command that proves the shell and the daemon still serve.
fn traps_are_neither_followed_nor_stored(env: &TestEnv, sh: &mut Shell, trap: Trap) -> Result<()> {
    let dirs = plant(env, trap)?;
    let shell = sh.kind.name();
    sh.run("terraform() { :; }")?;
    for dir in &dirs {
        // Each prompt must come back: a helper or a daemon stuck on the trap
        // would leave the records unstored, or the shell waiting.
        sh.run(&format!("cd {}", dir.display()))?;
        sh.run("terraform plan")?;
    }
    sh.run("cd && echo still serving")?;
    let records = env.wait_records(super::WAIT, |r| {
        let finished = |c: &str| r.iter().filter(|r| r["command"] == c && r["status"] == "finished").count();
        finished("cd && echo still serving") == 1 && finished("terraform plan") == dirs.len()
    })?;
    for plan in records.iter().filter(|r| r["command"] == "terraform plan") {
        let text = plan.to_string();
        ensure!(
            !MARKS.iter().any(|m| text.contains(m)),
            "{shell}, {trap:?}: a record holds the trap's content: {plan:#}"
        );
        let cwd = plan["cwd"].as_str().unwrap_or_default();
        let expected = if cwd.ends_with("/terraform") { Value::Null } else { "default".into() };
        ensure!(plan["environment"] == expected, "{shell}, {trap:?}: workspace in {cwd}: {plan:#}");
        ensure!(plan["git_commit"].is_null() && plan["git_repo"].is_null(), "{shell}, {trap:?}: {plan:#}");
    }
    let db = env.paths().database();
    for file in [db.clone(), db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let text = String::from_utf8_lossy(&bytes);
            ensure!(
                !MARKS.iter().any(|m| text.contains(m)),
                "{shell}, {trap:?}: the trap's content is in {}",
                file.display()
            );
        }
    }
    Ok(())
}

shell_test!(a_symlink_to_a_secret_in_the_working_folder_is_not_followed, |env, mut sh: Shell| {
    traps_are_neither_followed_nor_stored(env, &mut sh, Trap::SymlinkToSecret)
});

shell_test!(a_fifo_in_the_working_folder_stalls_neither_the_shell_nor_the_daemon, |env, mut sh: Shell| {
    traps_are_neither_followed_nor_stored(env, &mut sh, Trap::Fifo)
});

shell_test!(a_link_to_dev_zero_in_the_working_folder_is_not_read, |env, mut sh: Shell| {
    traps_are_neither_followed_nor_stored(env, &mut sh, Trap::DevZero)
});

shell_test!(a_100_mb_file_in_the_working_folder_is_not_read, |env, mut sh: Shell| {
    traps_are_neither_followed_nor_stored(env, &mut sh, Trap::Huge)
});
