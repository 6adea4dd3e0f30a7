//! One way to registries for a whole command: a single [`RegistryClient`] (connections,
//! credential lookups, bearer tokens per scope) and the runtime that drives it, shared by base
//! resolution, every registry output and the fetcher of remote base layers, so a publish asks
//! a token server once per scope rather than once per part of lade that talks to a registry.

use super::{RegistryClient, RegistryError, RegistryOptions, runtime};
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// Made on first use, so a command that never reaches a registry never checks registry
/// settings (a bad `--registry-ca` only fails a publish that needs a registry). Clones share
/// the client and the runtime.
#[derive(Clone)]
pub struct RegistrySession {
    options: Arc<RegistryOptions>,
    progress: crate::progress::Reporter,
    connected: Arc<OnceLock<Arc<Connected>>>,
    /// The session whose client and runtime this one uses ([`RegistrySession::joined`]).
    shares: Option<Box<RegistrySession>>,
}

/// The client and its runtime.
pub struct Connected {
    client: RegistryClient,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Connected {
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Runs `f` to completion. lade's operations are synchronous; calling this from inside an
    /// async context is a bug (tokio panics and says so).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        super::block_on(&self.runtime, f)
    }

    /// Runs `f` on the runtime's threads while the caller goes on.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(f)
    }
}

impl std::fmt::Debug for RegistrySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySession")
            .field("connected", &self.connected.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Default for RegistrySession {
    fn default() -> Self {
        RegistrySession::new(RegistryOptions::default())
    }
}

impl RegistrySession {
    pub fn new(options: RegistryOptions) -> Self {
        Self::with_progress(options, Default::default())
    }

    /// A session whose blob downloads and uploads report to `progress`.
    pub fn with_progress(options: RegistryOptions, progress: crate::progress::Reporter) -> Self {
        RegistrySession {
            options: Arc::new(options),
            progress,
            connected: Arc::new(OnceLock::new()),
            shares: None,
        }
    }

    /// A session for another project of the same run: it uses this session's client —
    /// connections, tokens, credential lookups — and runtime (made on first use by either),
    /// with `options`' push registries added and its own transfers reported to `progress`.
    /// The caller makes sure `options` reach registries as this session's do.
    pub fn joined(
        &self,
        options: RegistryOptions,
        progress: crate::progress::Reporter,
    ) -> RegistrySession {
        RegistrySession {
            options: Arc::new(options),
            progress,
            connected: Arc::new(OnceLock::new()),
            shares: Some(Box::new(self.clone())),
        }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// The shared client, made now if this is the first call. Holders of the `Arc` (a sink,
    /// the layer fetcher) keep using the same client.
    pub fn connect(&self) -> Result<Arc<Connected>, RegistryError> {
        if let Some(c) = self.connected.get() {
            return Ok(c.clone());
        }
        let made = match &self.shares {
            Some(shared) => {
                let s = shared.connect()?;
                for r in &self.options.push_registries {
                    s.client.add_push_registry(r);
                }
                Arc::new(Connected {
                    client: s.client.reporting_to(self.progress.clone()),
                    runtime: s.runtime.clone(),
                })
            }
            None => Arc::new(Connected {
                client: RegistryClient::with_progress(
                    (*self.options).clone(),
                    self.progress.clone(),
                )?,
                runtime: Arc::new(runtime()?),
            }),
        };
        // Callers are synchronous and take turns; should two race, one client is kept.
        Ok(self.connected.get_or_init(|| made).clone())
    }

    /// Checks, before anything is built, that `reference`'s registry answers and that this
    /// client is authorized to push to its repository: the ping, the credential lookup for a
    /// push and (for token registries) a token for `pull,push` on the repository, spent on a
    /// `GET` of the tag to be pushed. It starts no upload, so it leaves nothing on the registry; a
    /// token server that grants less than it was asked is only found out by the push itself.
    /// The image the tag holds (a publish's previous one) tells the push which blobs the
    /// repository has without asking for each ([`RegistryClient::note_held`]).
    pub fn probe_push(&self, reference: &crate::oci::Reference) -> Result<(), RegistryError> {
        let connected = self.connect()?;
        let client = connected.client();
        let (registry, repository) = (&reference.registry, &reference.repository);
        client.add_push_registry(registry);
        let access = super::Access::push(repository, &[]);
        let tagged = connected.block_on(client.get_manifest_with(
            registry,
            repository,
            reference.tag_or_latest(),
            &access,
        ));
        match tagged {
            Ok(m) => client.note_held(registry, repository, &m),
            Err(RegistryError::Status { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_client() {
        let a = RegistrySession::new(RegistryOptions::default());
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.connect().unwrap(), &b.connect().unwrap()));
    }

    #[test]
    fn a_joined_session_shares_the_client_and_runtime() {
        let a = RegistrySession::new(RegistryOptions::default());
        let b = a.joined(
            RegistryOptions {
                push_registries: vec!["r.example:5000".into()],
                ..Default::default()
            },
            Default::default(),
        );
        let (ca, cb) = (b.connect().unwrap(), a.connect().unwrap());
        assert!(Arc::ptr_eq(&ca.runtime, &cb.runtime));
        assert!(ca.client.shares_state_with(&cb.client));
        assert!(cb.client.is_push_registry("r.example:5000"));
    }

    #[test]
    fn settings_are_checked_on_first_use_only() {
        let s = RegistrySession::new(RegistryOptions {
            cas: vec!["/nonexistent/ca.pem".into()],
            ..Default::default()
        });
        assert!(s.connect().is_err());
    }
}
