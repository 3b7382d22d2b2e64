//! Ferroplane engine (under construction).
