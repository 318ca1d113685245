//! Typed positions: a node's and a group's place in the configuration's
//! lists. Both were `usize`, and a group's index passed where a node's was
//! meant compiled and misbehaved; now it does not compile.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use crate::config::{Config, Group, NodeConf};

/// A node's position in the configuration's `[[node]]` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub(super) usize);

/// A group's position in the configuration's `[[group]]` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupIdx(pub(super) usize);

pub trait Idx: Copy {
    fn new(i: usize) -> Self;
    fn get(self) -> usize;
}

impl Idx for NodeIdx {
    fn new(i: usize) -> Self {
        NodeIdx(i)
    }
    fn get(self) -> usize {
        self.0
    }
}

impl Idx for GroupIdx {
    fn new(i: usize) -> Self {
        GroupIdx(i)
    }
    fn get(self) -> usize {
        self.0
    }
}

/// A vector indexed by one kind of position only.
#[derive(Clone, Debug)]
pub struct IdxVec<I, T> {
    v: Vec<T>,
    _i: PhantomData<I>,
}

impl<I: Idx, T> IdxVec<I, T> {
    pub(super) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.v.iter()
    }
    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.v.iter_mut()
    }
    /// Every position, not borrowing the vector (the loop may change it).
    pub(super) fn indices(&self) -> std::iter::Map<std::ops::Range<usize>, fn(usize) -> I> {
        (0..self.v.len()).map(I::new as fn(usize) -> I)
    }
    /// Each element with its position.
    pub(super) fn enumerated(&self) -> impl Iterator<Item = (I, &T)> {
        self.v.iter().enumerate().map(|(i, t)| (I::new(i), t))
    }
    pub(super) fn enumerated_mut(&mut self) -> impl Iterator<Item = (I, &mut T)> {
        self.v.iter_mut().enumerate().map(|(i, t)| (I::new(i), t))
    }
    pub(super) fn len(&self) -> usize {
        self.v.len()
    }
    pub(super) fn get(&self, i: I) -> Option<&T> {
        self.v.get(i.get())
    }
    pub(super) fn get_mut(&mut self, i: I) -> Option<&mut T> {
        self.v.get_mut(i.get())
    }
    pub(super) fn position(&self, f: impl FnMut(&T) -> bool) -> Option<I> {
        self.v.iter().position(f).map(I::new)
    }
}

impl<I, T> Default for IdxVec<I, T> {
    fn default() -> Self {
        IdxVec { v: Vec::new(), _i: PhantomData }
    }
}

impl<I, T> FromIterator<T> for IdxVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(it: It) -> Self {
        IdxVec { v: it.into_iter().collect(), _i: PhantomData }
    }
}

impl<'a, I, T> IntoIterator for &'a IdxVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.v.iter()
    }
}

impl<'a, I, T> IntoIterator for &'a mut IdxVec<I, T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.v.iter_mut()
    }
}

impl<I: Idx, T> Index<I> for IdxVec<I, T> {
    type Output = T;
    fn index(&self, i: I) -> &T {
        &self.v[i.get()]
    }
}

impl<I: Idx, T> IndexMut<I> for IdxVec<I, T> {
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.v[i.get()]
    }
}

/// The configuration, looked up by typed position.
pub trait ConfigAt {
    fn node_at(&self, n: NodeIdx) -> &NodeConf;
    fn group_at(&self, g: GroupIdx) -> &Group;
    fn node_idx(&self, name: &str) -> Option<NodeIdx>;
    fn group_idx(&self, name: &str) -> Option<GroupIdx>;
    fn node_indices(&self) -> std::iter::Map<std::ops::Range<usize>, fn(usize) -> NodeIdx>;
}

impl ConfigAt for Config {
    fn node_at(&self, n: NodeIdx) -> &NodeConf {
        &self.nodes[n.0]
    }
    fn group_at(&self, g: GroupIdx) -> &Group {
        &self.groups[g.0]
    }
    fn node_idx(&self, name: &str) -> Option<NodeIdx> {
        self.node_index(name).map(NodeIdx)
    }
    fn group_idx(&self, name: &str) -> Option<GroupIdx> {
        self.group_index(name).map(GroupIdx)
    }
    fn node_indices(&self) -> std::iter::Map<std::ops::Range<usize>, fn(usize) -> NodeIdx> {
        (0..self.nodes.len()).map(NodeIdx as fn(usize) -> NodeIdx)
    }
}
