//! routetable
