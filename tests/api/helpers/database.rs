//! One fresh database per test: a SQLite file in a temporary directory, or a new PostgreSQL
//! database beside `TEST_DATABASE_URL`'s.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::Backend;

/// A database that exists for one test and is removed after it.
pub enum TestDatabase {
    /// Dropping the directory removes the database file.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
                (Self::Sqlite { _dir: dir }, url)
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let name = format!("gateway_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL refused: {e}")
                });
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let (base, _) = admin_url
                    .rsplit_once('/')
                    .expect("TEST_DATABASE_URL names a database");
                let url = format!("{base}/{name}");
                (Self::Postgres { admin_url, name }, url)
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name } = self {
            // FORCE ends the stopped gateway's pooled connections.
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A fresh, empty database and its URL; it is removed when the last `Arc` is dropped.
pub async fn create_database(backend: Backend) -> (Arc<TestDatabase>, String) {
    let (database, url) = tokio::task::spawn_blocking(move || TestDatabase::create(backend))
        .await
        .unwrap();
    (Arc::new(database), url)
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

impl super::TestApp {
    /// The text column `value` of `SELECT {select}` on the gateway's database, as
    /// [`TestApp::count_rows`] reads it.
    pub async fn select_texts(&self, select: &str) -> Vec<String> {
        use diesel::RunQueryDsl;
        let sql = format!("SELECT {select}");
        let (backend, url) = (self.backend, self.database_url().to_string());
        tokio::task::spawn_blocking(move || {
            let query = diesel::sql_query(sql);
            let rows: Vec<Text> = match backend {
                Backend::Postgres => query.load(&mut PgConnection::establish(&url).unwrap()),
                Backend::Sqlite => {
                    let path = url.trim_start_matches("sqlite://");
                    let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                    conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
                    query.load(&mut conn)
                }
            }
            .unwrap_or_else(|e| panic!("select failed: {e}"));
            rows.into_iter().map(|row| row.value).collect()
        })
        .await
        .unwrap()
    }

    /// `SELECT COUNT(*) FROM {from_where}` on the gateway's database, behind its back: for
    /// checks no API shows (a purge, say).
    pub async fn count_rows(&self, from_where: &str) -> i64 {
        use diesel::RunQueryDsl;
        let sql = format!("SELECT COUNT(*) AS n FROM {from_where}");
        let (backend, url) = (self.backend, self.database_url().to_string());
        tokio::task::spawn_blocking(move || {
            let query = diesel::sql_query(sql);
            let rows: Vec<Count> = match backend {
                Backend::Postgres => query.load(&mut PgConnection::establish(&url).unwrap()),
                Backend::Sqlite => {
                    let path = url.trim_start_matches("sqlite://");
                    let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                    conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
                    query.load(&mut conn)
                }
            }
            .unwrap_or_else(|e| panic!("count failed: {e}"));
            rows[0].n
        })
        .await
        .unwrap()
    }
}
