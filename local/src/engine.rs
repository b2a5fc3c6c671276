//! The embedded DynamoDB engine: dynoxide on a SQLite file in the data dir, served on a loopback port so the
//! production adapter reaches it through `aws-sdk-dynamodb`, exactly as it reaches DynamoDB.

use std::path::Path;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often expired items (TTL) are deleted, as DynamoDB's background sweeper would.
const TTL_SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Engine {
    pub endpoint: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    sweeper: JoinHandle<()>,
}

impl Engine {
    pub async fn start(sqlite_path: &Path, at: std::net::SocketAddr) -> Result<Self, String> {
        let path = sqlite_path.to_str().ok_or("the data dir path is not UTF-8")?;
        let db = dynoxide::Database::new(path).map_err(|e| format!("cannot open {path}: {e}"))?;
        let (listener, reached) = crate::options::listen(at).await.map_err(|e| format!("{at}: {e}"))?;
        let endpoint = format!("http://{reached}");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let sweeper_db = db.clone();
        let server = tokio::spawn(async move {
            if let Err(error) = dynoxide::server::serve_with_shutdown(listener, db, async {
                let _ = stopped.await;
            })
            .await
            {
                tracing::error!(%error, "the embedded DynamoDB engine stopped");
            }
        });
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(TTL_SWEEP_EVERY);
            loop {
                every.tick().await;
                let db = sweeper_db.clone();
                match tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
                    Ok(Ok(0)) | Err(_) => {}
                    Ok(Ok(deleted)) => tracing::debug!(deleted, "TTL sweep"),
                    Ok(Err(error)) => tracing::warn!(%error, "TTL sweep failed"),
                }
            }
        });
        Ok(Self { endpoint, shutdown: Some(shutdown), server, sweeper })
    }

    /// Stops serving and waits until the engine has let go of the SQLite file.
    pub async fn stop(mut self) {
        self.sweeper.abort();
        let _ = self.sweeper.await;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.server.await;
    }
}
