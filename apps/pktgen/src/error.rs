//! pktgen's error type.

use thiserror::Error;

/// Everything that can go wrong setting up or running a generator.
#[derive(Debug, Error)]
pub enum PktgenError {
    /// A bad option or configuration value (the message names it).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A port could not be opened or used.
    #[error("port {dev:?}: {source}")]
    Port {
        /// The device string.
        dev: String,
        /// The driver's error.
        source: ferroplane_pmd::PmdError,
    },
    /// The mempool could not be created.
    #[error("mempool: {0}")]
    Mempool(#[from] ferroplane_mempool::MempoolError),
    /// A frame could not be built.
    #[error("frame: {0}")]
    Build(#[from] ferroplane_net::BuildError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Mbufs did not all return to the pool when the session closed (a leak).
    #[error("{0} mbufs were still in use when the session closed")]
    Leak(usize),
    /// The XDP live-frames transmitter failed.
    #[error("xdp live-frames: {0}")]
    Xdp(String),
    /// Drawing a plot failed.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The output file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl PktgenError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        PktgenError::Io {
            path: path.to_string(),
            source,
        }
    }
}
