//! Rebuild when a migration is added or changed: `sqlx::migrate!` embeds the
//! SQL files at compile time, and Cargo does not otherwise watch them. (The
//! session store's own migrations are watched by its crate's build script.)

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
