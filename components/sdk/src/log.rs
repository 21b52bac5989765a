//! Log lines through the host, which attributes them to the component and
//! tenant. Prefer these to `println!`: they carry a level.

use crate::bindings::o365::connector::log::{Level, emit};

/// Logs at debug level.
pub fn debug(message: &str) {
    emit(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    emit(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    emit(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    emit(Level::Error, message);
}
