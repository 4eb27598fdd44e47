use std::fmt;
use std::path::Path;

/// Which database the gateway talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// A database URL whose scheme has been checked: `postgres://` / `postgresql://`, or
/// `sqlite://<path>` / `sqlite:<path>` for a file. Anything else is refused, so a typo never
/// silently becomes a new SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    raw: String,
    connect: String,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                raw: raw.to_string(),
                connect: raw.to_string(),
            });
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .ok_or_else(|| "must start with postgres://, postgresql:// or sqlite://".to_string())?;
        if path.is_empty() || path.contains(":memory:") {
            return Err(
                "a SQLite URL needs a file path, e.g. sqlite://./data/gateway.db".to_string(),
            );
        }
        Ok(Self {
            backend: Backend::Sqlite,
            raw: raw.to_string(),
            connect: path.to_string(),
        })
    }

    /// What the backend's driver is given.
    pub(crate) fn connect_str(&self) -> &str {
        &self.connect
    }

    /// Creates the directory of a SQLite file; nothing to do for PostgreSQL.
    pub(crate) fn prepare(&self) -> std::io::Result<()> {
        match self.backend {
            Backend::Postgres => Ok(()),
            Backend::Sqlite => match Path::new(&self.connect).parent() {
                Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
                _ => Ok(()),
            },
        }
    }
}

/// Passwords in PostgreSQL URLs stay out of logs and `Debug` output.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.backend == Backend::Sqlite {
            return f.write_str(&self.raw);
        }
        // postgres://user:password@host/db?password=...: both places hide the password.
        let (base, query) = match self.raw.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.raw.as_str(), None),
        };
        match base
            .split_once("://")
            .and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?)))
        {
            Some((scheme, (userinfo, host))) => match userinfo.split_once(':') {
                Some((user, _password)) => write!(f, "{scheme}://{user}:***@{host}")?,
                None => f.write_str(base)?,
            },
            None => f.write_str(base)?,
        }
        if let Some(query) = query {
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_password_key(key) => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            write!(f, "?{}", redacted.join("&"))?;
        }
        Ok(())
    }
}

/// libpq reads `password` and `sslpassword` (the client key's passphrase), percent-decoded.
fn is_password_key(key: &str) -> bool {
    let decoded = percent_decode(key).to_ascii_lowercase();
    decoded == "password" || decoded == "sslpassword"
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_backend_from_the_scheme() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend,
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend,
            Backend::Postgres
        );
        let sqlite = DatabaseUrl::parse("sqlite://./data/gateway.db").unwrap();
        assert_eq!(
            (sqlite.backend, sqlite.connect_str()),
            (Backend::Sqlite, "./data/gateway.db")
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db")
                .unwrap()
                .connect_str(),
            "/tmp/x.db"
        );
    }

    #[test]
    fn refuses_unknown_schemes_and_memory_databases() {
        for bad in [
            "mysql://h/db",
            "./gateway.db",
            "",
            "sqlite://",
            "sqlite::memory:",
        ] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn hides_passwords() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/gw").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/gw");
        assert!(!format!("{url:?}").contains("s3cret"));
        let no_password = DatabaseUrl::parse("postgres://app@db/gw").unwrap();
        assert_eq!(no_password.to_string(), "postgres://app@db/gw");
        let in_query =
            DatabaseUrl::parse("postgres://app@db/gw?sslmode=require&password=s3cret").unwrap();
        assert_eq!(
            in_query.to_string(),
            "postgres://app@db/gw?sslmode=require&password=***"
        );
    }
}
