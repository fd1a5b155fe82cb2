//! Records say what tool ran, in which repository and at which commit, in
//! which environment, and never hold a secret.

use anyhow::Result;
use lcd_testkit::git::{git, repo_with_origin};
use lcd_testkit::ShellKind;

use super::{hooked, record, WAIT};

shell_test!(a_git_commit_records_repo_branch_and_both_commits, |env, mut sh: Shell| {
    let repo = env.home().join("infra");
    let before = repo_with_origin(&repo, "git@github.com:acme/infra.git", "main")?;
    sh.run(&format!("cd {}", repo.display()))?;
    sh.run("git -c user.name=T -c user.email=t@e.com commit -q --allow-empty -m second")?;
    let after = git(&repo, &["rev-parse", "HEAD"])?;
    let records =
        env.wait_records(WAIT, |r| r.iter().any(|r| r["subcommand"] == "commit" && r["status"] == "finished"))?;
    let commit = records.iter().find(|r| r["subcommand"] == "commit").unwrap();
    let shell = sh.kind.name();
    assert_eq!(commit["command_type"], "git", "{shell}");
    assert_eq!(commit["git_repo"], "acme/infra", "{shell}");
    assert_eq!(commit["git_host"], "github.com", "{shell}");
    assert_eq!(commit["git_branch"], "main", "{shell}");
    assert_eq!(commit["git_root"], repo.display().to_string(), "{shell}");
    assert_eq!(commit["git_commit"], before.as_str(), "{shell}");
    assert_eq!(commit["git_commit_after"], after.as_str(), "{shell}");
    assert_ne!(before, after);
    // Outside the repository: no git context.
    let cd = record(&records, &format!("cd {}", repo.display()));
    assert!(cd["git_repo"].is_null() && cd["git_commit"].is_null(), "{shell}: {cd}");
    Ok(())
});

#[test]
fn a_zsh_alias_is_classified_by_what_it_runs() -> Result<()> {
    hooked(ShellKind::Zsh, |env, mut sh| {
        sh.run("alias tf=terraform")?;
        sh.run("tf workspace select prod")?;
        let records = env.wait_finished("tf workspace select prod")?;
        let tf = record(&records, "tf workspace select prod");
        assert_eq!(
            (tf["command_type"].as_str(), tf["subcommand"].as_str()),
            (Some("terraform"), Some("workspace select"))
        );
        Ok(())
    })
}

shell_test!(exported_allowlisted_variables_are_sent_and_give_the_environment, |env, mut sh: Shell| {
    sh.run("export TF_WORKSPACE=prod AWS_REGION='eu west'; AWS_PROFILE=not-exported; SECRET_THING=x")?;
    sh.run("terraform plan")?;
    sh.run("wrangler deploy --env staging")?;
    let records = env.wait_finished("wrangler deploy --env staging")?;
    let plan = record(&records, "terraform plan");
    let shell = sh.kind.name();
    assert_eq!(plan["env"], serde_json::json!({"TF_WORKSPACE": "prod", "AWS_REGION": "eu west"}), "{shell}");
    assert_eq!(plan["environment"], "prod", "{shell}");
    assert_eq!(record(&records, "wrangler deploy --env staging")["environment"], "staging", "{shell}");
    Ok(())
});

shell_test!(secrets_never_reach_the_database, |env, mut sh: Shell| {
    sh.run("echo --password=hunter2 ghp_abcdefghijklmnopqrstuvwxyz0123456789 >/dev/null")?;
    let records = env.wait_records(WAIT, |r| r.iter().any(|r| r["status"] == "finished"))?;
    assert_eq!(records[0]["command"], "echo --password=[REDACTED] [REDACTED] >/dev/null", "{}", sh.kind.name());
    let db = env.paths().database();
    for file in [db.clone(), db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("hunter2") && !text.contains("ghp_abcdefghij"), "a secret is in {}", file.display());
        }
    }
    Ok(())
});

shell_test!(a_record_says_how_many_secrets_it_hides, |env, mut sh: Shell| {
    sh.run("echo --token=abc123 sk_live_0123456789abcdef >/dev/null")?;
    sh.run("echo nothing to hide >/dev/null")?;
    let records = env.wait_records(WAIT, |r| r.iter().filter(|r| r["status"] == "finished").count() >= 2)?;
    let hidden = |command: &str| records.iter().find(|r| r["command"] == command).map(|r| r["redacted"].clone());
    assert_eq!(hidden("echo --token=[REDACTED] [REDACTED] >/dev/null"), Some(2.into()), "{records:?}");
    assert_eq!(hidden("echo nothing to hide >/dev/null"), Some(0.into()), "{records:?}");
    Ok(())
});

shell_test!(never_record_rules_drop_the_whole_command, |env, kind: ShellKind| {
    let secrets = env.home().join("secrets");
    let config = format!("[capture]\nignore_commands = ['^pass ']\nignore_dirs = ['{}']\n", secrets.display());
    let _daemon = env.start_daemon_with_config(&config)?;
    std::fs::create_dir_all(env.home().join("secrets"))?;
    let mut sh = env.hooked_shell(kind)?;
    sh.run("pass show bank >/dev/null 2>&1")?;
    sh.run("cd secrets")?;
    sh.run("ls")?;
    sh.run("cd ..")?;
    sh.run("echo visible")?;
    let records = env.wait_finished("echo visible")?;
    let commands: Vec<&str> = records.iter().map(|r| r["command"].as_str().unwrap()).collect();
    // `ls` and `cd ..` were typed in the secrets folder.
    assert_eq!(commands, ["echo visible", "cd secrets"], "{}", kind.name());
    // Not even an end without its start is left behind.
    let conn = rusqlite::Connection::open(env.paths().database())?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM commands", [], |r| r.get(0))?;
    assert_eq!(rows, 2, "{}", kind.name());
    Ok(())
});
