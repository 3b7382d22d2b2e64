//! Ferroplane net (under construction).
