//! sealgate
