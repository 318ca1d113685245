//! The org.hbd1 D-Bus API.
