//! The command record, declared once.
//!
//! [`command_record!`] below lists every column of the `commands` table with
//! its Rust type, the half of the record that fills it, whether `lcd query`
//! shows it, and its name in the team store's record. From that one list come
//! [`CommandRow`] (read by column name), the SQL of the write path (named
//! parameters), the JSON fields of `lcd query`, and [`RemoteRecord`], the
//! wire shape of the team store (with its JSON Schema). Adding a field is one
//! line here plus a migration per database; see `docs/ARCHITECTURE.md`.

use std::borrow::Cow;

use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::ToSql;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::sql_text::sql_text;

/// Which part of a command's life fills a column, and so which statement
/// writes it and when a later copy may overwrite it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The record id: the conflict target of every upsert.
    Key,
    /// Facts of the shell, the same in a start and its end: written by
    /// whichever arrives first, never changed.
    Session,
    /// What the start says (and enrichment adds); set once.
    Start,
    /// What the end says; set once.
    End,
    /// Where the command is in its life: set by each statement.
    Status,
    /// When the store first wrote the row: bound by the write path, not
    /// taken from the row.
    Stored,
    /// Only `lcd import` writes it; live rows take the column's default.
    Import,
    /// Set by the write path's checks once both halves of a row are stored;
    /// no statement binds it.
    Checked,
    /// The row's link in its session's hash chain, set once when the row is
    /// settled (`store/chain.rs`); no statement binds it, and it is not
    /// hashed itself.
    Chained,
    /// Set by the team store when it takes the record (who delivered it, how
    /// its link checked out): read back from it, never sent (`readOnly` in
    /// the schema), and no column of the local table, where such a field
    /// reads as its default.
    Remote,
}

impl Phase {
    /// Whether a column of this phase goes into the record's hash: every
    /// fact of the command, not when the store wrote it (bookkeeping), not
    /// the chain link itself, not what the team store adds. Forwarding and
    /// GitHub state live in other tables and so are never hashed.
    pub const fn hashed(self) -> bool {
        !matches!(self, Phase::Stored | Phase::Chained | Phase::Remote)
    }
}

/// One field of the record: a column of `commands`, unless its phase is
/// [`Phase::Remote`].
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Its named parameter in the generated SQL (`:name`).
    pub param: &'static str,
    pub phase: Phase,
    /// Whether `lcd query --format json` shows it.
    pub json: bool,
    /// Its name in the team store's record, if it goes there.
    pub remote: Option<&'static str>,
}

macro_rules! command_record {
    (
        $(
            $(#[doc = $doc:literal])*
            $name:ident: $ty:ty, $phase:ident, json = $json:literal
                $(, remote = $remote:ident $(($required:ident))?)?;
        )*
    ) => {
        /// One command as stored: a row of `commands`.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct CommandRow {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl CommandRow {
            /// Every field, in declaration order ([`Phase::Remote`] ones
            /// are no columns of `commands`).
            pub const COLUMNS: &'static [Column] = &[
                $( Column {
                    name: stringify!($name),
                    param: concat!(":", stringify!($name)),
                    phase: Phase::$phase,
                    json: $json,
                    remote: command_record!(@remote $($remote)?),
                }, )*
            ];

            /// Reads a row selected with [`select_list`], by column name.
            /// Where many rows come from one query, [`RowReader`] finds
            /// the names once.
            pub(crate) fn from_row(row: &rusqlite::Row) -> rusqlite::Result<CommandRow> {
                RowReader::new(row.as_ref())?.read(row)
            }

            /// Reads each field from the place `at` gives for it, in
            /// [`CommandRow::COLUMNS`] order (None: not a column).
            fn from_row_at(row: &rusqlite::Row, at: &[Option<usize>]) -> rusqlite::Result<CommandRow> {
                let mut at = at.iter().copied();
                Ok(CommandRow { $( $name: match at.next().flatten() {
                    Some(i) => row.get(i)?,
                    None => Default::default(),
                }, )* })
            }

            /// Each column's value, in [`CommandRow::COLUMNS`] order.
            fn values(&self) -> Vec<&dyn ToSql> {
                vec![$( &self.$name as &dyn ToSql, )*]
            }

            /// Each column's value as JSON, in [`CommandRow::COLUMNS`] order.
            pub(crate) fn json_values(&self) -> Vec<serde_json::Value> {
                vec![$( serde_json::to_value(&self.$name).expect("columns serialize"), )*]
            }

            /// The columns `lcd query --format json` shows, by name. A field
            /// the team store sets is left out of a record it never saw.
            fn json_columns(&self) -> serde_json::Map<String, serde_json::Value> {
                let mut map = serde_json::Map::new();
                $(
                    if $json {
                        let value = serde_json::to_value(&self.$name).expect("columns serialize");
                        if !(Phase::$phase == Phase::Remote && value.is_null()) {
                            map.insert(stringify!($name).into(), value);
                        }
                    }
                )*
                map
            }
        }

        /// A command in the team store's shape: what the forwarder POSTs to
        /// `/api/commands/batch` and what `GET /api/commands/history` returns.
        /// `remote/schema/record.schema.json` is its JSON Schema. What lcd
        /// sends leaves out the fields only the store sets (`readOnly`).
        #[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
        pub struct RemoteRecord {
            $( $(
                #[serde(default, deserialize_with = "null_as_default")]
                pub $remote: $ty,
            )? )*
            /// The command line after the tool's own name (`plan -out x` of
            /// `TF_LOG=1 terraform plan -out x`), as the seed's `arguments` has it.
            #[serde(default)]
            pub arguments: Option<String>,
            /// Milliseconds from start to end.
            #[serde(default)]
            pub duration_ms: Option<i64>,
            /// Only on a copy whose fields were partly hidden on the way out
            /// (`[capture] redact_remote`): the digest of its record part as
            /// hashed into its chain (`docs/INTEGRITY.md`).
            #[serde(default)]
            pub record_digest: Option<String>,
        }

        /// Fields of [`RemoteRecord`] the team store cannot do without.
        const REMOTE_REQUIRED: &[&str] = &[$( $( $( { let _ = stringify!($required); stringify!($remote) }, )? )? )*];

        /// Each field of [`RemoteRecord`] taken from the table, with its phase.
        const REMOTE_FIELDS: &[(&str, Phase)] = &[$( $( (stringify!($remote), Phase::$phase), )? )*];

        impl Serialize for RemoteRecord {
            /// What lcd sends: every field but those the store sets.
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let sent = REMOTE_FIELDS.iter().filter(|(_, phase)| *phase != Phase::Remote).count() + 3;
                let mut record = serializer.serialize_struct("RemoteRecord", sent)?;
                $( $(
                    if Phase::$phase != Phase::Remote {
                        record.serialize_field(stringify!($remote), &self.$remote)?;
                    }
                )? )*
                record.serialize_field("arguments", &self.arguments)?;
                record.serialize_field("duration_ms", &self.duration_ms)?;
                record.serialize_field("record_digest", &self.record_digest)?;
                record.end()
            }
        }

        impl From<&CommandRow> for RemoteRecord {
            fn from(row: &CommandRow) -> RemoteRecord {
                RemoteRecord {
                    $( $( $remote: row.$name.clone(), )? )*
                    arguments: row.arguments(),
                    duration_ms: row.duration_ms(),
                    record_digest: None,
                }
            }
        }

        impl From<RemoteRecord> for CommandRow {
            /// A remote record shown like a local one; what the team store
            /// does not keep stays empty.
            fn from(record: RemoteRecord) -> CommandRow {
                CommandRow { $( $( $name: record.$remote, )? )* ..CommandRow::default() }
            }
        }
    };
    (@remote $remote:ident) => { Some(stringify!($remote)) };
    (@remote) => { None };
}

command_record! {
    /// Made on the client side: a UUID, unique across machines.
    id: String, Key, json = true, remote = uuid (required);
    /// As typed, secrets redacted.
    command: String, Start, json = true, remote = command (required);
    status: RecordStatus, Status, json = true, remote = status;
    exit_code: Option<i32>, End, json = true, remote = exit_code;
    /// One exit status per pipeline element.
    pipestatus: Pipestatus, End, json = true, remote = pipestatus;
    started_at: Option<Time>, Start, json = true, remote = started_at;
    ended_at: Option<Time>, End, json = true, remote = ended_at;
    cwd: Option<String>, Start, json = true, remote = working_directory;
    /// One per shell process.
    session: String, Session, json = true, remote = session;
    /// The shell's command counter.
    seq: i64, Session, json = false;
    hostname: String, Session, json = true, remote = host;
    user: String, Session, json = true, remote = executed_by;
    shell: String, Session, json = true, remote = shell;
    shell_pid: Option<i64>, Session, json = false;
    tty: Option<String>, Session, json = true;
    command_type: CommandType, Start, json = true, remote = command_type;
    subcommand: Option<String>, Start, json = true, remote = subcommand;
    /// The environment a deploy targets (terraform workspace, wrangler --env, ...).
    environment: Option<String>, Start, json = true, remote = environment;
    git_root: Option<String>, Start, json = true;
    git_host: Option<String>, Start, json = true, remote = git_host;
    /// owner/name
    git_repo: Option<String>, Start, json = true, remote = repo_full_name;
    /// None when detached.
    git_branch: Option<String>, Start, json = true, remote = git_branch;
    /// HEAD when the command started.
    git_commit: Option<String>, Start, json = true, remote = git_commit;
    /// HEAD when it ended (differs after a commit, pull or checkout).
    git_commit_after: Option<String>, End, json = true, remote = git_commit_after;
    /// The allowlisted variables that were exported.
    env: EnvVars, Start, json = true;
    /// How many secrets were hidden in the command line and its variables:
    /// a reviewer sees that something was, without seeing it.
    redacted: i64, Start, json = true, remote = redacted;
    /// Aliases expanded (zsh), when that differs from what was typed.
    expanded: Option<String>, Start, json = false;
    /// Read from a shell's history file by `lcd import`, not seen live.
    imported: bool, Import, json = true;
    /// When the daemon first stored the row.
    recorded_at: i64, Stored, json = false;
    /// The end came with a time before the start (a clock stepped back, or a
    /// forged end): `ended_at` was set to `started_at`, the duration to zero.
    end_clamped: bool, Checked, json = true, remote = end_clamped;
    /// An `fg` or `bg`: the id of the suspended record it continues, the
    /// session's newest not continued yet.
    resumes: Option<String>, Checked, json = true, remote = resumes;
    /// The row's place in its session's hash chain: 1, 2, ... in the order
    /// its records were settled (see `docs/INTEGRITY.md`).
    chain_seq: Option<i64>, Chained, json = false, remote = chain_seq;
    /// `hash` of the previous record of the session; None for the first.
    prev_hash: Option<String>, Chained, json = false, remote = prev_hash;
    /// SHA-256 (hex) of the record's canonical encoding and `prev_hash`.
    hash: Option<String>, Chained, json = false, remote = hash;
    /// SHA-256 (hex) of the hashed columns the team store does not keep,
    /// so that it can check `hash` without seeing them.
    local_digest: Option<String>, Chained, json = false, remote = local_digest;
    /// Who delivered the record to the team store: the user of its token
    /// (or the Cloudflare Access email), set by the Worker, never sent by lcd.
    /// `user` beside it is what the client said.
    received_from: Option<String>, Remote, json = true, remote = received_from;
    /// How the record's link to the previous one of its session checked out
    /// at the team store, set by the Worker, never sent by lcd.
    chain: Option<ChainState>, Remote, json = true, remote = chain;
}

impl CommandRow {
    /// Milliseconds from start to end, once both are known.
    pub fn duration_ms(&self) -> Option<i64> {
        Some((self.ended_at?.0 - self.started_at?.0) / 1000)
    }

    /// The fields `lcd query --format json` shows: the JSON columns and
    /// what is derived from them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = self.json_columns();
        map.insert("duration_ms".into(), self.duration_ms().into());
        serde_json::Value::Object(map)
    }

    /// The names [`CommandRow::to_json`] gives, in declaration order.
    pub fn json_fields() -> impl Iterator<Item = &'static str> {
        CommandRow::COLUMNS.iter().filter(|c| c.json).map(|c| c.name).chain(["duration_ms"])
    }

    /// The command line after the tool's own name, for a tracked tool.
    fn arguments(&self) -> Option<String> {
        let tool = self.command_type.tracked()?;
        let words: Vec<&str> = self.command.split_whitespace().collect();
        let at = words.iter().position(|w| {
            let name = w.rsplit('/').next().unwrap_or(w).trim_start_matches('\\');
            name == tool
                || (tool == "terraform" && name == "tofu")
                || (tool == "npm" && ["npx", "pnpm", "yarn"].contains(&name))
        })?;
        Some(words[at + 1..].join(" "))
    }
}

/// Reads the rows of one statement as [`CommandRow`]s: each column is found
/// by its name once, when the reader is made, not once per row (a name
/// lookup scans the statement's columns).
pub(crate) struct RowReader(Vec<Option<usize>>);

impl RowReader {
    pub(crate) fn new(stmt: &rusqlite::Statement) -> rusqlite::Result<RowReader> {
        let at = CommandRow::COLUMNS
            .iter()
            .map(|c| match c.phase {
                Phase::Remote => Ok(None),
                _ => stmt.column_index(c.name).map(Some),
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(RowReader(at))
    }

    pub(crate) fn read(&self, row: &rusqlite::Row) -> rusqlite::Result<CommandRow> {
        CommandRow::from_row_at(row, &self.0)
    }
}

/// `c.id AS id, c.command AS command, ...`: every column, for [`CommandRow::from_row`].
pub(crate) fn select_list() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        CommandRow::COLUMNS
            .iter()
            .filter(|c| c.phase != Phase::Remote)
            .map(|c| format!("c.{0} AS {0}", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

impl RemoteRecord {
    /// The JSON Schema of the team store's record, as committed in
    /// `remote/schema/record.schema.json`.
    pub fn schema() -> serde_json::Value {
        let mut schema = serde_json::to_value(schemars::schema_for!(RemoteRecord)).expect("schemas serialize");
        // Any field but the required ones may be null or missing: the team
        // store keeps what it was given and lcd reads a null as the default.
        for (name, property) in schema["properties"].as_object_mut().into_iter().flatten() {
            let nullable = property["type"].as_array().is_some_and(|t| t.contains(&"null".into()))
                || property["anyOf"].as_array().is_some_and(|a| a.iter().any(|s| s["type"] == "null"));
            if !nullable && !REMOTE_REQUIRED.contains(&name.as_str()) {
                let mut inner = std::mem::take(property);
                let described = inner.as_object_mut().and_then(|o| o.remove("description"));
                *property = serde_json::json!({ "anyOf": [inner, { "type": "null" }] });
                if let Some(description) = described {
                    property["description"] = description;
                }
            }
        }
        // The store's own fields: a client that sends one is refused.
        for (name, _) in REMOTE_FIELDS.iter().filter(|(_, phase)| *phase == Phase::Remote) {
            schema["properties"][name]["readOnly"] = true.into();
        }
        schema["required"] = REMOTE_REQUIRED.iter().map(|&f| serde_json::Value::from(f)).collect();
        schema
    }
}

/// A statement of the write path, generated from the declaration: which
/// phases' columns it writes and how a conflict on the id merges them.
pub(crate) struct Statement {
    phases: &'static [Phase],
    pub sql: String,
}

impl Statement {
    /// The columns it writes, in the order their parameters first appear in
    /// its SQL (SQLite numbers named parameters that way; a test checks it).
    fn columns(&self) -> impl Iterator<Item = (usize, &'static Column)> + '_ {
        CommandRow::COLUMNS.iter().enumerate().filter(|(_, c)| self.phases.contains(&c.phase))
    }

    /// Binds each column's value from `row` (or, for the end half, from
    /// `end` when given: a start and its end written as one row without
    /// merging them first), `stored_at` for [`Phase::Stored`]; then runs the
    /// statement. Bound by position, not by name: the write path runs this
    /// for every record.
    pub(crate) fn run(
        &self,
        stmt: &mut rusqlite::CachedStatement<'_>,
        row: &CommandRow,
        end: Option<&CommandRow>,
        stored_at: i64,
    ) -> rusqlite::Result<usize> {
        let values = row.values();
        let end_values = end.map(CommandRow::values);
        for (position, (index, column)) in self.columns().enumerate() {
            let value = match (&end_values, column.phase) {
                (_, Phase::Stored) => &stored_at as &dyn ToSql,
                (Some(end), Phase::End | Phase::Status) => end[index],
                _ => values[index],
            };
            stmt.raw_bind_parameter(position + 1, value)?;
        }
        stmt.raw_execute()
    }
}

/// The half-records and whole records the write path stores. A row that has
/// its chain link (`hash`) is sealed: no statement changes it again, so an
/// end that comes after its record was settled as `unknown` is not merged.
pub(crate) struct Statements {
    /// A start fills the command half of its row; fields an earlier copy of
    /// the same start already set are kept, so replays change nothing.
    pub start: Statement,
    /// An end fills the outcome half; it may arrive before its start. The end
    /// of a never-recorded command is dropped.
    pub end: Statement,
    /// A start and its end in the same batch: the whole row at once; each
    /// half taken only where the row does not have it yet.
    pub whole: Statement,
    /// Imported history: whole rows, an id already there left as it is.
    pub import: Statement,
}

const START: &[Phase] = &[Phase::Key, Phase::Session, Phase::Start, Phase::Status, Phase::Stored];
const END: &[Phase] = &[Phase::Key, Phase::Session, Phase::End, Phase::Status, Phase::Stored];
const WHOLE: &[Phase] = &[Phase::Key, Phase::Session, Phase::Start, Phase::End, Phase::Status, Phase::Stored];
const IMPORT: &[Phase] =
    &[Phase::Key, Phase::Session, Phase::Start, Phase::End, Phase::Status, Phase::Stored, Phase::Import];

impl Statements {
    /// The statements, made once.
    pub fn get() -> &'static Statements {
        static STATEMENTS: std::sync::OnceLock<Statements> = std::sync::OnceLock::new();
        STATEMENTS.get_or_init(|| {
            let names = |phases: &[Phase]| -> Vec<&'static Column> {
                CommandRow::COLUMNS.iter().filter(|c| phases.contains(&c.phase)).collect()
            };
            let list = |phases: &[Phase], f: &dyn Fn(&Column) -> String| -> String {
                names(phases).into_iter().map(f).collect::<Vec<_>>().join(", ")
            };
            let insert =
                |phases: &[Phase]| (list(phases, &|c| c.name.to_string()), list(phases, &|c| c.param.to_string()));
            let set = |phases: &[Phase]| list(phases, &|c| format!("{0} = excluded.{0}", c.name));
            // Each half of a whole row only where the stored row lacks it.
            let keep = |phases: &[Phase], marker: &str| {
                list(phases, &|c| {
                    format!("{0} = CASE WHEN commands.{marker} IS NULL THEN excluded.{0} ELSE commands.{0} END", c.name)
                })
            };
            let (start_cols, start_vals) = insert(START);
            let (end_cols, end_vals) = insert(END);
            let (whole_cols, whole_vals) = insert(WHOLE);
            let (import_cols, import_vals) = insert(IMPORT);
            Statements {
                start: Statement {
                    phases: START,
                    sql: format!(
                        "INSERT INTO commands ({start_cols}) VALUES ({start_vals})
                         ON CONFLICT (id) DO UPDATE SET {} WHERE commands.command IS NULL",
                        set(&[Phase::Start])
                    ),
                },
                end: Statement {
                    phases: END,
                    sql: format!(
                        "INSERT INTO commands ({end_cols}) SELECT {end_vals}
                         WHERE NOT EXISTS (SELECT 1 FROM ignored WHERE id = :id)
                         ON CONFLICT (id) DO UPDATE SET {}, status = excluded.status
                         WHERE commands.ended_at IS NULL AND commands.hash IS NULL",
                        set(&[Phase::End])
                    ),
                },
                whole: Statement {
                    phases: WHOLE,
                    sql: format!(
                        "INSERT INTO commands ({whole_cols}) VALUES ({whole_vals})
                         ON CONFLICT (id) DO UPDATE SET {}, {}, status = excluded.status
                         WHERE commands.hash IS NULL",
                        keep(&[Phase::Start], "command"),
                        keep(&[Phase::End], "ended_at")
                    ),
                },
                import: Statement {
                    phases: IMPORT,
                    sql: format!("INSERT OR IGNORE INTO commands ({import_cols}) VALUES ({import_vals})"),
                },
            }
        })
    }
}

sql_text! {
    /// How the team store found a record's link to the previous record of
    /// its session when it arrived.
    #[derive(JsonSchema)]
    pub enum ChainState {
        /// Its `prev_hash` is the hash of the previous record the store holds.
        Ok,
        /// The store does not hold the previous record (yet).
        Gap,
        /// The store holds the previous record, with another hash; or the
        /// record's own hash does not match its fields.
        Broken,
    }
}

sql_text! {
    /// Where a command is in its life. The `status` column's CHECK constraint
    /// lists the same words.
    #[derive(Default, JsonSchema)]
    pub enum RecordStatus {
        /// Started, not ended yet.
        Running,
        #[default]
        Finished,
        /// Its end never came: the shell died or a later command started.
        Unknown,
        /// Stopped (Ctrl-Z) with the prompt back: an `fg` or `bg` record
        /// continues it (its `resumes`).
        Suspended,
        /// Not a command: records of the session lost on the way to the
        /// daemon, counted in its `command` text.
        Gap,
    }
}

/// A moment as stored: microseconds since the Unix epoch; RFC 3339 with
/// milliseconds in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Time(pub i64);

impl ToSql for Time {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for Time {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(Time)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::time::rfc3339_ms(self.0))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        crate::time::parse_rfc3339(&text)
            .map(Time)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}

impl JsonSchema for Time {
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// The exit status of each element of a pipeline; a JSON array in the
/// database, NULL when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Pipestatus(pub Vec<i32>);

impl ToSql for Pipestatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0.is_empty() {
            true => ToSqlOutput::from(rusqlite::types::Null),
            false => ToSqlOutput::from(serde_json::to_string(&self.0).expect("integers serialize")),
        })
    }
}

impl FromSql for Pipestatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(Pipestatus::default()),
            // A value lcd did not write reads as no statuses, not as an error.
            other => Ok(Pipestatus(serde_json::from_str(other.as_str()?).unwrap_or_default())),
        }
    }
}

/// The tool a command ran (`terraform`, `git`, ...), or `other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct CommandType(pub String);

impl CommandType {
    /// Every command lcd does not track.
    pub const OTHER: &'static str = "other";

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tool's name, unless the command is untracked.
    pub fn tracked(&self) -> Option<&str> {
        (self.0 != CommandType::OTHER).then_some(self.0.as_str())
    }
}

impl Default for CommandType {
    fn default() -> Self {
        CommandType(CommandType::OTHER.into())
    }
}

impl ToSql for CommandType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

impl FromSql for CommandType {
    /// Rows stored before commands were classified read as untracked.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(CommandType::default()),
            other => String::column_result(other).map(CommandType),
        }
    }
}

/// The allowlisted environment variables a command started with, as the
/// JSON object text the database keeps: made once by enrichment (on the
/// connection tasks, in parallel), not by the one writer thread.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct EnvVars(Box<serde_json::value::RawValue>);

impl EnvVars {
    /// From (name, value) pairs.
    pub fn from_pairs(pairs: &[(String, String)]) -> EnvVars {
        // Written straight into the raw value: no copy of the pairs, no
        // parse of the text just written.
        let object: std::collections::BTreeMap<&str, &str> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        EnvVars(serde_json::value::to_raw_value(&object).expect("strings serialize"))
    }

    /// From JSON text; anything but an object reads as no variables.
    fn from_json(text: String) -> EnvVars {
        match serde_json::value::RawValue::from_string(text) {
            Ok(raw) if raw.get().starts_with('{') => EnvVars(raw),
            _ => EnvVars::default(),
        }
    }

    /// The JSON object text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl Default for EnvVars {
    fn default() -> Self {
        EnvVars(serde_json::value::RawValue::from_string("{}".into()).expect("an empty object"))
    }
}

impl PartialEq for EnvVars {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl ToSql for EnvVars {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_json()))
    }
}

impl FromSql for EnvVars {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(EnvVars::default()),
            other => Ok(EnvVars::from_json(other.as_str()?.to_string())),
        }
    }
}

/// A missing or null field takes the type's default, as the team store
/// leaves out what it does not have.
fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed schema is the one the Rust type makes. After changing
    /// the record, write it again with: LCD_WRITE_SCHEMA=1 cargo test -p lcd --lib schema
    #[test]
    fn the_committed_remote_schema_matches_the_record_type() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../remote/schema/record.schema.json");
        let made = serde_json::to_string_pretty(&RemoteRecord::schema()).unwrap() + "\n";
        if std::env::var_os("LCD_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &made).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == made,
            "{} differs from RemoteRecord's schema; write it again with: LCD_WRITE_SCHEMA=1 cargo test -p lcd --lib schema\n{made}",
            path.display()
        );
    }

    /// The write path binds by position: each statement's parameters must
    /// be numbered in the order of its columns.
    #[test]
    fn every_generated_statement_numbers_its_parameters_in_column_order() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let all = Statements::get();
        for statement in [&all.start, &all.end, &all.whole, &all.import] {
            let stmt = conn.prepare(&statement.sql).unwrap();
            let expected: Vec<&str> = statement.columns().map(|(_, c)| c.param).collect();
            let numbered: Vec<&str> =
                (1..=stmt.parameter_count()).map(|i| stmt.parameter_name(i).unwrap_or("?")).collect();
            assert_eq!(numbered, expected, "{}", statement.sql);
        }
    }

    #[test]
    fn a_row_goes_to_the_team_store_and_back() {
        let row = CommandRow {
            id: "0190-a".into(),
            command: "TF_LOG=1 terraform plan -out x".into(),
            command_type: CommandType("terraform".into()),
            started_at: Some(Time(1_700_000_000_123_000)),
            ended_at: Some(Time(1_700_000_002_123_000)),
            pipestatus: Pipestatus(vec![0, 1]),
            status: RecordStatus::Finished,
            user: "alice".into(),
            ..CommandRow::default()
        };
        let remote = RemoteRecord::from(&row);
        assert_eq!(remote.arguments.as_deref(), Some("plan -out x"));
        assert_eq!(remote.duration_ms, Some(2000));
        let json = serde_json::to_value(&remote).unwrap();
        assert_eq!(json["started_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(json["executed_by"], "alice");
        let back = CommandRow::from(serde_json::from_value::<RemoteRecord>(json).unwrap());
        assert_eq!(
            (back.id, back.user, back.started_at, back.pipestatus),
            (row.id, row.user, row.started_at, row.pipestatus)
        );
    }

    #[test]
    fn received_from_is_read_from_the_team_store_and_never_sent() {
        let record: RemoteRecord =
            serde_json::from_str(r#"{"uuid": "x", "command": "ls", "user": "bob", "received_from": "alice"}"#).unwrap();
        assert_eq!(record.received_from.as_deref(), Some("alice"));
        let sent = serde_json::to_value(&record).unwrap();
        assert!(sent.get("received_from").is_none(), "{sent}");
        assert_eq!(sent["uuid"], "x");
        assert_eq!(CommandRow::from(record).received_from.as_deref(), Some("alice"));
        assert_eq!(RemoteRecord::schema()["properties"]["received_from"]["readOnly"], true);
        assert!(!select_list().contains("received_from"), "no such column in the local table");
        assert!(CommandRow::default().to_json().get("received_from").is_none(), "a local record names no sender");
    }

    #[test]
    fn nulls_from_the_team_store_read_as_defaults() {
        let record: RemoteRecord = serde_json::from_str(
            r#"{"uuid": "x", "command": "ls", "status": null, "pipestatus": null, "command_type": null}"#,
        )
        .unwrap();
        assert_eq!(record.status, RecordStatus::Finished);
        assert_eq!(record.command_type.as_str(), "other");
        assert!(serde_json::from_str::<RemoteRecord>(r#"{"uuid": "x", "started_at": "yesterday"}"#).is_err());
    }
}
