//! One node's decisions.
pub struct Node;
