//! Scratch databases: the PostgreSQL server the tests share, a fresh database
//! per test, and the settings of a test app on one.

use std::{path::PathBuf, sync::OnceLock};

use dev_postgres::{DevPostgres, DevPostgresOptions};
use session_demo::{
    config::{Secret, Settings},
    random::random_hex,
};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::OnceCell;

/// The session secret every test app uses (so two apps share cookies).
pub const TEST_SECRET: &str =
    "test-secret-test-secret-test-secret-test-secret-test-secret-test-secret-0001";

/// The PostgreSQL server the tests use: `DATABASE_URL`'s server when it is set,
/// else the private one the workspace's tests share (`dev_postgres::test_server`).
pub enum TestServer {
    /// A server given by `DATABASE_URL`: its URL without the database name.
    External(String),
    /// The private server.
    Private(&'static DevPostgres),
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();

/// The test server, started on first use.
pub async fn test_server() -> &'static TestServer {
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                let base = match url.rfind('/') {
                    Some(slash) if slash > "postgres://".len() => url[..slash].to_string(),
                    _ => url,
                };
                return TestServer::External(base);
            }
            let server = dev_postgres::test_server()
                .await
                .expect("the private test PostgreSQL starts (or set DATABASE_URL)");
            TestServer::Private(server)
        })
        .await
}

/// The URL of database `name` on the test server.
pub async fn database_url(name: &str) -> String {
    match test_server().await {
        TestServer::External(base) => format!("{base}/{name}"),
        TestServer::Private(server) => server.url(name),
    }
}

/// Creates an empty database with a unique name and returns its URL.
/// The app creates and migrates it itself when given a name that does not exist,
/// so tests usually just need a fresh name: [`fresh_database_url`].
pub async fn fresh_database_url() -> String {
    let name = format!("test_{}", random_hex::<8>().expect("randomness"));
    drop_stale_databases().await;
    database_url(&name).await
}

/// Drops databases left by earlier runs (once per test process).
async fn drop_stale_databases() {
    static ONCE: OnceLock<()> = OnceLock::new();
    if ONCE.set(()).is_err() {
        return;
    }
    let Ok(mut conn) = PgConnection::connect(&database_url("postgres").await).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = pg_database.datname)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    for name in names {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
            .execute(&mut conn)
            .await;
    }
}

/// Settings for a test app on `database_url`: port 0, the test secret, quiet logs.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::from_lookup(|_| None).expect("default settings are valid");
    settings.database_url = Some(Secret::new(database_url));
    settings.session_secret = Some(Secret::new(TEST_SECRET));
    settings.bind_addr = "127.0.0.1:0".parse().expect("an address");
    settings.database_max_connections = 4;
    settings
}

/// Connects to the app's database directly (for looking at tables).
pub async fn connect(app: &super::TestApp) -> PgConnection {
    let url = app
        .settings
        .database_url
        .as_ref()
        .expect("tests always set a URL")
        .expose()
        .to_owned();
    PgConnection::connect(&url).await.expect("connects")
}

/// A scratch folder for a private PostgreSQL, removed on drop (declare it
/// before the server handle, so that the server is stopped first).
///
/// It lives under `target/`, not in the system temp folder: when the tests run
/// as root, the server runs as the `postgres` account, which must be able to
/// enter every parent folder.
pub struct Scratch {
    dir: PathBuf,
    /// Where the server's data really went, if not under `dir`.
    relocated: std::sync::Mutex<Option<PathBuf>>,
}

impl Scratch {
    /// A new scratch folder; `name` goes into the folder's name.
    pub fn new(name: &str) -> Self {
        let unique = random_hex::<4>().expect("randomness");
        Self {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join(format!("scratch-{name}-{}-{unique}", std::process::id())),
            relocated: Default::default(),
        }
    }

    fn options(&self, fsync: bool) -> DevPostgresOptions {
        DevPostgresOptions {
            data_dir: self.dir.join("data"),
            fsync,
            port: None,
        }
    }

    /// Starts a private server in this scratch folder (removed with it).
    pub async fn server(&self, fsync: bool) -> DevPostgres {
        let server = DevPostgres::start(self.options(fsync))
            .await
            .expect("a private PostgreSQL");
        *self.relocated.lock().expect("lock") = server.relocated_folder().map(PathBuf::from);
        server
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(folder) = self.relocated.lock().ok().and_then(|mut r| r.take()) {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

/// Locks `cart_lines` in a transaction of `db`: the pages of every session
/// with a cart wait until the returned transaction ends.
pub async fn lock_cart_lines(db: &mut PgConnection) -> sqlx::Transaction<'_, sqlx::Postgres> {
    let mut lock = db.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE cart_lines IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("locked");
    lock
}
