//! Records made up for tests and benchmarks, shaped like the ones lcd-hook
//! sends.

use lcd_protocol::{CommandEnd, CommandStart, Event, RecordId, Session};

/// A session as a zsh on this machine would report it.
pub fn session(id: &str) -> Session {
    Session {
        id: id.into(),
        shell: "zsh".into(),
        pid: std::process::id(),
        host: "test-host".into(),
        user: "tester".into(),
        tty: None,
    }
}

/// A session id for client number `n` of a test: distinct per `n`.
pub fn session_id(n: u64) -> String {
    format!("0190f3c2-7a4e-7b21-8c3d-{n:012x}")
}

/// Start and end of command number `seq`, one second apart, ending `exit`.
pub fn command_events(session: &Session, seq: u64, command: &str, exit: i32) -> [Event; 2] {
    let id = RecordId::derive(&session.id, seq);
    let started_at = 1_750_000_000_000_000 + seq as i64 * 10_000_000;
    [
        Event::Start(CommandStart {
            id,
            session: session.clone(),
            seq,
            started_at,
            cwd: "/home/tester/infra".into(),
            command: command.into(),
            expanded: None,
            env: Vec::new(),
            git: None,
        }),
        Event::End(CommandEnd {
            id,
            session: session.clone(),
            seq,
            ended_at: started_at + 1_000_000,
            exit_code: exit,
            pipestatus: vec![exit],
            git_commit_after: None,
        }),
    ]
}

/// A command line of the kind lcd's users type: terraform, git, wrangler,
/// kubectl, everyday commands; the `n`th of an endless varied sequence.
pub fn realistic_command(n: u64) -> String {
    const LINES: &[&str] = &[
        "terraform plan -out plan.bin",
        "terraform apply -auto-approve",
        "git status",
        "git commit -m 'fix: handle 429 from the API'",
        "git push origin main",
        "git pull --rebase",
        "wrangler deploy --env production",
        "wrangler d1 migrations apply lcd-db --remote",
        "kubectl get pods -n prod",
        "kubectl rollout restart deployment/api -n prod",
        "npm run build",
        "docker compose up -d",
        "aws s3 cp build/ s3://assets/ --recursive",
        "ls -la",
        "cd infra/modules/network",
        "vim main.tf",
        "grep -rn TODO src",
        "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "curl -H 'Authorization: Bearer abc123def456ghi789' https://api.example.com/v1/status",
        "helm upgrade --install api ./chart -n prod",
    ];
    let line = LINES[(n as usize * 7 + n as usize / 13) % LINES.len()];
    if n.is_multiple_of(5) {
        format!("{line} # {n}")
    } else {
        line.to_string()
    }
}
