//! Ferroplane pmd (under construction).
