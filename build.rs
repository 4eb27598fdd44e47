// `embed_migrations!` reads migrations/ at compile time; without this a new migration
// folder would not be picked up until some Rust file changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
