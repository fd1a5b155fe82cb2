//! Guards on what ships: the hook binary stays small in what it pulls in;
//! the test script asks a person before it installs anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use lcd_testkit::env::write_script;
use lcd_testkit::ShellKind;

use super::env;

#[test]
fn lcd_hook_depends_on_no_heavy_crate() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "lcd-hook", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout)?;
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"postcard"), "unexpected tree:\n{tree}");
    for heavy in ["tokio", "reqwest", "rusqlite", "clap", "hyper", "serde_json"] {
        assert!(!crates.contains(&heavy), "lcd-hook depends on {heavy}:\n{tree}");
    }
    Ok(())
}

/// A PATH holding the programs scripts/test-deps looks for, except
/// `hyperfine`, and an `apt-get` that writes down how it was called.
fn path_without_hyperfine(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let bin = root.join("fakebin");
    std::fs::create_dir_all(&bin)?;
    let tools =
        ["zsh", "bash", "fish", "shellcheck", "sqlite3", "python3", "systemd-analyze", "systemd-socket-activate"];
    let basics = ["man", "git", "tmux", "dirname", "sort", "grep", "id", "cat"];
    for tool in tools.iter().chain(&basics) {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
            .with_context(|| format!("{tool} is not installed (scripts/test-deps installs it)"))?;
        std::os::unix::fs::symlink(found, bin.join(tool))?;
    }
    let calls = root.join("apt-calls");
    write_script(&bin.join("apt-get"), &format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()))?;
    Ok((bin, calls))
}

fn test_deps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-deps")
}

#[test]
fn scripts_test_asks_a_person_before_apt_get_install_and_says_what_it_installs() -> Result<()> {
    let env = env()?;
    let (bin, calls) = path_without_hyperfine(&env.root)?;
    let run = |ci: Option<&str>| {
        let mut cmd = Command::new(bin.join("bash"));
        cmd.arg(test_deps()).env_clear().env("PATH", &bin).env("HOME", env.home()).stdin(Stdio::null());
        if let Some(ci) = ci {
            cmd.env("CI", ci);
        }
        cmd.output()
    };
    // No terminal to ask on, not CI: nothing installed, the command named.
    let out = run(None)?;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("hyperfine") && said.contains("apt-get install hyperfine"),
        "{said}"
    );
    assert!(!calls.exists(), "apt-get ran without asking: {}", std::fs::read_to_string(&calls)?);
    // A person at a terminal who says no.
    let mut sh = env.shell(ShellKind::Bash)?;
    sh.type_line(&format!("PATH={} bash {}; echo exit=$?", bin.display(), test_deps().display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sh.screen().contains("[y/N]") {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no question asked:\n{}", sh.screen());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sh.type_line("n")?;
    sh.wait_prompt()?;
    let screen = sh.screen();
    // python3-venv joins it where the python3 on PATH lacks ensurepip.
    assert!(
        screen.contains("Install them now with: apt-get install hyperfine") && screen.contains("? [y/N]"),
        "{screen}"
    );
    assert!(screen.contains("Nothing installed") && screen.contains("exit=1"), "{screen}");
    assert!(!calls.exists(), "apt-get ran after a no");
    // CI installs without asking.
    let out = run(Some("true"))?;
    let apt = std::fs::read_to_string(&calls).context("CI=true did not run apt-get")?;
    assert!(apt.contains("install -y -qq --no-install-recommends hyperfine"), "{apt}\n{out:?}");
    Ok(())
}
