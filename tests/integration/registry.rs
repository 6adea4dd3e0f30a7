//! Registries: the client library against a real `docker-registry` (`client`), and `lade
//! publish` end to end to registries with and without auth, through faults, with bases pulled
//! and mounted from registries (`publish`).

mod client;
mod faults;
mod publish;
mod shared_client;
