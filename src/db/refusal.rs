//! Which refusals of a write are about the row written, told apart from a database that is
//! busy, read-only or gone.

/// A write refused by a unique index: another writer got there first. The callers that race
/// on purpose (reserving a key, taking an email) read it as "lost the race", not as a failure.
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Whether the database refused what a row holds: a constraint, or a value it cannot store
/// (PostgreSQL's data exceptions, such as a NUL in text). Not a busy or read-only database, a
/// lock timeout or a lost connection, which no row is to blame for and which storing the rows
/// one by one would only repeat, row after row.
pub fn is_refusal(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    /// PostgreSQL's messages for data exceptions (SQLSTATE class 22), which diesel reports
    /// without a kind of their own.
    const DATA_EXCEPTIONS: [&str; 6] = [
        "invalid byte sequence",
        "character not in repertoire",
        "unsupported unicode escape",
        "invalid input syntax",
        "value too long",
        "out of range",
    ];
    match err {
        Error::DatabaseError(
            Kind::CheckViolation | Kind::NotNullViolation | Kind::ForeignKeyViolation,
            _,
        ) => true,
        Error::DatabaseError(Kind::Unknown, info) => {
            let message = info.message().to_lowercase();
            DATA_EXCEPTIONS.iter().any(|text| message.contains(text))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind as Kind, Error};

    use super::is_refusal;

    fn error(kind: Kind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_string()))
    }

    /// What a row holds is its own problem; a busy, read-only or lost database is every row's.
    #[test]
    fn only_what_a_row_holds_is_a_refusal_of_that_row() {
        for refusal in [
            error(Kind::CheckViolation, "new row violates check constraint"),
            error(Kind::NotNullViolation, "null value in column"),
            error(
                Kind::Unknown,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ),
            error(
                Kind::Unknown,
                "value too long for type character varying(255)",
            ),
        ] {
            assert!(is_refusal(&refusal), "{refusal}");
        }
        for every_rows in [
            error(Kind::Unknown, "database is locked"),
            error(
                Kind::Unknown,
                "cannot execute INSERT in a read-only transaction",
            ),
            error(Kind::Unknown, "canceling statement due to lock timeout"),
            error(Kind::SerializationFailure, "could not serialize access"),
            error(
                Kind::ClosedConnection,
                "server closed the connection unexpectedly",
            ),
            Error::NotFound,
        ] {
            assert!(!is_refusal(&every_rows), "{every_rows}");
        }
    }
}
