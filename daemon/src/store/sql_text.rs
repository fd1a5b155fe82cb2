//! States kept in a TEXT column as one fixed word each (the migrations'
//! CHECK constraints list the same words): the enum is the owner, SQLite and
//! serde are its mirrors.

/// Declares a state: an enum whose variants are words, spelt the same in
/// SQL, JSON and the text people read (`snake_case`), and read and written
/// by SQLite as that word. Further derives and attributes go before `enum`.
macro_rules! sql_text {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)+ }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            serde::Serialize,
            serde::Deserialize,
            strum::IntoStaticStr,
            strum::EnumString,
            strum::Display,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        $vis enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// The word SQL, JSON and people read.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(<&'static str>::from(*self).into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let word = value.as_str()?;
                word.parse().map_err(|_| {
                    rusqlite::types::FromSqlError::Other(
                        format!("{word:?} is not a valid {}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}

pub(crate) use sql_text;

#[cfg(test)]
mod tests {
    use crate::store::{GithubStage, OutboxState};

    #[test]
    fn states_are_stored_and_shown_as_their_words() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let word: String = conn.query_row("SELECT ?1", [GithubStage::InProgress], |r| r.get(0)).unwrap();
        assert_eq!(word, "in_progress");
        let stage: GithubStage = conn.query_row("SELECT 'final'", [], |r| r.get(0)).unwrap();
        assert_eq!(stage, GithubStage::Final);
        assert_eq!(serde_json::to_value(GithubStage::InProgress).unwrap(), "in_progress");
        let err = conn.query_row("SELECT 'finished'", [], |r| r.get::<_, OutboxState>(0)).unwrap_err();
        assert!(err.to_string().contains("\"finished\" is not a valid OutboxState"), "{err}");
    }
}
