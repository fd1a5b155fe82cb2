//! Which environment a deploy-ish command targets, where that is knowable:
//! the terraform workspace, wrangler's `--env`, pulumi's stack.

use std::io::ErrorKind;
use std::path::Path;

use lcd_protocol::small_file::read_small_text;

use super::classify::Classification;

/// The longest `.terraform/environment` taken: a workspace name, one line.
const MAX_WORKSPACE_FILE: usize = 256;

/// The environment of a classified command run in `cwd` with these exported
/// variables. It may read a file in `cwd`: call it off the async workers.
pub fn environment(c: &Classification, cwd: &str, env: &[(String, String)]) -> Option<String> {
    match c.command_type.as_str() {
        "terraform" => terraform_workspace(c, cwd, env),
        "wrangler" => option_value(&c.args, &["--env", "-e"]),
        "pulumi" => option_value(&c.args, &["--stack", "-s"]),
        _ => None,
    }
}

/// TF_WORKSPACE (on the line, then exported), else the workspace selected
/// in `.terraform/environment` of the working folder (or `-chdir`), else
/// `default` when there is no such file. Unknown (`None`) when the file is
/// there but is no plain small file of one line: the folder may come from
/// anyone, and a symlink to a secret, a FIFO or `/dev/zero` must neither be
/// stored nor stall the daemon.
fn terraform_workspace(c: &Classification, cwd: &str, env: &[(String, String)]) -> Option<String> {
    let from_vars = c.assignments.iter().chain(env).find(|(name, _)| name == "TF_WORKSPACE").map(|(_, v)| v.clone());
    if let Some(workspace) = from_vars.filter(|w| !w.is_empty()) {
        return Some(workspace);
    }
    let dir = match option_value(&c.args, &["-chdir"]) {
        Some(chdir) => Path::new(cwd).join(chdir),
        None => Path::new(cwd).to_path_buf(),
    };
    match read_small_text(&dir.join(".terraform/environment"), MAX_WORKSPACE_FILE) {
        Ok(text) => {
            let workspace = text.trim();
            let one_name = !workspace.is_empty() && !workspace.chars().any(char::is_control);
            one_name.then(|| workspace.to_string())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Some("default".into()),
        Err(_) => None,
    }
}

/// The value of the first of `names` in `args`: `--env x`, `--env=x`, `-e x`.
fn option_value(args: &[String], names: &[&str]) -> Option<String> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        for name in names {
            if word == name {
                return words.next().cloned();
            }
            if let Some(value) = word.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
                return Some(value.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::classify::Classifier;
    use super::*;

    fn env_of(line: &str, cwd: &str, vars: &[(&str, &str)]) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        environment(&Classifier::default().classify(line), cwd, &vars)
    }

    #[test]
    fn terraform_workspace_from_line_env_file_or_default() {
        let dir = std::env::temp_dir().join(format!("lcd-env-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("infra/.terraform")).unwrap();
        std::fs::write(dir.join("infra/.terraform/environment"), "staging\n").unwrap();
        let cwd = dir.display().to_string();
        assert_eq!(env_of("TF_WORKSPACE=prod terraform apply", &cwd, &[]).as_deref(), Some("prod"));
        assert_eq!(env_of("terraform apply", &cwd, &[("TF_WORKSPACE", "qa")]).as_deref(), Some("qa"));
        assert_eq!(env_of("terraform -chdir=infra apply", &cwd, &[]).as_deref(), Some("staging"));
        assert_eq!(env_of("terraform apply", &cwd, &[]).as_deref(), Some("default"));
        // A workspace file that is not a plain small file: unknown, not read.
        std::fs::create_dir_all(dir.join("linked/.terraform")).unwrap();
        std::os::unix::fs::symlink(dir.join("infra/.terraform/environment"), dir.join("linked/.terraform/environment"))
            .unwrap();
        assert_eq!(env_of("terraform -chdir=linked apply", &cwd, &[]), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn wrangler_and_pulumi_environments() {
        assert_eq!(env_of("wrangler deploy --env production", "/", &[]).as_deref(), Some("production"));
        assert_eq!(env_of("wrangler deploy -e=staging", "/", &[]).as_deref(), Some("staging"));
        assert_eq!(env_of("wrangler deploy", "/", &[]), None);
        assert_eq!(env_of("pulumi up -s prod", "/", &[]).as_deref(), Some("prod"));
        assert_eq!(env_of("git push", "/", &[]), None);
    }
}
