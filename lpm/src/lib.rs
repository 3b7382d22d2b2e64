//! Ferroplane lpm (under construction).
