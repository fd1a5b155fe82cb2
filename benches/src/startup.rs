//! Start-up costs: an interactive shell with and without lcd's init, and
//! lcd-hook against an empty binary of the same build profile.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lcd_testkit::TestEnv;

use crate::stats::Summary;
use crate::{sibling, Scale};

/// `zsh -i -c exit` and `bash -i -c exit`, with an rc file that loads lcd
/// and with an empty one, alternating.
pub fn shells(lcd: &Path, scale: Scale) -> Result<()> {
    let n = scale.pick(200, 5);
    let env = TestEnv::new(&lcd.display().to_string())?;
    env.lcd(&["daemon", "start", "--quiet"])?;
    let home = env.home();
    for shell in ["zsh", "bash"] {
        let plain_dir = home.join(format!("plain-{shell}"));
        let lcd_dir = home.join(format!("lcd-{shell}"));
        for (dir, rc) in [(&plain_dir, String::new()), (&lcd_dir, format!("eval \"$(lcd init {shell})\"\n"))] {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(".zshrc"), &rc)?;
            std::fs::write(dir.join(".bashrc"), &rc)?;
        }
        let run = |dir: &Path| -> Result<Duration> {
            let mut cmd = Command::new(shell);
            cmd.env_clear().envs(env.vars()).env("ZDOTDIR", dir).current_dir(dir);
            match shell {
                "zsh" => cmd.args(["-i", "-c", "exit"]),
                _ => cmd.args(["--rcfile", &dir.join(".bashrc").display().to_string(), "-i", "-c", "exit"]),
            };
            time(&mut cmd)
        };
        let (mut base, mut with) = (Vec::new(), Vec::new());
        for _ in 0..n {
            base.push(run(&plain_dir)?);
            with.push(run(&lcd_dir)?);
        }
        let (b, w) = (Summary::of(&base), Summary::of(&with));
        let added = w.median - b.median;
        let verdict = if added <= 5.0 { "meets" } else { "MISSES" };
        println!("startup {shell:<4} n={n}: without lcd {b}; with lcd init {w}; added median {added:+.3} ms ({verdict} goal <= 5 ms)");
    }
    env.lcd(&["daemon", "stop"])?;
    Ok(())
}

/// lcd-hook's own start-up (run with no arguments it exits at once) against
/// an empty Rust binary built with the same profile.
pub fn hook(lcd: &Path, scale: Scale) -> Result<()> {
    let n = scale.pick(2000, 20);
    let hook = lcd.with_file_name("lcd-hook");
    let empty = sibling("empty")?;
    let (mut base, mut with) = (Vec::new(), Vec::new());
    for _ in 0..n {
        base.push(time(&mut Command::new(&empty))?);
        with.push(time(&mut Command::new(&hook))?);
    }
    let (b, w) = (Summary::of(&base), Summary::of(&with));
    let ratio = w.median / b.median;
    let verdict = if ratio <= 1.3 { "meets" } else { "MISSES" };
    println!("hook-startup n={n}: empty binary {b}; lcd-hook {w}; ratio {ratio:.2}x ({verdict} goal <= 1.3x)");
    Ok(())
}

fn time(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let status = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().context("spawning")?;
    let elapsed = start.elapsed();
    anyhow::ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(elapsed)
}
