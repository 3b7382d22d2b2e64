//! Ferroplane classify (under construction).
