//! Ferroplane ring (under construction).
