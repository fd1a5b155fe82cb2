//! Deploy runs on their way to GitHub: which step each one needs next.

use rusqlite::{params, OptionalExtension};

use super::record::{select_list, CommandRow};
use super::sql_text::sql_text;
use super::{Store, StoreError};
use crate::time::now_micros;

const SINK: &str = "github";

sql_text! {
    /// How far a deploy run got on GitHub (`github_deployments.stage`).
    pub enum GithubStage {
        /// The deployment exists; no status yet.
        Created,
        /// Told that the run is under way.
        InProgress,
        /// Told how the run ended; the issue comment is still to come.
        Final,
        /// Nothing left to report.
        Done,
        /// GitHub refused it; the reason is kept.
        Failed,
    }
}

/// Where a deploy run is on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubProgress {
    /// `None`: no deployment yet.
    pub stage: Option<GithubStage>,
    pub deployment_id: Option<i64>,
}

/// One record's deployment, as `lcd show` tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GithubRecord {
    pub repo: String,
    pub deployment_id: Option<i64>,
    pub stage: GithubStage,
    /// GitHub's reason, when it refused.
    pub reason: Option<String>,
}

/// Which commands are deploys, on which hosts (SQL over `commands c`).
#[derive(Debug, Clone)]
pub struct DeployFilter {
    /// (command type, subcommands)
    pub rules: Vec<(String, Vec<String>)>,
    pub hosts: Vec<String>,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl DeployFilter {
    fn sql(&self) -> String {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|(t, subs)| {
                format!(
                    "(c.command_type = {} AND c.subcommand IN ({}))",
                    quote(t),
                    subs.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let hosts = self.hosts.iter().map(|h| quote(h)).collect::<Vec<_>>().join(", ");
        format!(
            "c.command IS NOT NULL AND c.git_repo IS NOT NULL AND c.git_commit IS NOT NULL AND c.git_host IN ({hosts}) AND ({})",
            if rules.is_empty() { "0".to_string() } else { rules.join(" OR ") }
        )
    }
}

/// A deploy run still needs a step while it is not created, or created while
/// running (in_progress is due), or not yet told how it ended.
fn needs_step() -> String {
    use GithubStage::{Created, Final, InProgress};
    format!(
        "(g.pk IS NULL
          OR (g.stage = '{Created}' AND c.status = 'running')
          OR (g.stage IN ('{Created}', '{InProgress}') AND c.status != 'running')
          OR g.stage = '{Final}')"
    )
}

impl Store {
    /// Where GitHub forwarding starts: the commands recorded before it was
    /// first turned on are history, not deploys to announce.
    pub fn github_start(&mut self) -> Result<i64, StoreError> {
        let existing: Option<i64> = self
            .conn
            .query_row("SELECT settled_upto FROM outbox_cursor WHERE sink = ?1", [SINK], |r| r.get(0))
            .optional()?;
        if let Some(start) = existing {
            return Ok(start);
        }
        let start: i64 = self.conn.query_row("SELECT coalesce(max(pk), 0) FROM commands", [], |r| r.get(0))?;
        self.conn.execute("INSERT INTO outbox_cursor (sink, settled_upto) VALUES (?1, ?2)", params![SINK, start])?;
        Ok(start)
    }

    /// The oldest deploy run that needs a step, with where it is, in none of
    /// the `paused` repositories (`host/owner/name`: those GitHub refused a
    /// moment ago).
    pub fn github_next(
        &self,
        start: i64,
        filter: &DeployFilter,
        paused: &[String],
    ) -> Result<Option<(i64, CommandRow, GithubProgress)>, StoreError> {
        let sql = format!(
            "SELECT c.pk AS pk, {}, g.stage AS stage, g.deployment_id AS deployment_id FROM commands c
             LEFT JOIN github_deployments g ON g.pk = c.pk
             WHERE c.pk > ?1 AND {} AND {} AND c.git_host || '/' || c.git_repo NOT IN ({})
             ORDER BY c.pk LIMIT 1",
            select_list(),
            filter.sql(),
            needs_step(),
            paused.iter().map(|r| quote(r)).collect::<Vec<_>>().join(", ")
        );
        Ok(self
            .conn
            .query_row(&sql, [start], |r| {
                Ok((
                    r.get("pk")?,
                    CommandRow::from_row(r)?,
                    GithubProgress { stage: r.get("stage")?, deployment_id: r.get("deployment_id")? },
                ))
            })
            .optional()?)
    }

    /// Records the step a deploy run reached.
    pub fn github_mark(
        &mut self,
        pk: i64,
        api_url: &str,
        repo: &str,
        deployment_id: Option<i64>,
        stage: GithubStage,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO github_deployments (pk, api_url, repo, deployment_id, stage, detail, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (pk) DO UPDATE SET deployment_id = coalesce(excluded.deployment_id, deployment_id),
                 stage = excluded.stage, detail = excluded.detail, updated_at = excluded.updated_at",
            params![pk, api_url, repo, deployment_id, stage, detail, now_micros()],
        )?;
        Ok(())
    }

    /// Where the record `id` is on GitHub.
    pub fn github_state(&self, id: &str) -> Result<Option<GithubRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT g.repo, g.deployment_id, g.stage, g.detail FROM github_deployments g JOIN commands c ON c.pk = g.pk WHERE c.id = ?1",
                [id],
                |r| Ok(GithubRecord { repo: r.get(0)?, deployment_id: r.get(1)?, stage: r.get(2)?, reason: r.get(3)? }),
            )
            .optional()?)
    }

    /// Deploy runs with steps still to go, and those GitHub refused.
    pub fn github_backlog(&self, start: i64, filter: &DeployFilter) -> Result<(u64, u64), StoreError> {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE g.pk IS NULL OR g.stage NOT IN (?2, ?3)),
                    count(*) FILTER (WHERE g.stage = ?3)
             FROM commands c LEFT JOIN github_deployments g ON g.pk = c.pk WHERE c.pk > ?1 AND {}",
            filter.sql()
        );
        let (open, failed): (i64, i64) =
            self.conn.query_row(&sql, params![start, GithubStage::Done, GithubStage::Failed], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        Ok((open as u64, failed as u64))
    }
}
