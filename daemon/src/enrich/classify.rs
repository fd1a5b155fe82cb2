//! What tool a command line runs and which of its subcommands: past the
//! wrappers (`sudo`, `env`, `time`, `nice`, assignments, ...), skipping global
//! options, and for a pipeline or list, the first tracked tool in it.

use std::collections::HashMap;

use super::words::{redirection, simple_commands};

/// The type of commands run by no tracked tool.
const OTHER: &str = crate::store::CommandType::OTHER;

/// One tracked tool: how to find its subcommand.
struct Tool {
    /// Executable names.
    names: &'static [&'static str],
    /// The `command_type` it is recorded as.
    kind: &'static str,
    /// Options taking their value as the next word.
    value_options: &'static [&'static str],
    /// Subcommands whose own subcommand is part of the name (`workspace select`).
    groups: &'static [&'static str],
    /// For noun-verb CLIs: how many leading words make the subcommand.
    words: usize,
}

const TOOLS: &[Tool] = &[
    Tool {
        names: &["terraform", "tofu"],
        kind: "terraform",
        value_options: &[],
        groups: &["workspace", "state", "providers", "metadata"],
        words: 1,
    },
    Tool {
        names: &["git"],
        kind: "git",
        value_options: &["-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env"],
        groups: &["stash", "remote", "submodule", "worktree", "bisect", "notes", "lfs", "sparse-checkout"],
        words: 1,
    },
    Tool {
        names: &["wrangler"],
        kind: "wrangler",
        value_options: &["-c", "--config", "-e", "--env", "--cwd"],
        groups: &[
            "d1",
            "d1 migrations",
            "secret",
            "kv",
            "kv namespace",
            "kv key",
            "kv bulk",
            "r2",
            "r2 bucket",
            "r2 object",
            "versions",
            "pages",
            "pages project",
            "pages deployment",
            "queues",
            "deployments",
            "vectorize",
            "hyperdrive",
            "workflows",
        ],
        words: 1,
    },
    Tool {
        names: &["npm"],
        kind: "npm",
        value_options: &["--prefix", "-w", "--workspace"],
        groups: &["run", "run-script"],
        words: 1,
    },
    Tool {
        names: &["pnpm"],
        kind: "npm",
        value_options: &["-C", "--dir", "--filter", "-F"],
        groups: &["run"],
        words: 1,
    },
    Tool { names: &["yarn"], kind: "npm", value_options: &["--cwd"], groups: &["run", "workspace"], words: 1 },
    Tool { names: &["npx"], kind: "npm", value_options: &["-p", "--package"], groups: &[], words: 1 },
    Tool { names: &["az"], kind: "az", value_options: &["--subscription"], groups: &[], words: 3 },
    Tool {
        names: &["aws"],
        kind: "aws",
        value_options: &[
            "--profile",
            "--region",
            "--output",
            "--endpoint-url",
            "--query",
            "--color",
            "--cli-read-timeout",
        ],
        groups: &[],
        words: 2,
    },
    Tool {
        names: &["gcloud"],
        kind: "gcloud",
        value_options: &["--project", "--account", "--configuration", "--format", "--verbosity"],
        groups: &[],
        words: 3,
    },
    Tool {
        names: &["kubectl"],
        kind: "kubectl",
        value_options: &[
            "-n",
            "--namespace",
            "--context",
            "--kubeconfig",
            "--cluster",
            "--user",
            "-s",
            "--server",
            "--token",
            "--as",
        ],
        groups: &["config", "rollout", "auth", "certificate", "top", "set", "create"],
        words: 1,
    },
    Tool {
        names: &["helm"],
        kind: "helm",
        value_options: &[
            "-n",
            "--namespace",
            "--kube-context",
            "--kubeconfig",
            "--registry-config",
            "--repository-config",
        ],
        groups: &["repo", "plugin", "registry", "dependency", "show", "get", "search"],
        words: 1,
    },
    Tool { names: &["gh"], kind: "gh", value_options: &["-R", "--repo", "--hostname"], groups: &[], words: 2 },
    Tool {
        names: &["docker", "podman"],
        kind: "docker",
        value_options: &[
            "-H",
            "--host",
            "--context",
            "-c",
            "--config",
            "-l",
            "--log-level",
            "-f",
            "--file",
            "-p",
            "--project-name",
            "--profile",
            "--env-file",
        ],
        groups: &[
            "compose",
            "image",
            "container",
            "network",
            "volume",
            "buildx",
            "system",
            "context",
            "builder",
            "plugin",
            "swarm",
            "service",
            "stack",
            "secret",
            "manifest",
            "trust",
        ],
        words: 1,
    },
    Tool {
        names: &["pulumi"],
        kind: "pulumi",
        value_options: &["-C", "--cwd", "-s", "--stack"],
        groups: &["stack", "config", "plugin", "policy", "org", "state"],
        words: 1,
    },
    Tool {
        names: &["ansible", "ansible-playbook", "ansible-galaxy", "ansible-vault", "ansible-inventory", "ansible-pull"],
        kind: "ansible",
        value_options: &[
            "-i",
            "--inventory",
            "-e",
            "--extra-vars",
            "-u",
            "--user",
            "-l",
            "--limit",
            "-m",
            "--module-name",
        ],
        groups: &[],
        words: 0,
    },
];

/// Every command type lcd classifies by itself, each once, then `other`:
/// what `--type` completes to and what a mistyped one is compared with.
pub fn tracked_types() -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for tool in TOOLS {
        if !kinds.contains(&tool.kind) {
            kinds.push(tool.kind);
        }
    }
    kinds.push(OTHER);
    kinds
}

/// A classified command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub command_type: String,
    pub subcommand: Option<String>,
    /// The words after the tool's name, for tool-specific facts (`--env`).
    pub args: Vec<String>,
    /// `NAME=value` words before the tool (`TF_WORKSPACE=prod terraform …`).
    pub assignments: Vec<(String, String)>,
}

/// Classifies command lines; extra executables come from the config.
#[derive(Debug, Default, Clone)]
pub struct Classifier {
    /// Executable name → command type (`[capture.tools]`).
    extra: HashMap<String, String>,
}

impl Classifier {
    pub fn new(extra: HashMap<String, String>) -> Classifier {
        Classifier { extra }
    }

    /// The first tracked tool of `line`; `other` when it runs none.
    pub fn classify(&self, line: &str) -> Classification {
        for words in simple_commands(line) {
            let (assignments, rest) = unwrap(&words);
            let Some((exe, args)) = rest.split_first() else { continue };
            let name = exe.rsplit('/').next().unwrap_or(exe);
            if let Some((kind, tool)) = self.lookup(name) {
                let subcommand = tool.map_or_else(|| first_word(args, &[]), |t| subcommand(t, name, args));
                return Classification { command_type: kind, subcommand, args: args.to_vec(), assignments };
            }
        }
        Classification { command_type: OTHER.into(), subcommand: None, args: Vec::new(), assignments: Vec::new() }
    }

    fn lookup(&self, name: &str) -> Option<(String, Option<&'static Tool>)> {
        if let Some(tool) = TOOLS.iter().find(|t| t.names.contains(&name)) {
            return Some((tool.kind.to_string(), Some(tool)));
        }
        let kind = self.extra.get(name)?;
        // A new name for a known kind (`tf = "terraform"`) gets its rules.
        let tool = TOOLS.iter().find(|t| t.kind == kind);
        Some((kind.clone(), tool))
    }
}

/// Strips what runs the real command: assignments, wrappers and their
/// options, keywords, redirections. Returns the assignments and the rest.
fn unwrap(words: &[String]) -> (Vec<(String, String)>, Vec<String>) {
    let mut assignments = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut skip_next = false;
    for word in words {
        if skip_next {
            skip_next = false;
            continue;
        }
        if let Some(needs_target) = redirection(word) {
            skip_next = needs_target;
            continue;
        }
        rest.push(word.clone());
    }
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        if let Some((name, value)) = assignment(word) {
            assignments.push((name, value));
            i += 1;
            continue;
        }
        let skip = match word.as_str() {
            "!" | "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "{" | "}" | "time" | "nohup"
            | "builtin" | "noglob" | "exec" | "command" => 1 + options(&rest[i + 1..], &["-a"], None),
            "for" | "case" | "select" | "function" | "fi" | "done" | "esac" => return (assignments, Vec::new()),
            "sudo" | "doas" => {
                1 + options(
                    &rest[i + 1..],
                    &[
                        "-u", "-g", "-h", "-p", "-C", "-D", "-R", "-r", "-t", "-T", "-U", "--user", "--group",
                        "--host", "--prompt", "--chdir",
                    ],
                    None,
                )
            }
            "env" => 1 + options(&rest[i + 1..], &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"], None),
            "nice" => 1 + options(&rest[i + 1..], &["-n", "--adjustment"], None),
            "timeout" => 1 + options(&rest[i + 1..], &["-s", "--signal", "-k", "--kill-after"], Some(1)),
            "/usr/bin/time" => 1 + options(&rest[i + 1..], &["-o", "--output", "-f", "--format"], None),
            _ => 0,
        };
        if skip == 0 {
            break;
        }
        i += skip;
    }
    (assignments, rest.split_off(i.min(rest.len())))
}

/// How many leading words are options (with their values), plus `extra`
/// positional words (`timeout 5s cmd`).
fn options(words: &[String], with_value: &[&str], extra: Option<usize>) -> usize {
    let mut i = 0;
    while let Some(word) = words.get(i) {
        if word == "--" {
            i += 1;
            break;
        }
        if !word.starts_with('-') || word == "-" {
            break;
        }
        i += if with_value.contains(&word.as_str()) { 2 } else { 1 };
    }
    (i + extra.unwrap_or(0)).min(words.len())
}

/// `NAME=value` with a shell-identifier name.
pub fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() || first == '_')
        .then_some(())
        .filter(|_| chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|_| (name.to_string(), value.to_string()))
}

/// The words that are not options (nor option values), in order.
fn positionals<'a>(args: &'a [String], value_options: &'a [&'a str]) -> impl Iterator<Item = &'a String> + 'a {
    let mut skip_next = false;
    let mut after_dashes = false;
    args.iter().filter(move |word| {
        if skip_next {
            skip_next = false;
            return false;
        }
        if after_dashes {
            return true;
        }
        if *word == "--" {
            after_dashes = true;
            return false;
        }
        if word.starts_with('-') && word.len() > 1 {
            skip_next = value_options.contains(&word.as_str());
            return false;
        }
        redirection(word).is_none()
    })
}

fn first_word(args: &[String], value_options: &[&str]) -> Option<String> {
    positionals(args, value_options).next().cloned()
}

fn subcommand(tool: &Tool, name: &str, args: &[String]) -> Option<String> {
    if tool.kind == "ansible" {
        // ansible-playbook → playbook; ansible-vault encrypt → vault encrypt.
        let what = name.strip_prefix("ansible-")?;
        return match what {
            "vault" | "galaxy" => Some(format!("{what} {}", first_word(args, tool.value_options)?)),
            _ => Some(what.to_string()),
        };
    }
    if tool.words > 1 {
        // Noun-verb CLIs (`az group create --name x`): the leading words, up
        // to the first option after them.
        let mut words = args.iter();
        let mut parts: Vec<&str> = Vec::new();
        while let Some(word) = words.next() {
            if word.starts_with('-') {
                if !parts.is_empty() {
                    break;
                }
                if tool.value_options.contains(&word.as_str()) {
                    words.next();
                }
                continue;
            }
            parts.push(word);
            if parts.len() == tool.words {
                break;
            }
        }
        return (!parts.is_empty()).then(|| parts.join(" "));
    }
    let mut words = positionals(args, tool.value_options);
    let mut parts: Vec<&str> = vec![words.next()?.as_str()];
    {
        while tool.groups.contains(&parts.join(" ").as_str()) {
            match words.next() {
                Some(next) => parts.push(next),
                None => break,
            }
        }
    }
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(line: &str) -> (String, Option<String>) {
        let c = Classifier::default().classify(line);
        (c.command_type, c.subcommand)
    }

    fn is(line: &str, kind: &str, sub: Option<&str>) {
        assert_eq!(classify(line), (kind.to_string(), sub.map(String::from)), "{line}");
    }

    #[test]
    fn wrappers_are_looked_past() {
        is("TF_LOG=debug terraform plan", "terraform", Some("plan"));
        is("sudo -u deploy -E terraform apply", "terraform", Some("apply"));
        is("env -i PATH=/bin terraform init", "terraform", Some("init"));
        is("command git status", "git", Some("status"));
        is("time nice -n 10 nohup git pull", "git", Some("pull"));
        is("\\terraform destroy", "terraform", Some("destroy"));
        is("/usr/local/bin/terraform plan", "terraform", Some("plan"));
        is("exec wrangler dev", "wrangler", Some("dev"));
        is("timeout 30s kubectl get pods", "kubectl", Some("get"));
    }

    #[test]
    fn global_options_are_skipped() {
        is("git -C ../repo push origin main", "git", Some("push"));
        is("terraform -chdir=infra apply -auto-approve", "terraform", Some("apply"));
        is("aws --profile prod s3 cp a s3://b", "aws", Some("s3 cp"));
    }

    #[test]
    fn nested_subcommands() {
        is("terraform workspace select prod", "terraform", Some("workspace select"));
        is("wrangler d1 migrations apply DB --remote", "wrangler", Some("d1 migrations apply"));
        is("wrangler secret put API_KEY", "wrangler", Some("secret put"));
        is("npm run build", "npm", Some("run build"));
        is("gh pr create --fill", "gh", Some("pr create"));
        is("docker compose -f x.yml up -d", "docker", Some("compose up"));
    }

    #[test]
    fn lists_classify_by_their_first_tracked_tool() {
        is("cd infra && terraform apply && echo ok", "terraform", Some("apply"));
        is("echo hi | grep h", OTHER, None);
        is("for i in 1 2; do git fetch; done", "git", Some("fetch"));
    }

    #[test]
    fn extra_tools_from_the_config() {
        let c =
            Classifier::new([("tf".to_string(), "terraform".to_string()), ("deployer".into(), "deploy".into())].into());
        assert_eq!(c.classify("tf workspace select x").subcommand.as_deref(), Some("workspace select"));
        assert_eq!(c.classify("deployer ship").command_type, "deploy");
    }
}
