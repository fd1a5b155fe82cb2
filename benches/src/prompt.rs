//! Prompt overhead in real shells: the time from Enter to the next prompt for
//! a trivial command (`:`), with lcd's hooks loaded and without, interleaved
//! in one run so that both see the same machine. Then the same with the
//! daemon stopped and with the daemon SIGSTOPped.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use lcd_testkit::{Shell, ShellKind, TestEnv};

use crate::stats::Summary;
use crate::Scale;

const GOAL_MS: [(ShellKind, f64); 2] = [(ShellKind::Zsh, 0.25), (ShellKind::Bash, 0.5)];
const CEILING_MS: f64 = 20.0;

pub fn run(lcd: &Path, scale: Scale) -> Result<()> {
    let n = scale.pick(1000, 20);
    for (kind, goal) in GOAL_MS {
        let env = TestEnv::new(&lcd.display().to_string())?;
        env.lcd(&["daemon", "start", "--quiet"])?;
        let mut plain = env.shell(kind)?;
        let mut hooked = env.hooked_shell(kind)?;
        for (state, prepare) in
            [("daemon running", None), ("daemon stopped", Some("stop")), ("daemon SIGSTOPped", Some("sigstop"))]
        {
            match prepare {
                Some("stop") => {
                    env.lcd(&["daemon", "stop"])?;
                }
                Some("sigstop") => {
                    env.lcd(&["daemon", "start", "--quiet"])?;
                    // Let the helper reconnect to the new daemon before it freezes.
                    hooked.run(":")?;
                    std::thread::sleep(Duration::from_millis(1500));
                    hooked.run(":")?;
                    signal_daemon(&env, libc::SIGSTOP)?;
                }
                _ => {}
            }
            let (base, with) = interleaved(&mut plain, &mut hooked, n)?;
            let (b, w) = (Summary::of(&base), Summary::of(&with));
            let added = w.median - b.median;
            let verdict = if added <= goal && w.max <= CEILING_MS { "meets" } else { "MISSES" };
            println!(
                "prompt {:<4} {state:<18} n={n}: without lcd {b}; with lcd {w}; added median {added:+.3} ms ({verdict} goal <= {goal} ms, max <= {CEILING_MS} ms)",
                kind.name()
            );
        }
        signal_daemon(&env, libc::SIGCONT)?;
        env.lcd(&["daemon", "stop"])?;
    }
    Ok(())
}

/// Times `n` rounds of `:` in each shell, alternating.
fn interleaved(plain: &mut Shell, hooked: &mut Shell, n: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut base, mut with) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        base.push(time_colon(plain)?);
        with.push(time_colon(hooked)?);
    }
    Ok((base, with))
}

/// Types `:`, then times from Enter to the next prompt.
fn time_colon(shell: &mut Shell) -> Result<Duration> {
    shell.type_raw(":")?;
    std::thread::sleep(Duration::from_micros(200));
    shell.type_raw("\r")?;
    shell.wait_prompt_for(Duration::from_secs(10))
}

fn signal_daemon(env: &TestEnv, signal: i32) -> Result<()> {
    let pid = std::fs::read_to_string(env.paths().pid_file())?.trim().parse::<i32>()?;
    // SAFETY: signalling the daemon this benchmark started.
    unsafe { libc::kill(pid, signal) };
    Ok(())
}
