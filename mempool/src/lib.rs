//! Ferroplane mempool (under construction).
