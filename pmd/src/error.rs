//! The error type of every port operation.

use std::io;

/// Everything that can go wrong while opening, configuring or closing a port.
///
/// Messages name the bad value, so they can be shown to an operator as they are.
#[derive(Debug, thiserror::Error)]
pub enum PmdError {
    /// The device string is not `driver` or `driver:key=value,...`.
    #[error("malformed device string '{devstr}': {reason}")]
    Syntax {
        /// The whole device string.
        devstr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No driver of that name is known (or it is not built in).
    #[error("unknown driver '{driver}' (known drivers: {known})")]
    UnknownDriver {
        /// The driver name from the device string.
        driver: String,
        /// Comma-separated list of the drivers of this build.
        known: String,
    },
    /// The driver exists but its cargo feature is not enabled in this build.
    #[error(
        "driver '{driver}' is not built in: enable the cargo feature '{feature}' of ferroplane-pmd"
    )]
    DriverNotBuilt {
        /// The driver name.
        driver: String,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// A key the driver does not understand.
    #[error("{driver}: unknown key '{key}' (known keys: {known})")]
    UnknownKey {
        /// The driver name.
        driver: String,
        /// The bad key.
        key: String,
        /// Comma-separated list of the keys the driver accepts.
        known: String,
    },
    /// A key given twice.
    #[error("{driver}: key '{key}' given more than once")]
    DuplicateKey {
        /// The driver name.
        driver: String,
        /// The repeated key.
        key: String,
    },
    /// A key that must be present is missing.
    #[error("{driver}: missing required key '{key}'")]
    MissingKey {
        /// The driver name.
        driver: String,
        /// The missing key.
        key: &'static str,
    },
    /// A value that cannot be parsed or is out of range.
    #[error("{driver}: bad value '{value}' for key '{key}': {reason}")]
    BadValue {
        /// The driver name.
        driver: String,
        /// The key.
        key: String,
        /// The bad value as written.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The [`PortConfig`](crate::PortConfig) is invalid for this driver.
    #[error("invalid port configuration for {driver}: {reason}")]
    Config {
        /// The driver name.
        driver: String,
        /// What is wrong.
        reason: String,
    },
    /// The driver cannot do what was asked.
    #[error("{driver}: {what} is not supported")]
    Unsupported {
        /// The driver name.
        driver: String,
        /// The unsupported operation.
        what: String,
    },
    /// A ring port name is already fully in use.
    #[error("ring port '{name}': {reason}")]
    RingPort {
        /// The ring port name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A pcap file is malformed.
    #[error("pcap file '{path}': {reason}")]
    Pcap {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A system call failed.
    #[error("{op} on '{target}' failed: {source}")]
    Io {
        /// The operation (for example `setsockopt(PACKET_RX_RING)`).
        op: &'static str,
        /// The interface, file or device concerned.
        target: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl PmdError {
    /// An [`PmdError::Io`] from an `io::Error`.
    pub(crate) fn io(op: &'static str, target: &str, source: io::Error) -> Self {
        PmdError::Io {
            op,
            target: target.to_string(),
            source,
        }
    }
}
